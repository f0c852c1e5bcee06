"""Pictures for the report, inlined as data URIs: the filmstrip frames, real and generated grids, the walk.

Frames are thinned and downscaled so a long run's report stays a few MB.
"""
from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image

from .. import viz

MAX_FRAMES = 40       # filmstrip frames kept, evenly spaced, first and last always
MAX_WIDTH = 640       # pixels; wider frames are downscaled (an 8 x 8 MNIST grid at 2x is 466)


def data_uri(img: Image.Image, max_width: int = MAX_WIDTH) -> str:
    """A PNG data URI of img, downscaled to max_width (palette PNG for few-colour images)."""
    if img.width > max_width:
        h = max(1, round(img.height * max_width / img.width))
        img = img.resize((max_width, h), Image.Resampling.LANCZOS)
    if img.mode not in ("L", "RGB", "RGBA", "P"):
        img = img.convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def file_uri(path: Path, max_width: int = MAX_WIDTH) -> Optional[str]:
    try:
        with Image.open(path) as im:
            return data_uri(im.convert("RGB") if im.mode not in ("L", "RGB") else im.copy(), max_width)
    except (OSError, ValueError):
        return None  # a picture cut short by a hard kill: leave it out


def thin(frames: Sequence[Tuple[int, Path]], limit: int = MAX_FRAMES) -> List[Tuple[int, Path]]:
    """At most `limit` frames, evenly spaced over the run; the first and the last are kept."""
    frames = list(frames)
    if len(frames) <= limit:
        return frames
    idx = sorted(set(np.linspace(0, len(frames) - 1, limit).round().astype(int)))
    return [frames[i] for i in idx]


def filmstrip(frames: Sequence[Tuple[int, Path]]) -> List[Tuple[int, str]]:
    """(step, data URI) for the thinned frames that can be read (a 40-frame MNIST strip is ~1 MB)."""
    out = []
    for step, path in thin(frames):
        uri = file_uri(path)
        if uri is not None:
            out.append((step, uri))
    return out


def width_of(path: Path) -> int:
    try:
        with Image.open(path) as im:
            return min(im.width, MAX_WIDTH)
    except (OSError, ValueError):
        return MAX_WIDTH


def image_grid(x: torch.Tensor, scale: int = 1, nrow: Optional[int] = None) -> Image.Image:
    """(N, C, H, W) in [-1, 1] -> a grid picture (nrow a row; default square), nearest-neighbour upscaled for
    small images."""
    img = viz.grid(x, nrow)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    return img


def real_images(data: Any, n: int = 64, seed: int = 0) -> Optional[torch.Tensor]:
    """n random training images in [-1, 1] (None for vector data or no data)."""
    if data is None or not hasattr(data, "batch") or len(data) == 0:
        return None
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    return data.batch(idx)
