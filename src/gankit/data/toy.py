"""Toy distributions: Goodfellow's 1-D normal target and the 2-D mixtures of the mode-collapse literature."""
from __future__ import annotations

import math

import torch

from .base import ToyData
from .info import SOURCES, DatasetInfo


def set_shape(cfg) -> tuple:
    """gaussian-1d: one item is a set of data.dim draws, (D,)."""
    return (cfg.dim,)


def plane_shape(cfg) -> tuple:
    """The 2-D mixtures: one item is a point, (2,)."""
    return (2,)


# The ring and the grid: points in the plane, scored by the modes they hit.
MIXTURE = DatasetInfo(kind="vector", shape=plane_shape, picture="scatter-2d", features="identity",
                      metrics=("modes",), modes=True)


def ring_modes(n: int = 8, radius: float = 1.0) -> torch.Tensor:
    angles = torch.arange(n, dtype=torch.float64) * (2 * math.pi / n)
    return (radius * torch.stack([angles.cos(), angles.sin()], 1)).float()  # (n, 2)


def grid_modes() -> torch.Tensor:
    v = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    return torch.cartesian_prod(v, v)  # (25, 2)


def mixture(modes: torch.Tensor, std: float):
    def sample(n: int, g: torch.Generator) -> torch.Tensor:
        which = torch.randint(len(modes), (n,), generator=g)
        return modes[which] + std * torch.randn(n, modes.shape[1], generator=g)
    return sample


@SOURCES.register("gaussian-1d", info=DatasetInfo(
    kind="vector", shape=set_shape, picture="density-1d", features="identity", metrics=("moments",),
    report="normal-fit"))
def gaussian_1d(cfg, verbose: bool = True) -> ToyData:
    """Items are vectors of `data.dim` i.i.d. draws from N(mean, std) (the lesson's D sees a set at once)."""
    mean, std, dim = cfg.mean, cfg.std, cfg.dim

    def sample(n: int, g: torch.Generator) -> torch.Tensor:
        return mean + std * torch.randn(n, dim, generator=g)
    return ToyData(sample, dim, cfg.epoch_size, "gaussian-1d", target={"mean": mean, "std": std})


@SOURCES.register("ring-2d", info=MIXTURE)
def ring_2d(cfg, verbose: bool = True) -> ToyData:
    """8 Gaussians on a circle of radius 1, std 0.01."""
    modes = ring_modes()
    return ToyData(mixture(modes, 0.01), 2, cfg.epoch_size, "ring-2d", modes=modes, mode_std=0.01)


@SOURCES.register("grid-2d", info=MIXTURE)
def grid_2d(cfg, verbose: bool = True) -> ToyData:
    """25 Gaussians at {-4,-2,0,2,4}^2, std 0.05."""
    modes = grid_modes()
    return ToyData(mixture(modes, 0.05), 2, cfg.epoch_size, "grid-2d", modes=modes, mode_std=0.05)
