"""Image-to-image pairs made from plain images as they are drawn: the translator's input from the target itself.

Tasks (``model.task``):

* ``inpaint`` — holes (free-form strokes and rectangles) cut out of the image; the input is the image with the
  holes grey (0 in [-1, 1]) and the mask (1 = hole) as one more channel: (B, C + 1, H, W);
* ``superres`` — 4x: the image downscaled (antialiased) to a quarter and back up (bicubic): (B, C, H, W);
* ``colorize`` — the image's luminance (ITU-R 601): (B, 1, H, W).

Every draw takes a ``torch.Generator``, so a pair depends only on the image and the generator's seed (resume
stays exact). ``baseline`` is what the task's obvious method gives from the same input (bicubic upscaling; the
hole filled by blurring its border in; the grey image). ``hold_out`` splits a fixed share of a dataset off for
evaluation (a split the training never sees).

Example:
    >>> x = torch.rand(4, 3, 64, 64) * 2 - 1
    >>> make_inputs("superres", x, torch.Generator().manual_seed(0)).shape
    torch.Size([4, 3, 64, 64])
"""
from __future__ import annotations

import dataclasses
import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from ..errors import GankitError
from .base import ImageData

TASKS = ("inpaint", "superres", "colorize")
SCALE = 4                                       # superres: the factor
HOLDOUT_SEED = 20261206                         # the held-out split is the same for every training seed
LUMA = (0.299, 0.587, 0.114)                    # ITU-R 601, as PIL's "L"


def check_task(task: str) -> str:
    if task not in TASKS:
        raise GankitError(f"model.task must be one of {', '.join(TASKS)} for an image-to-image model, got {task!r}")
    return task


def input_channels(task: str, channels: int) -> int:
    """Channels of the translator's input for images of ``channels`` channels."""
    check_task(task)
    return {"inpaint": channels + 1, "superres": channels, "colorize": 1}[task]


def luminance(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 1, H, W) luma, same scale; one channel is returned as it is."""
    if x.shape[1] == 1:
        return x
    w = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def downscale(x: torch.Tensor, factor: int = SCALE) -> torch.Tensor:
    """Antialiased (bilinear) downscale by ``factor``: (B, C, H, W) -> (B, C, H/f, W/f)."""
    h, w = x.shape[-2] // factor, x.shape[-1] // factor
    return F.interpolate(x, size=(max(1, h), max(1, w)), mode="bilinear", antialias=True, align_corners=False)


def upscale(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Bicubic upscale to ``size`` (H, W), clamped to [-1, 1] (bicubic overshoots)."""
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False).clamp(-1, 1)


def _strokes(n: int, h: int, w: int, g: torch.Generator) -> torch.Tensor:
    """(n, H, W) bool: 1-3 free-form strokes per image, each a chain of 3-6 thick segments (a random walk)."""
    yy = torch.arange(h, dtype=torch.float32).view(1, h, 1)
    xx = torch.arange(w, dtype=torch.float32).view(1, 1, w)
    size = min(h, w)
    out = torch.zeros(n, h, w, dtype=torch.bool)
    for i in range(n):
        for _ in range(int(torch.randint(1, 4, (1,), generator=g))):
            p = torch.rand(2, generator=g) * torch.tensor([h, w], dtype=torch.float32)
            width = float(size * (0.03 + 0.05 * torch.rand(1, generator=g)))
            for _ in range(int(torch.randint(3, 7, (1,), generator=g))):
                angle = float(torch.rand(1, generator=g)) * 2 * math.pi
                length = float(size * (0.1 + 0.2 * torch.rand(1, generator=g)))
                q = (p + length * torch.tensor([math.sin(angle), math.cos(angle)])).clamp(
                    torch.zeros(2), torch.tensor([h - 1.0, w - 1.0]))
                d = q - p  # distance of every pixel to the segment p -> q
                t = (((yy - p[0]) * d[0] + (xx - p[1]) * d[1]) / max(float(d @ d), 1e-6)).clamp(0, 1)
                dist2 = (yy - p[0] - t * d[0]) ** 2 + (xx - p[1] - t * d[1]) ** 2
                out[i] |= (dist2 <= width * width)[0]
                p = q
    return out


