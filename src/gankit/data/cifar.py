"""CIFAR-10 from the standard python-pickle batches (a local directory, the cache, or the official archive)."""
from __future__ import annotations

import pickle
import tarfile
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..errors import GankitError
from .info import SOURCES, DatasetInfo, image_shape
from .base import finish, say
from .fetch import cache_root, download, file_digest, find_file, missing, search_dirs

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"  # the archive's published checksum
FOLDER = "cifar-10-batches-py"
SPLITS = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


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
    say(verbose, f"extracting {archive}")
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
        try:
            with open(path, "rb") as f:
                batch = pickle.load(f, encoding="bytes")
            data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            labels = np.asarray(batch[b"labels"], dtype=np.int64)
        except Exception as e:
            raise GankitError(f"{path} is not a CIFAR-10 python batch ({type(e).__name__}); replace the file")
        xs.append(data)
        ys.append(labels)
    images, labels = torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))
    say(verbose, f"cifar10 {split}: {len(images)} images from {d}")
    return images, labels


@SOURCES.register("cifar10", info=DatasetInfo(
    kind="image", shape=image_shape, native=(3, 32, 32), picture="grid", features="inception", metrics=("fid",)))
def cifar10(cfg, verbose: bool = True):
    images, labels = load_cifar(cfg.split, cfg.root, verbose)
    return finish(images, labels, cfg, "cifar10", list(range(10)))
