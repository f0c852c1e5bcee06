"""Image files in and out for style transfer, with one-line GankitError messages for the user's mistakes.

Images inside gankit.style are float tensors (1, 3, H, W) in [0, 1].

Example:
    >>> x = load_image("cat.png", size=256, what="content image")   # longer side 256
    >>> save_image(x, "out/cat-styled.png")
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import GankitError, file_in_the_way

ImageLike = Union[str, Path, Image.Image, np.ndarray, torch.Tensor]


def open_image(src: ImageLike, what: str = "image") -> Image.Image:
    """A path, PIL image, (H, W[, C]) uint8 array or (3, H, W)/(1, 3, H, W) float tensor -> RGB PIL image."""
    if isinstance(src, Image.Image):
        return _to_rgb(src)
    if isinstance(src, torch.Tensor):
        return tensor_to_pil(src if src.dim() == 4 else src[None])
    if isinstance(src, np.ndarray):
        arr = src if src.dtype == np.uint8 else (np.clip(src, 0, 1) * 255).round().astype(np.uint8)
        return _to_rgb(Image.fromarray(arr))
    path = Path(src).expanduser()
    if not path.exists():
        raise GankitError(f"{what} {str(src)!r} does not exist; pass the path of a PNG or JPEG file")
    if path.is_dir():
        raise GankitError(f"{what} {str(src)!r} is a folder; pass the path of one image file")
    if not path.is_file():  # a FIFO or a device would block the read forever, or never end
        raise GankitError(f"{what} {str(src)!r} is not a regular file (a pipe or a device); pass an image file")
    try:
        with Image.open(path) as img:
            img.load()
            return _to_rgb(ImageOps.exif_transpose(img))
    except Image.DecompressionBombError:  # PIL refuses images over 2x MAX_IMAGE_PIXELS before decoding them
        limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        raise GankitError(f"{what} {str(src)!r} has more than {limit:,} pixels, too many to decode safely (a "
                          "decompression bomb, or a huge image); shrink it first, e.g. to 4000 px on the "
                          "longer side") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        kind = "is not an image" if isinstance(e, UnidentifiedImageError) else f"cannot be read ({e})"
        raise GankitError(f"{what} {str(src)!r} {kind}; pass a PNG, JPEG, WebP or BMP file") from None


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB; transparency is composed over white."""
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return img.convert("RGB")


def fit_size(wh: Tuple[int, int], longer: int) -> Tuple[int, int]:
    """(w, h) scaled so the longer side is ``longer`` (at least 1 px each side)."""
    w, h = wh
    s = longer / max(w, h)
    return max(1, round(w * s)), max(1, round(h * s))


MIN_SIDE = 16  # pixels on the shorter side a picture needs at its working size (the networks halve it 4 times)


def check_proportions(img: Image.Image, longer: int, what: str = "image") -> None:
    """One line for a picture so long and thin that, scaled to ``longer`` px, it is almost no pixels tall."""
    w, h = fit_size(img.size, longer)
    if min(w, h) < MIN_SIDE:
        raise GankitError(f"the {what} is {img.width}x{img.height} px: at {longer} px on its longer side it would "
                          f"be {w}x{h}, too thin to work with (at least {MIN_SIDE} px a side); crop it to a less "
                          "extreme shape")


def pil_to_tensor(img: Image.Image, size: Optional[Tuple[int, int]] = None) -> torch.Tensor:
    """PIL -> (1, 3, H, W) float in [0, 1], resized to size=(w, h) first if given (bicubic, antialiased)."""
    if size is not None and tuple(size) != img.size:
        img = img.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)
    arr = np.array(img.convert("RGB"), dtype=np.float32) / 255.0  # (H, W, 3), a writable copy
    return torch.from_numpy(arr).permute(2, 0, 1)[None].contiguous()


def tensor_to_pil(x: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) float in [0, 1] -> RGB PIL image (values clipped)."""
    arr = (x[0].detach().float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(arr, "RGB")


def load_image(src: ImageLike, size: Optional[int] = None, what: str = "image") -> torch.Tensor:
    """Open an image and return (1, 3, H, W) in [0, 1] with its longer side resized to ``size``."""
    img = open_image(src, what)
    return pil_to_tensor(img, fit_size(img.size, size) if size else None)


def check_output_path(path: Union[str, Path], suffixes: Sequence[str] = (".png", ".jpg", ".jpeg",
                                                                          ".webp", ".bmp")) -> Path:
    """The output path, checked before any work is done: known extension, a parent that is not a file."""
    p = Path(path).expanduser()
    if p.suffix.lower() not in suffixes:
        raise GankitError(f"cannot write {str(path)!r}: unknown image extension {p.suffix or '(none)'!r}; "
                          f"use one of {', '.join(suffixes)}")
    if p.is_dir():
        raise GankitError(f"output {str(path)!r} is a folder; pass a file name such as {p / 'out.png'}")
    parent = file_in_the_way(p)
    if parent is not None:
        raise GankitError(f"cannot write {str(path)!r}: {parent} is a file, not a folder")
    return p


def save_image(img: Union[Image.Image, torch.Tensor], path: Union[str, Path]) -> Path:
    """Write a PIL image or a (1, 3, H, W) tensor; parent folders are created."""
    p = check_output_path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    pil = img if isinstance(img, Image.Image) else tensor_to_pil(img)
    pil.save(p)
    return p


def save_gif(frames: List[Image.Image], path: Union[str, Path], duration_ms: int = 80) -> Path:
    """Write frames as a looping GIF; the last frame is held three times as long."""
    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)
    durations = [duration_ms] * (len(frames) - 1) + [duration_ms * 3]
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return p