def _rectangles(n: int, h: int, w: int, g: torch.Generator) -> torch.Tensor:
    """(n, H, W) bool: one rectangle per image, sides 1/5 to 1/2 of the image's."""
    sh = (h * (0.2 + 0.3 * torch.rand(n, generator=g))).long().clamp(min=1)
    sw = (w * (0.2 + 0.3 * torch.rand(n, generator=g))).long().clamp(min=1)
    y0 = (torch.rand(n, generator=g) * (h - sh + 1)).long()
    x0 = (torch.rand(n, generator=g) * (w - sw + 1)).long()
    yy, xx = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
    v = lambda t: t.view(n, 1, 1)  # noqa: E731
    return (yy >= v(y0)) & (yy < v(y0 + sh)) & (xx >= v(x0)) & (xx < v(x0 + sw))


def hole_masks(n: int, h: int, w: int, g: torch.Generator) -> torch.Tensor:
    """(n, 1, H, W) float masks, 1 = hole: free-form strokes, a rectangle, or both (a third each)."""
    kind = torch.randint(0, 3, (n,), generator=g)             # 0 strokes, 1 rectangle, 2 both
    strokes, rects = _strokes(n, h, w, g), _rectangles(n, h, w, g)
    m = (strokes & (kind != 1).view(n, 1, 1)) | (rects & (kind != 0).view(n, 1, 1))
    return m.unsqueeze(1).float()


def inpaint_input(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Image with the holes grey, and the mask as the last channel: (B, C + 1, H, W)."""
    mask = mask.to(x.dtype)
    return torch.cat([x * (1 - mask), mask], 1)


def make_inputs(task: str, x: torch.Tensor, g: Optional[torch.Generator] = None) -> torch.Tensor:
    """The translator's input made from target images ``x`` (B, C, H, W) in [-1, 1] (``g`` draws the holes)."""
    check_task(task)
    if task == "superres":
        return upscale(downscale(x), x.shape[-2:])
    if task == "colorize":
        return luminance(x)
    g = g if g is not None else torch.Generator().manual_seed(0)
    return inpaint_input(x, hole_masks(x.shape[0], x.shape[-2], x.shape[-1], g).to(x.device))


def blur_fill(x: torch.Tensor, mask: torch.Tensor, smooth: int = 50) -> torch.Tensor:
    """The hole filled from its border inwards (each ring the 3x3 average of the known pixels beside it), then
    ``smooth`` rounds of 3x3 averaging inside the hole with the known pixels fixed: (B, C, H, W)."""
    c, hole = x.shape[1], mask.bool()                          # mask (B, 1, H, W), 1 = hole
    kernel = torch.ones(c, 1, 3, 3, dtype=x.dtype, device=x.device)
    have = (~hole).to(x.dtype)
    out = x * have
    for _ in range(max(x.shape[-2:])):                         # onion peel: one ring per round
        if bool(have.all()):
            break
        num = F.conv2d(out, kernel, padding=1, groups=c)
        den = F.conv2d(have, kernel[:1], padding=1)
        new = (have == 0) & (den > 0)
        out = torch.where(new, num / den.clamp(min=1e-6), out)
        have = torch.where(new, torch.ones_like(have), have)
    for _ in range(smooth):                                    # blur inside the hole, the border fixed
        avg = F.conv2d(F.pad(out, (1, 1, 1, 1), mode="replicate"), kernel, groups=c) / 9
        out = torch.where(hole, avg, x)
    return out


def baseline(task: str, inp: torch.Tensor, channels: int = 3) -> torch.Tensor:
    """The obvious method's output from a translator input: bicubic (the superres input is that already), the
    blur fill of the hole, the grey image (luminance in every channel)."""
    check_task(task)
    if task == "superres":
        return inp
    if task == "colorize":
        return inp.expand(-1, channels, -1, -1)
    return blur_fill(inp[:, :-1], inp[:, -1:])


def holdout_split(n: int, share: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """(train indices, held-out indices) of n items: a fixed random ``share`` (at least one when > 0) held out."""
    k = 0 if share <= 0 else max(1, int(round(n * share)))
    if k >= n:
        raise GankitError(f"data.holdout={share:g} would hold out {k} of {n} images, leaving none to train on; "
                          "lower data.holdout or add images")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(HOLDOUT_SEED))
    return perm[k:].sort().values, perm[:k].sort().values


def hold_out(data: ImageData, share: float) -> ImageData:
    """The training part of ``data`` with the held-out images (uint8) as ``.heldout`` (data.holdout)."""
    train, held = holdout_split(data.images.shape[0], share)
    labels = None if data.labels is None else data.labels[train]
    out = dataclasses.replace(data, images=data.images[train], labels=labels)
    out.heldout = data.images[held]  # type: ignore[attr-defined]  (read by the translator's evaluation)
    return out
