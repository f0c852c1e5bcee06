"""An image folder: PNG/JPEG/WebP/BMP/TIFF/GIF of any size and mode, decoded once and cached as a uint8 tensor."""
from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import numpy as np
import torch
from PIL import Image, ImageOps

from ..errors import GankitError
from ..reporter import Reporter
from .base import ImageData
from .fetch import cache_root
from .info import SOURCES, DatasetInfo, image_shape
from .labels import decoded_labels, folder_classes

_report = Reporter(__name__)

EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}  # GIF: the first frame


def _walk(folder: Path) -> Iterator[Path]:
    """Every file under folder, recursively, leaving out names that start with a dot (and whatever hidden folders
    such as .git hold, which are not even entered) and not following symbolic links to folders."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith("."):
                path = Path(root, name)
                if path.is_file():
                    yield path


def list_images(folder: Path) -> List[Path]:
    """Image files under folder (recursively, sorted), by extension."""
    return sorted(p for p in _walk(folder) if p.suffix.lower() in EXTENSIONS)


def other_files(folder: Path) -> str:
    """What a folder without images holds instead, for the error (", only .heic (12), .svg (3) files")."""
    counts: dict = {}
    for p in _walk(folder):
        key = p.suffix.lower() or "extensionless"
        counts[key] = counts.get(key, 0) + 1
    if not counts:
        return ", nor any other file"
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{printable(k)} ({n})" for k, n in top[:5]) + (", ..." if len(top) > 5 else "")
    return f", only {shown} files (convert them to PNG or JPEG)"


def printable(name: str) -> str:
    """A file name as it can be printed: bytes that are not UTF-8 as \\xNN."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
SLIVER = 16  # longer than 16:1, an image is resized by its centre square only (the same square, far less work)
GREY_SAMPLE = 100   # colour-mode files looked into (evenly spaced) to tell a folder of grey photos stored as RGB
SMALL_FOLDER = 100  # fewer images than this: a line that a GAN can copy them (100 LFW faces were not copied)


def _header_gray(p: Path) -> Optional[bool]:
    """Whether a file's header says grayscale (a palette of greys counts); None when it cannot be read."""
    try:
        with Image.open(p) as img:
            pal = img.getpalette() if img.mode == "P" else None
            return img.mode in GRAY_MODES or (pal is not None and pal[0::3] == pal[1::3] == pal[2::3])
    except Exception:
        return None  # unreadable files are reported when the folder is decoded


def looks_gray(img: Image.Image) -> bool:
    """Whether a colour-mode image holds only greys: all but 1% of its pixels (at 64 px or less) have R, G and B
    within 12 levels of each other, which JPEG's rounding of a grey photo stays inside and a tint does not."""
    img.draft("RGB", (64, 64))          # JPEG: decode at a fraction of the size
    small = img.convert("RGB")
    small.thumbnail((64, 64))
    a = np.asarray(small, dtype=np.int16)
    return float(((a.max(-1) - a.min(-1)) > 12).mean()) < 0.01


