"""An image folder: PNG/JPEG/WebP/BMP/TIFF/GIF of any size and mode, decoded once and cached as a uint8 tensor."""
from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import torch
from PIL import Image, ImageOps

from ..errors import GankitError
from .info import SOURCES, DatasetInfo, image_shape
from .base import ImageData, say
from .fetch import cache_root

EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}  # GIF: the first frame


def list_images(folder: Path) -> List[Path]:
    """Image files under folder (recursively, sorted), by extension."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def folder_channels(files: List[Path]) -> int:
    """The channels a folder has when data.channels is unset: 1 if every readable image is grayscale (read from
    the file headers; a palette of greys counts), else 3."""
    for p in files:
        try:
            with Image.open(p) as img:
                pal = img.getpalette() if img.mode == "P" else None
                gray = img.mode in GRAY_MODES or (pal is not None and pal[0::3] == pal[1::3] == pal[2::3])
        except Exception:
            continue  # unreadable files are reported when the folder is decoded
        if not gray:
            return 3
    return 1


def to_8bit(arr: np.ndarray) -> np.ndarray:
    """16-bit greys (PIL modes I;16*, and I, which is how 16-bit PNGs open) -> uint8: 0..65535 onto 0..255.

    PIL's own convert("L") clips these at 255 instead of scaling, so a 16-bit image would come out white.
    """
    return np.clip(np.rint(arr.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)


def to_square(img: Image.Image, resolution: int, channels: int) -> np.ndarray:
    """Any PIL image -> (C, R, R) uint8: transparency over white, shorter side resized to R, centre crop."""
    img = ImageOps.exif_transpose(img)
    if img.mode == "I" or img.mode.startswith("I;16"):
        img = Image.fromarray(to_8bit(np.asarray(img)))
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    img = img.convert("RGB" if channels == 3 else "L")
    w, h = img.size
    scale = resolution / min(w, h)
    nw, nh = max(resolution, round(w * scale)), max(resolution, round(h * scale))
    img = img.resize((nw, nh), Image.BICUBIC, reducing_gap=3.0)
    left, top = (nw - resolution) // 2, (nh - resolution) // 2
    img = img.crop((left, top, left + resolution, top + resolution))
    arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _cache_key(folder: Path, files: List[Path], resolution: int, channels: int) -> str:
    # v2: 16-bit greys are scaled to 8 bits (v1 clipped them to white); v3: each image's shorter side is kept
    # (for the upscaling line); older caches are decoded again
    h = hashlib.sha256(f"{folder.resolve()}|{resolution}|{channels}|v3".encode())
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(folder)}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


def decode_folder(folder: Path, files: List[Path], resolution: int, channels: int,
                  verbose: bool) -> Tuple[torch.Tensor, List[str], List[int]]:
    """(images (N, C, R, R) uint8, unreadable files, each image's shorter side in pixels before resizing)."""
    arrays, bad, short = [], [], []
    for i, p in enumerate(files):
        try:
            with Image.open(p) as img:
                img.load()
                arrays.append(to_square(img, resolution, channels))
                short.append(min(img.size))
        except Exception:
            bad.append(str(p.relative_to(folder)))
        if verbose and (i + 1) % 500 == 0:
            say(verbose, f"  decoded {i + 1}/{len(files)}")
    stack = np.stack(arrays) if arrays else np.zeros((0, channels, resolution, resolution), np.uint8)
    return torch.from_numpy(stack), bad, short


def upscale_note(short: List[int], resolution: int) -> Optional[str]:
    """A line when most images are smaller than the training size (they are upscaled: samples can be no sharper).

    >>> upscale_note([28] * 10, 64)[:45]
    'all 10 images are smaller than 64x64 (shorter'
    """
    small = sum(1 for s in short if s < resolution)
    if not short or small * 2 <= len(short):
        return None
    median = sorted(short)[len(short) // 2]
    fits = 2 ** max(3, round(math.log2(max(median, 1))))   # the power of two nearest their size
    if fits >= resolution:  # already the size nearest theirs (28 px at 32): nothing better to suggest
        return None
    many = f"all {len(short)}" if small == len(short) else f"{small} of the {len(short)}"
    return (f"{many} images are smaller than {resolution}x{resolution} (shorter side: median {median} px), so "
            f"they are upscaled and samples can be no sharper than that; data.resolution={fits} is nearer "
            "their own size, and faster")


def _read_cache(cache: Path, shape: Tuple[int, int, int]) -> Optional[Tuple[torch.Tensor, List[str], List[int]]]:
    """(images, unreadable files, shorter sides) from a cache file, or None (the file deleted, with a line) when
    it is damaged."""
    try:
        saved = torch.load(cache, map_location="cpu", weights_only=True)
        images, bad, short = saved["images"], saved["bad"], saved["short"]
        if not (isinstance(images, torch.Tensor) and images.dtype == torch.uint8 and images.dim() == 4
                and tuple(images.shape[1:]) == shape and isinstance(bad, list)
                and all(isinstance(b, str) for b in bad) and isinstance(short, list)
                and all(isinstance(v, int) for v in short)):
            raise ValueError("unexpected contents")
        return images, list(bad), list(short)
    except Exception as e:
        say(True, f"the folder cache {cache} is damaged ({type(e).__name__}); decoding the images again")
        cache.unlink(missing_ok=True)
        return None


def _write_cache(cache: Path, images: torch.Tensor, bad: List[str], short: List[int]) -> None:
    """Cache the decoded folder atomically; a full disk or a read-only cache only costs the next run's time."""
    tmp = cache.with_suffix(f".tmp{os.getpid()}")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"images": images, "bad": bad, "short": short}, tmp)
        os.replace(tmp, cache)
    except (OSError, RuntimeError) as e:
        tmp.unlink(missing_ok=True)
        say(True, f"could not write the folder cache {cache} ({type(e).__name__}); going on without it")


