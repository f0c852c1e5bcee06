"""Blocks shared by the models, and options that apply to any discriminator."""
from __future__ import annotations

from typing import List

import torch
from torch import nn

from ..config import ModelConfig


def mlp(sizes: List[int], act: nn.Module, dropout: float = 0.0, last_act: bool = False) -> nn.Sequential:
    """Linear layers sizes[0] -> ... -> sizes[-1] with `act` (and dropout) between them."""
    layers: List[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2 or last_act:
            layers.append(act)
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class Logits(nn.Module):
    """Wraps a network whose output is (B, 1) or (B, ...) and returns logits (B,)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).reshape(x.shape[0], -1).mean(1)


def spectral_normalize(module: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) on every Linear/Conv layer of a module, in place."""
    for name, child in list(module.named_children()):
        if isinstance(child, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)):
            setattr(module, name, nn.utils.parametrizations.spectral_norm(child))
        else:
            spectral_normalize(child)
    return module


def apply_d_options(D: nn.Module, cfg: ModelConfig) -> nn.Module:
    """Options any discriminator accepts: spectral norm now; packing and minibatch-stddev where defined."""
    if cfg.spectral_norm:
        spectral_normalize(D)
    return D


def batch_dependent(module: nn.Module) -> bool:
    """True when a module's output for one sample depends on the others in the batch (BatchNorm in train mode)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) or getattr(m, "batch_dependent", False)
               for m in module.modules())
