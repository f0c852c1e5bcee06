"""Class labels of an image folder: its first-level subfolders (``data.labels=folders``).

``DIR/cat/a.png`` and ``DIR/cat/more/b.png`` are class ``cat``; ``DIR/dog/c.jpg`` class ``dog``. Classes are
the subfolder names in sorted order, label i naming ``names[i]``. Images directly in DIR have no class and are
left out (with a line); a folder without image subfolders is a one-line error.

Example:
    >>> files, names, labels = folder_classes(Path("pets"), list_images(Path("pets")))
    >>> names
    ['cat', 'dog']
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import torch

from ..errors import GankitError
from ..reporter import Reporter

_report = Reporter(__name__)

MIN_CLASSES = 2


def folder_classes(folder: Path, files: Sequence[Path], verbose: bool = True
                   ) -> Tuple[List[Path], List[str], List[int]]:
    """(the files that sit in a class subfolder, the class names, each kept file's class index)."""
    kept = [p for p in files if len(p.relative_to(folder).parts) > 1]
    names = sorted({p.relative_to(folder).parts[0] for p in kept})
    if not names:
        raise GankitError(f"data.labels=folders: {folder} has no subfolders with images, so it has no classes; put "
                          "each class's images in a subfolder of its own (DIR/cat/*.png, DIR/dog/*.png) or remove "
                          "data.labels")
    if len(names) < MIN_CLASSES:
        raise GankitError(f"data.labels=folders: {folder} has one class subfolder ({names[0]}); a conditional model "
                          f"needs {MIN_CLASSES} or more (DIR/cat/*.png, DIR/dog/*.png)")
    loose = len(files) - len(kept)
    if loose:
        _report.say(f"{loose} image(s) directly in {folder} belong to no class subfolder and are left out", verbose)
    index = {n: i for i, n in enumerate(names)}
    return kept, names, [index[p.relative_to(folder).parts[0]] for p in kept]


def decoded_labels(folder: Path, files: Sequence[Path], labels: Sequence[int], bad: Sequence[str],
                   names: Sequence[str]) -> torch.Tensor:
    """The labels of the files that decoded (unreadable ones, listed in ``bad``, have no image), as (N,) int64;
    a class left with no readable image is an error."""
    skip = set(bad)
    out = [y for p, y in zip(files, labels) if str(p.relative_to(folder)) not in skip]
    empty = sorted(set(range(len(names))) - set(out))
    if empty:
        raise GankitError(f"data.labels=folders: the class subfolder {names[empty[0]]!r} of {folder} has no readable "
                          "image; add images to it or remove it")
    return torch.tensor(out, dtype=torch.int64)


def class_index(names: Sequence[str], asked: str) -> Optional[int]:
    """The index of a class given by its name or, failing that, its number (``7`` or ``horse`` on CIFAR-10);
    None when it is neither.

    >>> class_index(["cat", "dog"], "dog"), class_index(["cat", "dog"], "0"), class_index(["cat"], "cow")
    (1, 0, None)
    """
    if asked in names:
        return list(names).index(asked)
    text = asked.strip()
    if text.isdigit() and int(text) < len(names):
        return int(text)
    return None
