"""Stacked MNIST: three MNIST digits as the red, green and blue channels of one image (1 000 modes).

The mode-collapse benchmark of Metz et al. 2017 ("Unrolled GANs"), used by VEEGAN and PacGAN. Each image
stacks three digits drawn uniformly at random (with a fixed seed per split, so the dataset is the same on
every machine); its label is the mode 100 * red + 10 * green + blue. The dataset has as many images as the
MNIST split has digits (60 000 train, 10 000 test).

Example:
    >>> data = load_data(DataConfig(name="stacked-mnist", channels=3))
    >>> data.images.shape, int(data.labels.max()) < 1000
    (torch.Size([60000, 3, 28, 28]), True)
"""
from __future__ import annotations

import torch

from ..errors import GankitError
from ..reporter import Reporter
from .base import ImageData, finish
from .idx import load_idx
from .info import SOURCES, DatasetInfo, image_shape

_report = Reporter(__name__)

SEEDS = {"train": 2017, "test": 2018}


def stack_digits(images: torch.Tensor, labels: torch.Tensor, n: int, seed: int):
    """(N, 1, H, W) digits -> (n, 3, H, W) stacks and their modes (n,), drawn with a fixed seed."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(images), (n, 3), generator=g)                 # (n, 3): red, green, blue digits
    stacks = images[idx.reshape(-1)].reshape(n, 3, *images.shape[2:])     # (n, 3, H, W)
    modes = labels[idx] @ torch.tensor([100, 10, 1])                       # (n,)
    return stacks, modes


@SOURCES.register("stacked-mnist", info=DatasetInfo(
    kind="image", shape=image_shape, native=(3, 28, 28), picture="grid", features="mnist",
    metrics=("stacked",), classifier="mnist", modes=True))
def stacked_mnist(cfg, verbose: bool = True) -> ImageData:
    """The stacked-mnist source (needs data.channels=3)."""
    if cfg.channels not in (None, 3):
        raise GankitError("stacked-mnist images have 3 channels (one digit each); set data.channels=3")
    images, labels = load_idx("mnist", cfg.split, cfg.root, verbose)
    stacks, modes = stack_digits(images, labels, len(images), SEEDS[cfg.split])
    _report.say(f"stacked-mnist {cfg.split}: {len(stacks)} images of 3 stacked digits", verbose)
    return finish(stacks, modes, cfg, "stacked-mnist", list(range(1000)))
