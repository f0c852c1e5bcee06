"""Data sources. Each returns an in-memory dataset the trainer indexes per batch.

Images are held as one uint8 tensor (N, C, H, W) and scaled to [-1, 1] per batch; toy data are sampled
from their distribution with the run's generator.

Example:
    >>> from gankit.config import DataConfig
    >>> data = load_data(DataConfig(name="ring-2d"))
    >>> data.sample(4, torch.Generator().manual_seed(0)).shape
    torch.Size([4, 2])
"""
from __future__ import annotations

from ..config import DataConfig
from ..registry import Registry
from .base import ImageData, ToyData

SOURCES = Registry("dataset")

# Importing the modules registers their sources.
from . import idx, cifar, folder, toy, stacked  # noqa: E402,F401


def load_data(cfg: DataConfig, verbose: bool = True):
    """Load the dataset a DataConfig names (``data.path`` alone selects the image-folder source)."""
    # Setting data.path on an image preset retrains the same network on that folder.
    name = "folder" if cfg.path and cfg.name not in toy.TOY_NAMES else cfg.name
    data = SOURCES.get(name)(cfg, verbose)
    if isinstance(data, ImageData) and cfg.limit:
        data = data.subset(cfg.limit)
    return data


__all__ = ["load_data", "ImageData", "ToyData", "SOURCES"]


def data_shape(cfg: DataConfig) -> tuple:
    """The shape of one item, without loading the data: (C, R, R) for images, (D,) for toy data."""
    if cfg.name == "gaussian-1d":
        return (cfg.dim,)
    if cfg.name in toy.TOY_NAMES:
        return (2,)
    return (cfg.channels, cfg.resolution, cfg.resolution)
