"""Image pyramids for multi-scale networks (MSG-GAN): one batch as a list of images, coarse -> fine.

A multi-scale G returns ``[(B, C, 4, 4), (B, C, 8, 8), ..., (B, C, R, R)]`` and its D takes such a list. Real
batches become the same list by 2x2 average pooling, level by level (``pyramid``); everything that wants plain
images (sampling, grids, metrics) takes the last element (``finest``).

Example:
    >>> x = torch.rand(2, 3, 32, 32)
    >>> [tuple(p.shape[-2:]) for p in pyramid(x, 4)]
    [(4, 4), (8, 8), (16, 16), (32, 32)]
    >>> finest(pyramid(x, 4)) is x
    True
"""
from __future__ import annotations

from typing import List, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GankitError
from .traits import traits_of

Images = Union[torch.Tensor, Sequence[torch.Tensor]]


def levels_for(resolution: int) -> int:
    """Pyramid levels from 4x4 up to ``resolution`` (a power of two >= 8): 32 -> 4 (4, 8, 16, 32)."""
    if resolution < 8 or resolution & (resolution - 1):
        raise GankitError(f"multi-scale networks need data.resolution = a power of two from 8 up "
                          f"(32, 64, 128, 256), got {resolution}")
    return resolution.bit_length() - 2


def pyramid(x: torch.Tensor, levels: int) -> List[torch.Tensor]:
    """(B, C, R, R) -> ``levels`` images coarse -> fine, each a 2x2 average pool of the next; the last is x.

    Pooling twice by 2 is pooling once by 4, so the level of size r holds the mean of each (R/r)x(R/r) block of
    x: the images MSG-GAN's reference code makes with ``avg_pool2d(x, R // r)``.
    """
    if x.dim() != 4:
        raise GankitError(f"pyramid expects images (B, C, H, W), got shape {tuple(x.shape)}")
    if levels < 1 or x.shape[-1] % (1 << (levels - 1)) or x.shape[-2] % (1 << (levels - 1)):
        raise GankitError(f"cannot make {levels} pyramid levels from {x.shape[-2]}x{x.shape[-1]} images "
                          "(each level halves the size)")
    out = [x]
    for _ in range(levels - 1):
        out.append(F.avg_pool2d(out[-1], 2))  # (B, C, H/2, W/2)
    return out[::-1]


def finest(out: Images) -> torch.Tensor:
    """The full-size images of a multi-scale output (its last element), or the tensor itself."""
    if isinstance(out, (list, tuple)):
        return out[-1]
    return out


def is_multiscale(module: object) -> bool:
    """True for networks that produce or take image pyramids (``traits.multiscale``)."""
    return isinstance(module, nn.Module) and traits_of(module).multiscale
