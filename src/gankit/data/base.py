"""In-memory dataset types shared by every source."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F


@dataclass
class ImageData:
    """Images as uint8 (N, C, H, W); ``batch(idx)`` gives floats in [-1, 1].

    With ``mirror`` (data.mirror) the dataset is doubled: index i < N is image i, index N + i its horizontal
    mirror, flipped when the batch is made (StyleGAN2-ADA's --mirror). The trainer's shuffled order over 2N
    indices decides which half of the data is mirrored, so resuming from a checkpoint stays exact.
    """
    images: torch.Tensor
    labels: Optional[torch.Tensor] = None
    name: str = "images"
    kind: str = "image"
    mirror: bool = False
    class_names: List[str] = field(default_factory=list)   # labels index this list (conditional training)

    def __post_init__(self) -> None:
        assert self.images.dtype == torch.uint8 and self.images.dim() == 4, "images must be uint8 (N, C, H, W)"

    def __len__(self) -> int:
        return self.images.shape[0] * (2 if self.mirror else 1)

    @property
    def shape(self) -> Tuple[int, ...]:
        return tuple(self.images.shape[1:])

    def batch(self, idx: torch.Tensor) -> torch.Tensor:
        if self.mirror:
            n = self.images.shape[0]
            x = self.images[idx % n]                                          # (B, C, H, W) uint8
            x = torch.where((idx >= n).view(-1, 1, 1, 1), x.flip(-1), x)      # the mirrored half
        else:
            x = self.images[idx]
        return x.float().div_(127.5).sub_(1.0)                                # float in [-1, 1]

    def subset(self, n: int) -> "ImageData":
        labels = None if self.labels is None else self.labels[:n]
        return ImageData(self.images[:n], labels, self.name, mirror=self.mirror, class_names=self.class_names)

    def resized(self, resolution: int) -> "ImageData":
        """Bilinear (antialiased) resize, e.g. MNIST 28 -> 32 for a DCGAN-32."""
        if self.images.shape[-1] == resolution:
            return self
        x = F.interpolate(self.images.float(), size=(resolution, resolution), mode="bilinear",
                          antialias=True, align_corners=False)
        return ImageData(x.round().clamp(0, 255).to(torch.uint8), self.labels, self.name, mirror=self.mirror,
                         class_names=self.class_names)

    def batch_labels(self, idx: torch.Tensor) -> torch.Tensor:
        """The class of each index of ``batch(idx)`` (a mirrored image keeps its class): (B,) int64."""
        if self.labels is None:
            from ..errors import GankitError
            raise GankitError(f"{self.name} has no labels, so it cannot train a conditional model")
        return self.labels[idx % self.images.shape[0]]


@dataclass
class ToyData:
    """A distribution to sample from: ``sample(n, generator)`` gives (n, D) floats."""
    sampler: Callable[[int, torch.Generator], torch.Tensor]
    dim: int
    epoch_size: int
    name: str = "toy"
    modes: Optional[torch.Tensor] = None      # (M, D) mode centres for the 2-D mixtures
    mode_std: float = 0.0
    target: dict = field(default_factory=dict)
    kind: str = "vector"

    def __len__(self) -> int:
        return self.epoch_size

    @property
    def shape(self) -> Tuple[int, ...]:
        return (self.dim,)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.sampler(n, generator)


def to_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """(N, C, H, W) uint8 with C in {1, 3} -> the requested number of channels."""
    c = images.shape[1]
    if c == channels:
        return images
    if c == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    if c == 3 and channels == 1:
        w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)  # ITU-R 601 luma, as PIL's "L"
        return (images.float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    raise ValueError(f"cannot convert {c} channels to {channels}")


def finish(images: torch.Tensor, labels: Optional[torch.Tensor], cfg, name: str,
           classes_known: Optional[List[int]] = None, names: Sequence[str] = ()) -> ImageData:
    """Apply the class filter, channel count and resolution a DataConfig asks for.

    With ``names`` (the source's class names, label i is ``names[i]``) the labels become indices into the classes
    kept: data.classes=[6, 3] on CIFAR-10 gives class_names ["cat", "frog"] and labels 0 and 1.
    """
    from ..errors import GankitError
    if cfg.classes:
        if labels is None:
            raise GankitError(f"data.classes is set but {name} has no labels; remove data.classes")
        keep = torch.isin(labels, torch.tensor(cfg.classes))
        if not keep.any():
            raise GankitError(f"no {name} images have labels {cfg.classes}; valid labels are "
                              f"{classes_known or sorted(set(labels.tolist()))}")
        images, labels = images[keep], labels[keep]
    class_names: List[str] = []
    if names and labels is not None:
        kept = sorted(set(cfg.classes)) if cfg.classes else list(range(len(names)))
        labels = torch.searchsorted(torch.tensor(kept), labels)   # label kept[i] -> i
        class_names = [names[k] for k in kept]
    data = ImageData(to_channels(images, cfg.channels or images.shape[1]), labels, name,  # channels unset: as stored
                     class_names=class_names)
    return data.resized(cfg.resolution)
