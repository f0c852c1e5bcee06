"""Exponential moving average of G's weights, with a horizon given in images (StyleGAN2-ADA's ema_kimg).

Example:
    >>> ema = EMA(G, kimg=10, batch_size=64)
    >>> ema.update(G, images_seen=64)     # after each G step
    >>> samples = ema.model(z)            # the averaged generator
"""
from __future__ import annotations

import copy
from typing import Any, Dict

import torch
from torch import nn


class EMA:
    def __init__(self, G: nn.Module, kimg: float, batch_size: int, rampup: float = 0.0):
        self.model = copy.deepcopy(G).eval().requires_grad_(False)
        self.kimg, self.batch_size, self.rampup = kimg, batch_size, rampup

    def beta(self, images_seen: int) -> float:
        """Per-step decay: half-life of `kimg` thousand images, shortened early on by the ramp-up."""
        horizon = self.kimg * 1000
        if self.rampup > 0:
            horizon = min(horizon, images_seen * self.rampup)
        return 0.5 ** (self.batch_size / max(horizon, 1e-8))

    @torch.no_grad()
    def update(self, G: nn.Module, images_seen: int) -> None:
        b = self.beta(images_seen)
        ema_p = list(self.model.parameters())
        torch._foreach_lerp_(ema_p, [p.detach() for p in G.parameters()], 1.0 - b)
        for eb, gb in zip(self.model.buffers(), G.buffers()):  # BN statistics are copied, not averaged
            eb.copy_(gb)

    def state_dict(self) -> Dict[str, Any]:
        return self.model.state_dict()

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.model.load_state_dict(state)
