"""What a dataset is, registered beside its loader: the one place the rest of gankit asks.

Every source registers a ``DatasetInfo`` with its loader (``@SOURCES.register(name, info=DatasetInfo(...))``).
Training, sampling, pictures, evaluation, the diagnoser and the benchmarks read it through ``dataset_info(cfg)``
instead of comparing dataset names, so a new dataset is one module.

Example:
    >>> from gankit.data import dataset_info
    >>> info = dataset_info(DataConfig(name="ring-2d"))
    >>> info.kind, info.shape(DataConfig(name="ring-2d")), info.metrics
    ('vector', (2,), ('modes',))
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Tuple

from ..registry import CALLABLE, Registry

KINDS = ("image", "vector")
PICTURES = ("grid", "density-1d", "scatter-2d")


def image_shape(cfg) -> Tuple[int, ...]:
    """Images are decoded to the configured channels and square resolution: (C, R, R)."""
    return (cfg.channels, cfg.resolution, cfg.resolution)


@dataclass(frozen=True)
class DatasetInfo:
    """A data source's descriptor.

    kind        "image": uint8 (N, C, H, W) held in memory; "vector": (n, D) floats drawn from a distribution
    shape       one item's shape for a DataConfig, without loading anything: (C, R, R) or (D,)
    native      (C, H, W) as stored on disk; () when it varies (folders) or for vectors
    picture     how samples are drawn: "grid" of images, "density-1d" against the target, "scatter-2d"
    features    the feature extractor used when none is named
    metrics     the metrics computed when none are named
    classifier  the shipped classifier weights that label these images (None: none fits)
    modes       a mode-collapse benchmark: its samples are scored by counting modes (gankit bench modes)
    folder      the user's own image folder (``data.path`` on any image dataset selects it)
    report      the end-of-run report the run writes ("" = none; names are registered in gankit.artifacts)
    eval_n      samples per side when `gankit eval` runs the default metrics (0 = the metrics' own default)
    classes     the names of the source's classes, label i named classes[i] (() = no labels a conditional model
                can use; a folder's classes are its subfolders, read with data.labels=folders)
    """
    kind: str
    shape: Callable[..., Tuple[int, ...]]
    picture: str
    features: str
    metrics: Tuple[str, ...]
    native: Tuple[int, ...] = ()
    classifier: Optional[str] = None
    modes: bool = False
    folder: bool = False
    report: str = ""
    eval_n: int = 0
    classes: Tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"DatasetInfo.kind must be one of {KINDS}, got {self.kind!r}")
        if self.picture not in PICTURES:
            raise ValueError(f"DatasetInfo.picture must be one of {PICTURES}, got {self.picture!r}")
        if not callable(self.shape):
            raise TypeError(f"DatasetInfo.shape must be a function of the DataConfig, got {self.shape!r}")
        if not isinstance(self.metrics, tuple) or not self.metrics:
            raise TypeError(f"DatasetInfo.metrics must be a non-empty tuple, got {self.metrics!r}")
        if self.native and len(self.native) != 3:
            raise ValueError(f"DatasetInfo.native is (C, H, W) or (), got {self.native!r}")


# A source is a loader ``(cfg: DataConfig, verbose: bool) -> ImageData | ToyData`` with its DatasetInfo. It lives
# here, not in the package's __init__, so that the source modules import it without importing their package.
SOURCES = Registry("dataset", expects=CALLABLE, info=DatasetInfo)
