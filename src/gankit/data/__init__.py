"""Data sources. Each returns an in-memory dataset the trainer indexes per batch.

Images are held as one uint8 tensor (N, C, H, W) and scaled to [-1, 1] per batch; toy data are sampled
from their distribution with the run's generator. Each source registers a ``DatasetInfo`` (info.py) that says
what it is; ask ``dataset_info(cfg)`` rather than comparing names.

Example:
    >>> from gankit.config import DataConfig
    >>> data = load_data(DataConfig(name="ring-2d"))
    >>> data.sample(4, torch.Generator().manual_seed(0)).shape
    torch.Size([4, 2])
"""
from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from pathlib import Path

from ..config import DataConfig
from .base import ImageData, ToyData
from .info import SOURCES, DatasetInfo

# Importing the modules registers their sources: every module of this package is imported, so a new dataset
# is one new module (its loader registered with its DatasetInfo) and nothing else.
for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")


def folder_source() -> str:
    """The name of the image-folder source (the one whose descriptor says ``folder``)."""
    return next(n for n in SOURCES.names() if SOURCES.info(n).folder)


def dataset_name(cfg: DataConfig) -> str:
    """The source a DataConfig loads: ``data.path`` on an image dataset selects the image folder."""
    info = SOURCES.info(cfg.name)  # an unknown name is a GankitError with a did-you-mean
    # Setting data.path on an image preset retrains the same network on that folder.
    return folder_source() if cfg.path and info.kind == "image" else cfg.name


def dataset_info(cfg: DataConfig) -> DatasetInfo:
    """The descriptor of the source a DataConfig loads (see ``dataset_name``)."""
    return SOURCES.info(dataset_name(cfg))


def load_data(cfg: DataConfig, verbose: bool = True):
    """Load the dataset a DataConfig names (``data.path`` alone selects the image-folder source)."""
    data = SOURCES.get(dataset_name(cfg))(cfg, verbose)
    if isinstance(data, ImageData) and cfg.limit:
        data = data.subset(cfg.limit)
    if isinstance(data, ImageData) and cfg.holdout > 0:  # a fixed share never trained on (data/pairs.py)
        from .pairs import hold_out
        data = hold_out(data, cfg.holdout)
    if cfg.mirror:  # horizontal flips: the dataset doubled, the mirrored half flipped per batch (ImageData)
        if not isinstance(data, ImageData):
            from ..errors import GankitError
            raise GankitError(f"data.mirror flips images, but {cfg.name} is not an image dataset; remove data.mirror")
        data.mirror = True
    return data


def data_shape(cfg: DataConfig) -> tuple:
    """The shape of one item, without loading the data: (C, R, R) for images, (D,) for toy data."""
    info = dataset_info(cfg)
    if info.kind == "image" and cfg.channels is None:
        cfg = dataclasses.replace(cfg, channels=native_channels(cfg))
    return tuple(info.shape(cfg))


def native_channels(cfg: DataConfig) -> int:
    """The channels images have when data.channels is unset: the source's own (a folder's from its files)."""
    info = dataset_info(cfg)
    if info.native:
        return info.native[0]
    if info.folder and cfg.path and Path(cfg.path).expanduser().is_dir():
        from .folder import folder_channels, list_images
        return folder_channels(list_images(Path(cfg.path).expanduser()))
    from ..errors import GankitError
    raise GankitError(f"data.channels is unset and the channels of {cfg.path or cfg.name} cannot be read "
                      "(the folder is not there); set data.channels=1 or 3")


__all__ = ["load_data", "data_shape", "dataset_info", "dataset_name", "folder_source", "DatasetInfo",
           "ImageData", "ToyData", "SOURCES"]
