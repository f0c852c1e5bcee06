"""Sliced Wasserstein distance between two image sets (Karras et al. 2018, "Progressive Growing of GANs",
appendix D): a pixel-space measure that needs no network, so a discriminator built on ImageNet features cannot
game it.

Each image is split into a Laplacian pyramid (a 5x5 binomial filter, as ``cv2.pyrDown``/``pyrUp``) from its
own size down to 16 px. From every level, 128 random 7x7 patches per image are the descriptors of that level;
each set's descriptors are normalised per colour channel by that set's own mean and standard deviation at that
level (as ProGAN does, so a global shift of brightness or contrast is not what is measured: the distribution of
local structure is). The distance of one level is the mean, over random unit directions (4 repeats of 128), of
the 1-D Wasserstein-1 distance between the two sets' projections: the mean absolute difference of the sorted
projections. Levels are reported x 1e3 as ProGAN prints them (``swd_64``, ``swd_32``, ``swd_16``, finest first)
with their mean (``swd``). Lower is better; two sets drawn from one distribution score near 0, identical sets
exactly 0.

Everything is drawn from a ``torch.Generator`` seeded by ``seed``, so a result is deterministic; both sets take
their patch positions from the same seed (a set against itself is exactly 0). Sets of different sizes are
compared at the quantiles of the smaller one.

Example:
    >>> a = torch.randint(0, 256, (200, 3, 32, 32), dtype=torch.uint8)
    >>> swd(a, a)["swd"]
    0.0
    >>> sorted(swd(a, a.flip(0)))
    ['swd', 'swd_16', 'swd_32']
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import GankitError
from .evaluate import METRICS, Evaluator
from .info import MetricInfo, Output
from .sources import Samples

MIN_RES = 16             # the coarsest level (ProGAN: levels down to 16 px)
_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


@dataclass(frozen=True)
class SWDConfig:
    """ProGAN's settings: 7x7 patches, 128 per image and level, 4 repeats of 128 random directions."""
    patch: int = 7
    per_image: int = 128
    repeats: int = 4
    directions: int = 128
    batch: int = 256          # images per pyramid batch (bounds memory)


def resolutions(size: int) -> List[int]:
    """The pyramid's level sizes for images of ``size`` px: 64 -> [64, 32, 16]; 28 -> [28]."""
    if size < MIN_RES:
        raise GankitError(f"the sliced Wasserstein distance reads 7x7 patches of pyramid levels down to "
                          f"{MIN_RES} px, and these images are {size} px; compare images of at least {MIN_RES} px "
                          "(or choose another metric)")
    out = []
    while size >= MIN_RES:
        out.append(size)
        size //= 2
    return out


