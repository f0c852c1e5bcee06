"""Fully connected nets: lesson 001's MNIST MLP GAN, the 1-D lesson's nets, and the 2-D toy nets."""
from __future__ import annotations

import math
from typing import Tuple

import torch
from torch import nn

from .layers import Logits, mlp
from .registry import MODELS, ModelInfo
from .traits import ModelTraits, Network


class MLPGenerator(Network):
    """noise (B, latent) -> hidden LeakyReLU layers -> tanh -> (B, *shape). Lesson 001: 128->256->512->1024->784.

    ``batchnorm`` puts a BatchNorm1d between each hidden Linear and its activation (DCGAN's normalisation of G,
    here in an MLP; ``mnist-fast`` uses it): each unit's activations are re-centred over the batch, so no unit
    can settle on one output for all noise — on MNIST it evens out the digits G draws (docs/performance.md)."""

    def __init__(self, latent: int, hidden, shape: Tuple[int, ...], leak: float, batchnorm: bool = False):
        super().__init__()
        self.shape = shape
        body = mlp([latent, *hidden, math.prod(shape)], nn.LeakyReLU(leak), norm=nn.BatchNorm1d if batchnorm else None)
        self.main = nn.Sequential(body, nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z).view(-1, *self.shape)  # (B, 1, 28, 28)


class MLPDiscriminator(Network):
    """(B, *shape) -> flatten -> LeakyReLU(+dropout) layers -> logit. Lesson 001: 784->1024->512->256->1, dropout 0.3."""

    def __init__(self, shape: Tuple[int, ...], hidden, leak: float, dropout: float):
        super().__init__()
        self.main = mlp([math.prod(shape), *hidden, 1], nn.LeakyReLU(leak), dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x.flatten(1)).squeeze(1)  # (B,) logits; the lesson's Sigmoid lives in the loss


@MODELS.register("mlp", info=ModelInfo(
    data="any", keys=("model.latent_dim", "model.g_hidden", "model.d_hidden", "model.leak", "model.d_dropout",
                      "model.g_batchnorm")))
def build_mlp(cfg, shape):
    G = MLPGenerator(cfg.latent_dim, cfg.g_hidden, shape, cfg.leak, bool(cfg.g_batchnorm))
    D = MLPDiscriminator(shape, cfg.d_hidden, cfg.leak, cfg.d_dropout)
    return G, D


class ElementwiseGenerator(Network):
    """Goodfellow's 1-D example: each uniform noise value is mapped by the same small net
    (1 -> h ReLU -> h sigmoid -> 1, i.e. Conv1D with kernel 1 in the lesson). (B, W) -> (B, W)."""
    traits = ModelTraits(elementwise=True)

    def __init__(self, hidden: int):
        super().__init__()
        self.main = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.Sigmoid(),
                                  nn.Linear(hidden, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.unsqueeze(-1)).squeeze(-1)


class SetDiscriminator(Network):
    """The 1-D lesson's D: a set of W draws, decorated with their squared deviations from the set mean
    (so D can judge spread as well as location), then ReLU layers -> logit.

    With ``sort`` the draws are sorted first: the same set, in a fixed order, so each input is an order
    statistic and D compares quantiles — it sees the shape of the distribution, not only its mean and spread
    (unsorted, the draws are exchangeable and a weighted sum over positions sees little beyond the first two
    moments), and D no longer depends on the order of a set's draws.

    Sorted, an unregularised D separates real from a near-constant G (G starts with a spread of ~0.01) by a
    wide margin and its gradient there tends to point to *less* spread (the decoration's gradient 2(x - m)
    vanishes at zero spread), so G collapses to a constant; the gaussian-1d preset adds R1 (``loss.r1``).
    ``leak`` 0 is the lesson's ReLU; > 0 uses LeakyReLU. (B, W) -> (B,) logits."""

    def __init__(self, width: int, hidden, sort: bool = False, leak: float = 0.0):
        super().__init__()
        self.sort = sort
        self.main = mlp([2 * width, *hidden, 1], nn.LeakyReLU(leak) if leak > 0 else nn.ReLU())  # 2W -> ... -> 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.sort:
            x = x.sort(dim=1).values  # (B, W) order statistics; gradients flow to the sorted values
        dev = (x - x.mean(1, keepdim=True)) ** 2  # (B, W) the lesson's decoration: squared deviations
        return self.main(torch.cat([x, dev], 1)).squeeze(1)  # (B, 2W) -> (B,)


@MODELS.register("toy-1d", info=ModelInfo(
    data="vector", keys=("model.g_hidden", "model.d_hidden", "model.leak", "model.d_sort")))
def build_toy_1d(cfg, shape):
    return ElementwiseGenerator(cfg.g_hidden[0]), SetDiscriminator(shape[0], cfg.d_hidden, cfg.d_sort, cfg.leak)


class ToyGenerator(Network):
    """noise (B, latent) -> ReLU MLP -> (B, D): the 2-D mixture nets (PacGAN/VEEGAN style)."""

    def __init__(self, latent: int, hidden, dim: int):
        super().__init__()
        self.main = mlp([latent, *hidden, dim], nn.ReLU())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z)


@MODELS.register("toy-mlp", info=ModelInfo(
    data="vector", keys=("model.latent_dim", "model.g_hidden", "model.d_hidden", "model.leak",
                         "model.d_dropout")))
def build_toy_mlp(cfg, shape):
    G = ToyGenerator(cfg.latent_dim, cfg.g_hidden, shape[0])
    D = Logits(mlp([shape[0], *cfg.d_hidden, 1], nn.LeakyReLU(cfg.leak), cfg.d_dropout))
    return G, D
