"""User-facing errors: the CLI prints their message on one line and exits with status 2."""
from __future__ import annotations

from pathlib import Path
from typing import Optional


class GankitError(Exception):
    """A mistake in the user's input (config, data, paths) with a message that says what to do."""


class Interrupted(Exception):
    """Training stopped on Ctrl-C/SIGTERM at a step boundary, after saving a checkpoint (CLI exit status 130)."""


class Diverged(GankitError):
    """Training produced non-finite weights or losses; nothing non-finite was written over a good checkpoint."""


def file_in_the_way(path: Path) -> Optional[Path]:
    """The first folder above ``path`` that exists as a file (so ``path`` cannot be made), else None."""
    return next((p for p in Path(path).parents if p.exists() and not p.is_dir()), None)
