"""Self-conditioning on clusters of the data (``model.clusters=K``): a class-conditional GAN without labels.

The images are grouped into K clusters by k-means on small thumbnails (data/clusters.py), and the pair is
trained as a class-conditional one on those cluster labels (G(z, y) conditioned as ``model.g_cond`` says, D the
projection discriminator of models/conditional.py). Prefer ``g_cond=cbn`` where G has BatchNorm: with the
class embedding joined to the latent, a DCGAN on MNIST learnt to ignore the latent and drew about one image per
cluster (docs/conditional.md). The idea is the self-conditioned GAN of Liu et al. 2020 ("Diverse Image
Generation via Self-Conditioned GANs"), which clusters D's features; here the clusters are fixed once, from the
pixels, before training. Each cluster is a smaller, more uniform distribution than the whole set, so G learns
each of them sooner and none is dropped (on MNIST, 50 clusters of 16x16 thumbnails agree with the digit labels
on ~80% of images).

From the outside the generator is unconditional: ``ClusteredG(z)`` picks its cluster from z itself, by the
inverse CDF of the clusters' shares applied to Phi(z[:, 0]) (the standard normal CDF of the first latent), so a
latent always draws the same image, clusters are drawn as often as they occur in the data, and sampling, seeds,
export and projection treat it as any unconditional G. Training uses the same rule for the fakes' labels, so G
never sees a (z, y) pair it will not be asked for.

Example:
    >>> labels = cluster_images(images_uint8, k=20)            # data/clusters.py: (N,) int64, deterministic
    >>> G, D = build_models(ModelConfig(name="dcgan", clusters=20, g_cond="cbn"), (1, 28, 28))
    >>> G.set_prior(torch.bincount(labels, minlength=20))       # the clusters' shares
    >>> G(torch.randn(4, 128)).shape                             # no labels needed
    torch.Size([4, 1, 28, 28])
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional, Tuple

import torch
from torch import nn

from ..errors import GankitError
from .conditional import _from_base, conditional_models
from .traits import Network, traits_of


class ClusteredG(Network):
    """An unconditional G(z) made of a conditional one: the cluster of each sample is read from z (see the module
    docstring); ``G(z, y)`` still draws cluster y. ``set_prior(counts)`` sets the clusters' shares (a buffer, so
    checkpoints and exports keep it)."""

    def __init__(self, base: nn.Module, clusters: int):
        super().__init__()
        self.base, self.clusters = base, clusters
        self.register_buffer("cdf", torch.arange(1, clusters + 1, dtype=torch.float32) / clusters)
        inner = traits_of(base)
        embed = getattr(base, "embed", None) is not None
        self.traits = dataclasses.replace(inner, num_classes=0, clusters=clusters,
                                          feature_truncation=inner.feature_truncation and embed)

    def set_prior(self, counts: torch.Tensor) -> None:
        """The clusters' shares from their sizes (K,)."""
        c = counts.detach().float().flatten().to(self.cdf.device)
        if c.numel() != self.clusters or (c < 0).any() or c.sum() <= 0:
            raise GankitError(f"cluster sizes must be {self.clusters} non-negative counts, got {counts.tolist()}")
        self.cdf.copy_(torch.cumsum(c / c.sum(), 0))

    def labels_of(self, z: torch.Tensor) -> torch.Tensor:
        """The cluster each latent draws: the inverse CDF of the shares at Phi(z[:, 0]); (B,) int64."""
        u = 0.5 * (1.0 + torch.erf(z[:, 0].float().to(self.cdf.device) / math.sqrt(2.0)))
        return (u[:, None] > self.cdf[None, :-1]).sum(1)

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None):
        return self.base(z, self.labels_of(z) if y is None else y)

    def start_features(self, z: torch.Tensor) -> torch.Tensor:
        """Feature truncation (models/msg.py): the first block's features for z at the cluster z draws."""
        y = self.labels_of(z)
        return self.base.base.start_features(torch.cat([z, self.base.embed(y).to(z.dtype)], 1))

    def __getattr__(self, name: str):
        """What the conditional G below says of itself (set_truncation, levels, set_lod, ...)."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            return _from_base(self, name)


def clustered_models(cfg, shape: Tuple[int, ...], build_base: Callable) -> Tuple[nn.Module, nn.Module]:
    """(ClusteredG, projection D(x, y)) for model.clusters clusters."""
    G, D = conditional_models(cfg, shape, cfg.clusters, build_base)
    return ClusteredG(G, cfg.clusters), D
