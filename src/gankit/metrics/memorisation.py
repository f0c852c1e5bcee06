"""Memorisation check: does G copy its training images?

For every generated sample, the nearest training image by L2 distance in pixel space, both resized to at most
32x32 (pixel values in [0, 1]). Pixels rather than features because a copy is a copy pixel for pixel: a pixel
nearest neighbour finds exact and near copies without trusting a network that maps different images close
together (Inception features ignore much of what makes two photos the same photo), and at 32 px it is cheap
(3 072 numbers per colour image) and honest: it blurs away pixel noise but keeps composition and colour.
It does not see a copy that is shifted or mirrored; read the panel for those.

The number: the median nearest-neighbour distance of the samples to the training set, over the median
distance of training images to their nearest other training image (leave-one-out, a fixed subset of up to
1 000 training images as queries). Exact copies give 0; new images from the data's distribution give about 1
(a held-out image is as far from the training set as a training image is from the rest); well above 1 the
samples are further from the data than the data is from itself (poor samples rather than copies).

Example:
    >>> r = memorisation(run.generate(500), data.images, out_png=run_dir / "memorisation.png")
    >>> r["memorisation"]          # ~0: copies, ~1: new images
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import torch
import torch.nn.functional as F

from ..errors import GankitError

RESOLUTION = 32      # compare at this size (or the images' own, when smaller)
QUERIES = 1000       # training images whose leave-one-out distance sets the scale
PAIRS = 32           # sample | nearest pairs in the panel


def _unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] or float [-1, 1] images (N, C, H, W) -> float32 in [0, 1]."""
    if x.dim() != 4:
        raise GankitError(f"the memorisation check takes images (N, C, H, W), got shape {tuple(x.shape)}")
    x = x.detach().cpu()
    return x.float() / 255.0 if x.dtype == torch.uint8 else ((x.float() + 1) / 2).clamp(0, 1)


def _flat(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] -> (N, C*size*size), antialiased resize to size x size."""
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.reshape(len(x), -1)


def nearest(queries: torch.Tensor, ref: torch.Tensor, exclude: Optional[torch.Tensor] = None,
            chunk: int = 512) -> Tuple[torch.Tensor, torch.Tensor]:
    """For each row of queries (Q, D), the nearest row of ref (N, D): (distances (Q,), indices (Q,)).

    ``exclude[q]`` (Q,) or (Q, k) are ref indices query q may not match (itself, its mirror). The search uses
    |a|^2 + |b|^2 - 2ab; the distance returned is recomputed directly, so an exact copy is exactly 0.
    """
    ref_sq = ref.pow(2).sum(1)                                           # (N,)
    idx = torch.empty(len(queries), dtype=torch.long)
    for s in range(0, len(queries), chunk):
        q = queries[s:s + chunk]
        d2 = q.pow(2).sum(1, keepdim=True) + ref_sq - 2 * q @ ref.T     # (q, N)
        if exclude is not None:
            ex = exclude[s:s + chunk].reshape(len(q), -1)                # (q, k)
            d2[torch.arange(len(q)).unsqueeze(1), ex] = math.inf
        idx[s:s + chunk] = d2.argmin(1)
    return (queries - ref[idx]).norm(dim=1), idx


def memorisation(samples: torch.Tensor, train_images: torch.Tensor, out_png: Optional[Union[str, Path]] = None,
                 resolution: int = RESOLUTION, queries: int = QUERIES, mirror: bool = False,
                 seed: int = 0) -> Dict[str, Any]:
    """How close generated samples are to their nearest training images, relative to the data's own spacing.

    samples, train_images: (N, C, H, W), uint8 or float in [-1, 1], the same channels (sizes may differ).
    ``mirror``: the training set also holds every image's mirror (a run trained with data.mirror).
    Returns {"memorisation": ratio, "nn_sample_median", "nn_train_median", "nn_sample_min" (RMS pixel
    distances in [0, 1]), "n_samples", "n_train", "resolution"}; writes the panel to ``out_png`` when given.
    """
    fake, real = _unit(samples), _unit(train_images)
    if fake.shape[1] != real.shape[1]:
        raise GankitError(f"the samples have {fake.shape[1]} channel(s) but the training images "
                          f"{real.shape[1]}; compare images of the same kind")
    if len(fake) < 1 or len(real) < 2:
        raise GankitError(f"the memorisation check needs samples and at least 2 training images, got "
                          f"{len(fake)} and {len(real)}")
    size = min(resolution, fake.shape[-1], real.shape[-1])
    if mirror:
        real = torch.cat([real, real.flip(-1)])                          # (2N, C, H, W): image i + N mirrors i
    f, r = _flat(fake, size), _flat(real, size)
    n = len(r) // 2 if mirror else len(r)
    d_fake, nn_idx = nearest(f, r)
    pick = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:queries]
    d_real, _ = nearest(r[pick], r, exclude=torch.stack([pick, pick + n], 1) if mirror else pick)
    scale = math.sqrt(f.shape[1])                                       # L2 -> RMS per pixel value
    med_fake, med_real = d_fake.median().item() / scale, d_real.median().item() / scale
    if out_png is not None:
        write_panel(fake, real, d_fake, nn_idx, Path(out_png))
    return {"memorisation": med_fake / med_real if med_real > 0 else math.nan,
            "nn_sample_median": med_fake, "nn_train_median": med_real,
            "nn_sample_min": d_fake.min().item() / scale,
            "n_samples": len(fake), "n_train": n, "resolution": size}


def write_panel(fake: torch.Tensor, real: torch.Tensor, dist: torch.Tensor, nn_idx: torch.Tensor, out: Path,
                pairs: int = PAIRS) -> Path:
    """A grid of (sample | its nearest training image) pairs side by side, 4 pairs a row, closest pairs first
    (the likeliest copies), at the samples' resolution."""
    from ..viz import save_grid
    order = dist.argsort()[:pairs]
    near = real[nn_idx[order]]
    if near.shape[-2:] != fake.shape[-2:]:
        near = F.interpolate(near, size=fake.shape[-2:], mode="bilinear", antialias=True, align_corners=False)
    both = torch.cat([fake[order], near], -1)                          # (P, C, H, 2W): sample | nearest
    return save_grid(both * 2 - 1, out, nrow=4, scale=max(1, 64 // fake.shape[-1]))