def _blur(x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """The 5x5 binomial filter (separable, as shifted sums: quicker than a convolution of one channel here),
    mirrored at the edges (scipy's "mirror", torch's "reflect"). (B, C, H, W) -> the same shape."""
    b, c, h, w = x.shape
    k = (_BINOMIAL * gain ** 0.5).tolist()
    y = F.pad(x, (2, 2, 2, 2), mode="reflect" if min(h, w) > 2 else "replicate")
    y = sum(k[i] * y[:, :, :, i:i + w] for i in range(5))                   # (B, C, H + 4, W)
    return sum(k[i] * y[:, :, i:i + h, :] for i in range(5))                # (B, C, H, W)


def laplacian_pyramid(x: torch.Tensor, levels: int) -> List[torch.Tensor]:
    """Float images (B, C, H, W) -> ``levels`` tensors, finest first: band-pass residuals, then the coarsest
    Gaussian level. Summing them back up (upsampled) restores the image."""
    out = [x]
    for _ in range(1, levels):
        down = _blur(out[-1])[:, :, ::2, ::2]
        up = torch.zeros(*down.shape[:2], down.shape[2] * 2, down.shape[3] * 2, dtype=x.dtype)
        up[:, :, ::2, ::2] = down
        out[-1] = out[-1] - _blur(up, 4.0)[:, :, :out[-1].shape[2], :out[-1].shape[3]]
        out.append(down)
    return out


def _patches(level: torch.Tensor, per_image: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """``per_image`` random size x size patches of each image of a level (B, C, h, w) -> (B * per_image, s, s, C)
    (channels last: the gather reads whole pixels)."""
    b, _, h, w = level.shape
    half = size // 2
    m = b * per_image
    cy = torch.randint(half, h - half, (m,), generator=gen)
    cx = torch.randint(half, w - half, (m,), generator=gen)
    d = torch.arange(-half, half + 1)
    img = torch.arange(b).repeat_interleave(per_image)
    rows, cols = (cy[:, None] + d)[:, :, None], (cx[:, None] + d)[:, None, :]         # (m, s, 1), (m, 1, s)
    return level.permute(0, 2, 3, 1).contiguous()[img[:, None, None], rows, cols]     # (m, s, s, C)


def descriptors(images: torch.Tensor, seed: int = 0, cfg: SWDConfig = SWDConfig()) -> List[torch.Tensor]:
    """uint8 or float images (N, C, H, W) -> one (N * per_image, C * patch^2) float32 matrix per pyramid level,
    finest first, each normalised per channel by its own mean and std."""
    if images.dim() != 4 or images.shape[-1] != images.shape[-2]:
        raise GankitError(f"the sliced Wasserstein distance takes square images (N, C, H, W), got shape "
                          f"{tuple(images.shape)}")
    n_levels = len(resolutions(int(images.shape[-1])))
    gen = torch.Generator().manual_seed(seed)
    parts: List[List[torch.Tensor]] = [[] for _ in range(n_levels)]
    for i in range(0, len(images), cfg.batch):
        x = images[i:i + cfg.batch].float()
        for lod, level in enumerate(laplacian_pyramid(x, n_levels)):
            parts[lod].append(_patches(level, cfg.per_image, cfg.patch, gen))
    out = []
    for p in parts:
        d = torch.cat(p)                                                     # (M, s, s, C)
        std, mean = torch.std_mean(d, dim=(0, 1, 2), unbiased=False, keepdim=True)
        d = (d - mean) / std.clamp_min(1e-8)
        out.append(d.reshape(len(d), -1))
    return out


def _quantiles(sorted_x: np.ndarray, m: int) -> np.ndarray:
    """Sorted rows (K, n) read at the m mid-quantiles (i + 0.5) / m, linearly interpolated -> (K, m)."""
    n = sorted_x.shape[1]
    pos = np.clip((np.arange(m) + 0.5) * n / m - 0.5, 0, n - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    t = (pos - lo).astype(sorted_x.dtype)
    return sorted_x[:, lo] * (1 - t) + sorted_x[:, hi] * t


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, seed: int = 0, cfg: SWDConfig = SWDConfig()) -> float:
    """Mean over ``repeats`` x ``directions`` random unit directions of the W1 distance between the projections
    of descriptor sets a (Na, D) and b (Nb, D)."""
    gen = torch.Generator().manual_seed(seed)
    total = 0.0
    for _ in range(cfg.repeats):
        dirs = torch.randn(cfg.directions, a.shape[1], generator=gen)
        dirs = dirs / dirs.norm(dim=1, keepdim=True)                         # (K, D) unit rows
        # numpy sorts each contiguous row several times faster than torch.sort here
        pa, pb = (np.sort((dirs @ x.T).numpy(), axis=1) for x in (a, b))      # (K, N) each
        m = min(pa.shape[1], pb.shape[1])
        pa, pb = (_quantiles(p, m) if p.shape[1] > m else p for p in (pa, pb))
        total += float(np.abs(pa - pb).mean(dtype=np.float64))
    return total / cfg.repeats


def swd(fake: torch.Tensor, real: torch.Tensor, seed: int = 0, cfg: SWDConfig = SWDConfig(),
        real_desc: Optional[List[torch.Tensor]] = None) -> Dict[str, float]:
    """SWD x 1e3 of two image sets (N, C, H, W) of one shape: ``swd_<res>`` per level and their mean ``swd``.
    ``real_desc``: the reference's ``descriptors(real, seed, cfg)`` computed earlier (a cache)."""
    if tuple(fake.shape[1:]) != tuple(real.shape[1:]):
        raise GankitError(f"the sliced Wasserstein distance compares images of one shape; got "
                          f"{tuple(fake.shape[1:])} and {tuple(real.shape[1:])}")
    res = resolutions(int(fake.shape[-1]))
    da = descriptors(fake, seed, cfg)
    db = real_desc if real_desc is not None else descriptors(real, seed, cfg)
    out = {f"swd_{r}": 1e3 * sliced_wasserstein(x, y, seed + 1, cfg) for r, x, y in zip(res, da, db)}
    return {"swd": sum(out.values()) / len(out), **out}


# ---- the registered metric ---------------------------------------------------------------------------------
LEVEL_KEYS = (256, 128, 64, 32, 16)   # level sizes whose keys gankit eval's table describes


@METRICS.register("swd", info=MetricInfo(
    "ProGAN's sliced Wasserstein distance of 7x7 Laplacian-pyramid patches, x 1e3 (swd.py)", (
        Output("swd", "mean over the pyramid levels of the patch distributions' sliced Wasserstein distance "
               "(pixels only, no network; ~0 for two draws of one set)", "lower"),
        *(Output(f"swd_{r}", f"the same at the {r}-px level" + (" (the coarsest: colours and layout)" if r == 16
                 else " (band-pass: the detail of that scale)"), "lower") for r in LEVEL_KEYS)),
    reference=True, features=False))
def _swd_metric(ev: Evaluator, fake: Samples, memo: Dict[str, Any]) -> Dict[str, Any]:
    """SWD of the samples against the reference images; the reference's descriptors are kept with the
    reference (``real.info``), so an evaluator that scores a run every few thousand steps computes them once."""
    real = ev.real
    if fake.kind != "image" or real is None or real.kind != "image":
        raise GankitError("metric 'swd' compares images with images; give image samples and image data")
    if tuple(fake.x.shape[1:]) != tuple(real.x.shape[1:]):
        raise GankitError(f"{fake.label} holds images of shape {tuple(fake.x.shape[1:])} but {real.label} holds "
                          f"{tuple(real.x.shape[1:])}; compare samples of the data's own size")
    cache = real.info.setdefault("swd_descriptors", {})
    key = (len(real), SWDConfig())
    if key not in cache:
        cache[key] = descriptors(real.x, 0)
    return swd(fake.x, real.x, 0, real_desc=cache[key])