@SOURCES.register("folder", info=DatasetInfo(
    kind="image", shape=image_shape, picture="grid", features="inception", folder=True,
    metrics=("kid", "fid", "memorisation"), eval_n=1000))   # Inception on 1 000 a side: minutes on a CPU
def image_folder(cfg, verbose: bool = True) -> ImageData:
    if not cfg.path:
        raise GankitError("the folder dataset needs a path: --set data.path=DIR")
    folder = Path(cfg.path).expanduser()
    if folder.is_file():
        raise GankitError(f"data.path {cfg.path!r} is a file, not a folder; pass the folder of images "
                          f"(--set data.path={folder.parent})")
    if not folder.is_dir():
        raise GankitError(f"image folder {cfg.path!r} does not exist; pass an existing folder with --set data.path=DIR")
    files = list_images(folder)
    if not files:
        raise GankitError(f"image folder {cfg.path!r} holds no images ({', '.join(sorted(EXTENSIONS))}); "
                          "add images or pass another folder")
    channels = cfg.channels or folder_channels(files)  # unset: grayscale folders stay grayscale
    cache = cache_root() / "folders" / f"{_cache_key(folder, files, cfg.resolution, channels)}.pt"
    saved = _read_cache(cache, (channels, cfg.resolution, cfg.resolution)) if cache.is_file() else None
    if saved is not None:
        images, bad, short = saved
        say(verbose, f"{folder}: {len(images)} images from the cache {cache}")
    else:
        say(verbose, f"decoding {len(files)} images from {folder} at {cfg.resolution}x{cfg.resolution}")
        images, bad, short = decode_folder(folder, files, cfg.resolution, channels, verbose)
        _write_cache(cache, images, bad, short)
    note = upscale_note(short, cfg.resolution)
    if note:
        say(verbose, note)
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        say(True, f"skipped {len(bad)} unreadable file(s) in {folder}: {shown}")
    if len(images) < max(1, cfg.min_images):
        raise GankitError(f"image folder {cfg.path!r} has {len(images)} usable image(s) "
                          f"({len(bad)} unreadable); at least {cfg.min_images} are needed — add images "
                          "or lower data.min_images")
    return ImageData(images, None, folder.name)
