"""The model contract: what a generator or discriminator says of itself, so nothing has to probe for it.

Every gankit network subclasses ``Network`` (an ``nn.Module``) and declares ``traits``, a ``ModelTraits`` whose
defaults are the plain case: one image (or vector) in or out, one logit per sample, a latent of
``model.latent_dim``. The loss, the sampler, the builder's D options, export and sampling read
``traits_of(net)``; a plain ``nn.Module`` (a model registered from outside) has the plain traits.

A network with ``traits.multiscale`` takes or makes a list of images, coarse -> fine, and provides ``Pyramidal``
(``levels``, ``reads``, ``grow``: its progressive-growing position, models/msg.py). A D whose input is read by
more than one layer says which in ``input_layers()`` (PacGAN widens them). A layer whose output for one sample
depends on the others subclasses ``BatchDependent`` (the loss then runs real and fake through D apart).

Example:
    >>> class MyD(Network):
    ...     traits = ModelTraits(mbstd_builtin=True)   # model.mbstd adds no layer: the architecture has one
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Protocol, Tuple

import torch
from torch import nn


@dataclass(frozen=True)
class ModelTraits:
    """What a network is; the defaults are the plain case."""
    multiscale: bool = False     # G makes / D takes a list of images, coarse -> fine (MSG-GAN); see Pyramidal
    elementwise: bool = False    # G maps each noise value alone (the 1-D lesson): noise as wide as the data
    translates: bool = False     # G maps an input image (image-to-image): its "noise" is made from real images
    num_classes: int = 0         # a class-conditional network: G(z, y) / D(x, y) with y in 0..num_classes-1
    clusters: int = 0            # a G trained on clusters (models/clusters.py): G(z) reads its cluster from z,
                                 # G(z, y) draws cluster y
    mbstd_builtin: bool = False  # minibatch stddev is part of the architecture (model.mbstd adds no layer)
    multi_logit: bool = False    # D returns (B, K) logits; the losses average over them
    feature_truncation: bool = False  # G normalises z, so truncation pulls its first features toward their mean
                                      # instead (set_truncation / start_features, models/msg.py)


PLAIN = ModelTraits()


class Network(nn.Module):
    """Base class of gankit's generators and discriminators: ``traits`` and the optional parts' defaults."""
    traits: ModelTraits = PLAIN

    def input_layers(self) -> List[Tuple[nn.Module, str]]:
        """(parent, attribute) of each layer that reads D's input, for PacGAN; [] = the first Linear/Conv."""
        return []


class Pyramidal(Protocol):
    """What a network with ``traits.multiscale`` provides (models/msg.py ``Growing``)."""
    levels: int   # images in the full list: 4x4, 8x8, ... up to the resolution

    @property
    def reads(self) -> int:
        """How many images of the list it makes or reads at its growing position."""
        ...

    def grow(self, images: List[torch.Tensor]) -> List[torch.Tensor]:
        """A full pyramid as the growing position shows it (the list itself when the network is full)."""
        ...


class BatchDependent(nn.Module):
    """A layer whose output for one sample depends on the rest of the batch (minibatch stddev)."""


def traits_of(module: nn.Module) -> ModelTraits:
    """A network's traits (a DistributedDataParallel wrapper's network's); a plain nn.Module has the plain ones."""
    if isinstance(module, nn.parallel.DistributedDataParallel):
        module = module.module
    return module.traits if isinstance(module, Network) else PLAIN