def folder_channels(files: List[Path]) -> int:
    """The channels a folder has when data.channels is unset: 1 if every readable image is grayscale, else 3.

    Grayscale is read from the file headers; files stored in a colour mode are looked into (up to GREY_SAMPLE of
    them, evenly spaced), since grey photos are often saved as RGB JPEGs and would otherwise train as colour.
    """
    colour = [p for p in files if _header_gray(p) is False]
    if not colour:
        return 1
    step = max(1, len(colour) // GREY_SAMPLE)
    for p in colour[::step][:GREY_SAMPLE]:
        try:
            with Image.open(p) as img:
                if not looks_gray(img):
                    return 3
        except Exception:
            continue
    return 1


def stored_as_colour(files: List[Path]) -> bool:
    """Whether any file's header says colour (for the line that says a folder of grey RGB files trains as grey)."""
    return any(_header_gray(p) is False for p in files)


def to_8bit(arr: np.ndarray, mode: str = "I;16") -> np.ndarray:
    """Greys deeper than 8 bits -> uint8, each by the range its mode holds.

    I;16*: 0..65535 onto 0..255. I (32-bit integers, also how older PIL opens 16-bit PNGs) and F (floats): by the
    largest value, the smallest range of 0..1 (floats only), 0..255, 0..65535 or 0..max that holds it (values
    below 0: min..max onto 0..255; NaN and infinities count as 0). PIL's own
    convert("L") clips these instead of scaling, so a 16-bit image would come out white and a 0..1 float black.

    >>> to_8bit(np.array([0.0, 0.5, 1.0], np.float32), "F").tolist()
    [0, 128, 255]
    """
    a = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if a.size and a.min() < 0:
        lo, hi = float(a.min()), float(a.max())
        return np.rint((a - lo) * (255.0 / max(hi - lo, 1e-12))).astype(np.uint8)
    if mode.startswith("I;16"):
        top = 65535.0
    else:
        hi = float(a.max()) if a.size else 0.0
        top = next((t for t in ((1.0,) if mode == "F" else ()) + (255.0, 65535.0) if hi <= t), hi)
    return np.clip(np.rint(a * (255.0 / top)), 0, 255).astype(np.uint8)


def to_square(img: Image.Image, resolution: int, channels: int) -> np.ndarray:
    """Any PIL image -> (C, R, R) uint8: transparency over white, the centre square resized to R."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        img = Image.fromarray(to_8bit(np.asarray(img), img.mode))
    if img.mode in ALPHA_MODES or "transparency" in img.info:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    img = img.convert("RGB" if channels == 3 else "L")
    w, h = img.size
    scale = resolution / min(w, h)
    nw, nh = max(resolution, round(w * scale)), max(resolution, round(h * scale))
    if nw * nh <= SLIVER * resolution * resolution:  # the shorter side resized to R, then the centre crop
        img = img.resize((nw, nh), Image.Resampling.BICUBIC, reducing_gap=3.0)
        left, top = (nw - resolution) // 2, (nh - resolution) // 2
        img = img.crop((left, top, left + resolution, top + resolution))
    else:  # a sliver (1x20000 would be a 64x1.3M resize): only its centre square, resized straight to R
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        img = img.resize((resolution, resolution), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side),
                         reducing_gap=3.0)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _cache_key(folder: Path, files: List[Path], resolution: int, channels: int) -> str:
    # v2: 16-bit greys are scaled to 8 bits (v1 clipped them to white); v3: each image's shorter side is kept
    # (for the upscaling line); v4: slivers resized by their centre square, large JPEGs decoded at a reduced
    # scale, 32-bit and float greys scaled by their range; v5: both sides kept (for the crop line); older caches
    # are decoded again
    h = hashlib.sha256(os.fsencode(folder.resolve()) + f"|{resolution}|{channels}|v5".encode())
    for p in files:
        st = p.stat()
        h.update(os.fsencode(p.relative_to(folder)) + f"|{st.st_size}|{st.st_mtime_ns}".encode())  # any name bytes
    return h.hexdigest()[:20]


def draft(img: Image.Image, resolution: int) -> None:
    """Have a large JPEG decoded at 1/2, 1/4 or 1/8 of its size (JPEG's own DCT scaling), keeping its shorter
    side at least 2x the training size for the bicubic resize: a 12-megapixel photo decodes ~10x faster."""
    side = min(img.size)
    if img.format == "JPEG" and side > 2 * resolution:
        k = 2 * resolution / side
        img.draft(img.mode, (math.ceil(img.size[0] * k), math.ceil(img.size[1] * k)))


def decode_folder(folder: Path, files: List[Path], resolution: int, channels: int,
                  verbose: bool) -> Tuple[torch.Tensor, List[str], List[List[int]]]:
    """(images (N, C, R, R) uint8, unreadable files, each image's [shorter, longer] side in pixels as stored)."""
    arrays, bad, sides = [], [], []
    for i, p in enumerate(files):
        try:
            with Image.open(p) as img:
                sides.append(sorted(img.size))
                draft(img, resolution)
                img.load()
                arrays.append(to_square(img, resolution, channels))
        except Exception:
            del sides[len(arrays):]
            bad.append(str(p.relative_to(folder)))
        if verbose and (i + 1) % 500 == 0:
            _report.say(f"  decoded {i + 1}/{len(files)}", verbose)
    stack = np.stack(arrays) if arrays else np.zeros((0, channels, resolution, resolution), np.uint8)
    return torch.from_numpy(stack), bad, sides


def crop_note(sides: List[List[int]]) -> Optional[str]:
    """A line when a tenth or more of the images are longer than 2:1: their centre square keeps under half.

    >>> crop_note([[600, 1920]] * 3 + [[500, 500]])[:42]
    '3 of the 4 images are longer than 2:1 (med'
    """
    ratios = sorted(long / max(short, 1) for short, long in sides if long > 2 * short)
    if not sides or len(ratios) * 10 < len(sides):
        return None
    many = f"all {len(sides)}" if len(ratios) == len(sides) else f"{len(ratios)} of the {len(sides)}"
    return (f"{many} images are longer than 2:1 (median {ratios[len(ratios) // 2]:.1f}:1): only the centre "
            "square of each is trained on and the rest is cut off; crop them to what matters first to keep it")


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


def _read_cache(cache: Path, shape: Tuple[int, int, int]) -> Optional[Tuple[torch.Tensor, List[str], List[List[int]]]]:
    """(images, unreadable files, [shorter, longer] sides) from a cache file, or None (the file deleted, with a
    line) when it is damaged."""
    try:
        saved = torch.load(cache, map_location="cpu", weights_only=True)
        images, bad, sides = saved["images"], saved["bad"], saved["sides"]
        if not (isinstance(images, torch.Tensor) and images.dtype == torch.uint8 and images.dim() == 4
                and tuple(images.shape[1:]) == shape and isinstance(bad, list)
                and all(isinstance(b, str) for b in bad) and isinstance(sides, list) and len(sides) == len(images)
                and all(isinstance(v, list) and len(v) == 2 and all(isinstance(n, int) for n in v) for v in sides)):
            raise ValueError("unexpected contents")
        return images, list(bad), [list(v) for v in sides]
    except Exception as e:
        _report.warn(f"the folder cache {cache} is damaged ({type(e).__name__}); decoding the images again")
        cache.unlink(missing_ok=True)
        return None


def _write_cache(cache: Path, images: torch.Tensor, bad: List[str], sides: List[List[int]]) -> None:
    """Cache the decoded folder atomically; a full disk or a read-only cache only costs the next run's time."""
    tmp = cache.with_suffix(f".tmp{os.getpid()}")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"images": images, "bad": bad, "sides": sides}, tmp)
        os.replace(tmp, cache)
    except (OSError, RuntimeError) as e:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # the cache folder itself cannot be reached
            pass
        _report.warn(f"could not write the folder cache {cache} ({type(e).__name__}); going on without it")


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
        raise GankitError(f"image folder {cfg.path!r} holds no images ({', '.join(sorted(EXTENSIONS))})"
                          f"{other_files(folder)}; add images or pass another folder")
    if cfg.labels == "folders":  # classes: the first-level subfolders (data/labels.py)
        files, class_names, file_labels = folder_classes(folder, files, verbose)
    channels = cfg.channels or folder_channels(files)  # unset: grayscale folders stay grayscale
    if not cfg.channels and channels == 1 and stored_as_colour(files):
        _report.say("every image is grey though stored in colour: training in grayscale (data.channels=3 "
                     "keeps RGB)", verbose)
    cache = cache_root() / "folders" / f"{_cache_key(folder, files, cfg.resolution, channels)}.pt"
    saved = _read_cache(cache, (channels, cfg.resolution, cfg.resolution)) if cache.is_file() else None
    if saved is not None:
        images, bad, sides = saved
        _report.say(f"{folder}: {len(images)} images from the cache {cache}", verbose)
    else:
        _report.say(f"decoding {len(files)} images from {folder} at {cfg.resolution}x{cfg.resolution}", verbose)
        images, bad, sides = decode_folder(folder, files, cfg.resolution, channels, verbose)
        _write_cache(cache, images, bad, sides)
    for note in (upscale_note([short for short, _ in sides], cfg.resolution), crop_note(sides)):
        if note:
            _report.say(note, verbose)
    if bad:
        shown = ", ".join(printable(b) for b in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        _report.warn(f"skipped {len(bad)} unreadable file(s) in {folder}: {shown}")
    if len(images) < max(1, cfg.min_images):
        raise GankitError(f"image folder {cfg.path!r} has {len(images)} usable image(s) "
                          f"({len(bad)} unreadable); at least {cfg.min_images} are needed — add images "
                          "or lower data.min_images")
    if len(images) < SMALL_FOLDER:
        _report.say(f"only {len(images)} images: a GAN can copy a set this small (gankit eval RUN reports "
                     "memorisation: near 0 means copies); a few hundred or more train best (docs/folders.md)", verbose)
    if cfg.labels == "folders":
        labels = decoded_labels(folder, files, file_labels, bad, class_names)
        return ImageData(images, labels, folder.name, class_names=class_names)
    return ImageData(images, None, folder.name)
