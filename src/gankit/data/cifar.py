"""CIFAR-10 from the standard python-pickle batches (a local directory, the cache, or the official archive)."""
from __future__ import annotations

import pickle
import tarfile
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..errors import GankitError
from ..reporter import Reporter
from .base import finish
from .fetch import cache_root, download, file_digest, find_file, missing, search_dirs
from .info import SOURCES, DatasetInfo, image_shape

_report = Reporter(__name__)

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"  # the archive's published checksum
FOLDER = "cifar-10-batches-py"
SPLITS = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
# MD5 of each file in the official cifar-10-batches-py, as the reference loader lists them (torchvision,
# torchvision/datasets/cifar.py: CIFAR10.train_list / test_list). A mismatch is a warning: a CIFAR-format
# subset of one's own is legitimate, and the restricted unpickler below is what keeps a batch from running code.
BATCH_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}


def _latin1(text: str, encoding: str = "latin1") -> bytes:
    """What a Python 3 pickle of bytes calls (_codecs.encode(text, 'latin1')); no other codec."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"encoding {encoding!r} is not allowed in a CIFAR batch")
    return text.encode("latin1")


def _numpy_globals() -> dict:
    """The callables a pickled numpy array needs, under the module names numpy 1.x and 2.x write."""
    reconstruct = np.zeros(1).__reduce__()[0]        # numpy.(_)core.multiarray._reconstruct
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]     # numpy.(_)core.numeric._frombuffer (protocol 5)
    scalar = np.int64(0).__reduce__()[0]             # numpy.(_)core.multiarray.scalar (numpy integer labels)
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype, ("_codecs", "encode"): _latin1}
    for core in ("numpy.core", "numpy._core"):
        allowed.update({(f"{core}.multiarray", "_reconstruct"): reconstruct,
                        (f"{core}.numeric", "_frombuffer"): frombuffer,
                        (f"{core}.multiarray", "scalar"): scalar})
    return allowed


class BatchUnpickler(pickle.Unpickler):
    """Admits only what a CIFAR batch holds: dicts, lists, bytes, strings, numbers and numpy arrays.

    Any other global (os.system, builtins.eval, a class with __reduce__ ...) is refused before it is called.
    """
    ALLOWED = _numpy_globals()

    def find_class(self, module: str, name: str):
        found = self.ALLOWED.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR batch")
        return found


def read_batch(path: Path):
    """(data uint8 (N, 3, 32, 32), labels int64 (N,)) from one python batch, loaded without running code."""
    try:
        with open(path, "rb") as f:
            batch = BatchUnpickler(f, encoding="bytes").load()
    except pickle.UnpicklingError as e:
        raise GankitError(f"{path} is not a CIFAR-10 python batch ({e}); it was not loaded — replace the file")
    except Exception as e:
        raise GankitError(f"{path} is not a CIFAR-10 python batch ({type(e).__name__}); replace the file")
    if not isinstance(batch, dict):
        raise GankitError(f"{path} is not a CIFAR-10 python batch (it holds a {type(batch).__name__}); "
                          "replace the file")
    try:
        data = batch.get(b"data", batch.get("data"))
        labels = batch.get(b"labels", batch.get("labels"))
        if data is None or labels is None:
            raise ValueError("no 'data' and 'labels' entries")
        data = np.asarray(data)
        if data.dtype == object:
            raise ValueError("data holds objects, not pixels")
        data = data.astype(np.uint8, casting="unsafe").reshape(-1, 3, 32, 32)
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if len(labels) != len(data):
            raise ValueError(f"{len(data)} images but {len(labels)} labels")
    except (ValueError, TypeError) as e:
        raise GankitError(f"{path} is not a CIFAR-10 python batch ({e}); replace the file")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise GankitError(f"{path}: CIFAR-10 labels must be 0-9, found {labels.min()}..{labels.max()}; "
                          "replace the file")
    return data, labels


def _batch_dir(root: Optional[str], verbose: bool) -> Path:
    dirs = search_dirs(root, "cifar10")
    for d in dirs:
        for cand in (d, d / FOLDER):
            if (cand / "test_batch").is_file() or (cand / "data_batch_1").is_file():
                return cand
    archive = find_file(dirs, ["cifar-10-python.tar.gz"])
    if archive is None:
        archive = cache_root() / "cifar10" / "cifar-10-python.tar.gz"
        if not download(URL, archive, verbose, timeout=30):
            raise missing("CIFAR-10 batches", [str(d) for d in dirs] + [URL],
                          "put the python batches (cifar-10-batches-py/) in a folder and pass --set data.root=DIR")
    if file_digest(archive, "md5") != MD5:
        raise GankitError(f"{archive} does not match CIFAR-10's checksum; delete it and run again")
    _report.say(f"extracting {archive}", verbose)
    with tarfile.open(archive) as tar:
        tar.extractall(archive.parent, filter="data")
    return archive.parent / FOLDER


def load_cifar(split: str, root: Optional[str], verbose: bool = True):
    """(images uint8 (N, 3, 32, 32), labels int64 (N,))."""
    if split not in SPLITS:
        raise GankitError(f"data.split must be 'train' or 'test', got {split!r}")
    d = _batch_dir(root, verbose)
    xs, ys = [], []
    for name in SPLITS[split]:
        path = d / name
        if not path.is_file():
            raise GankitError(f"CIFAR-10 batch {path} is missing; the folder needs {', '.join(SPLITS[split])}")
        data, labels = read_batch(path)
        xs.append(data)
        ys.append(labels)
    unofficial = [name for name in SPLITS[split] if file_digest(d / name, "md5") != BATCH_MD5[name]]
    if unofficial:
        _report.warn(f"{d}: {', '.join(unofficial)} differ from the official CIFAR-10 files (their MD5 does not "
                  "match); using them as a CIFAR-format dataset of your own")
    images, labels = torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))
    _report.say(f"cifar10 {split}: {len(images)} images from {d}", verbose)
    return images, labels


@SOURCES.register("cifar10", info=DatasetInfo(
    kind="image", shape=image_shape, native=(3, 32, 32), picture="grid", features="inception", metrics=("fid",),
    classes=tuple(CLASSES)))
def cifar10(cfg, verbose: bool = True):
    images, labels = load_cifar(cfg.split, cfg.root, verbose)
    return finish(images, labels, cfg, "cifar10", list(range(10)), CLASSES)
