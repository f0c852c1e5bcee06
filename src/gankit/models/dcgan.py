"""DCGAN-style conv nets at any resolution 4*2^k or 7*2^k (28, 32, 64, ...).

G: noise -> Linear -> (C0, s0, s0) -> [ConvTranspose 4x4 stride 2, BatchNorm, ReLU]... -> tanh.
D: [Conv 4x4 stride 2, LeakyReLU]... -> Linear -> logit (no BatchNorm, so real and fake can share one forward).
Lesson 002 section 7.3 (conv GAN on MNIST): strided convs + LeakyReLU in D, transposed convs + BN in G, tanh out.
"""
from __future__ import annotations

from typing import List, Tuple

import torch
from torch import nn

from ..errors import GankitError
from .registry import MODELS, ModelInfo
from .traits import Network


def plan(resolution: int) -> Tuple[int, int]:
    """(start size s0, number of doublings n) with s0 * 2^n == resolution and s0 in {4, 7}."""
    for s0 in (4, 7):
        n, s = 0, s0
        while s < resolution:
            s, n = s * 2, n + 1
        if s == resolution and n >= 1:
            return s0, n
    raise GankitError(f"dcgan needs data.resolution = 4*2^k or 7*2^k (e.g. 28, 32, 64), got {resolution}")


class DCGenerator(Network):
    def __init__(self, latent: int, channels: int, out_ch: int, resolution: int, batchnorm: bool = True,
                 extra: int = 0):
        super().__init__()
        s0, n = plan(resolution)
        widths = [channels * 2 ** (n - 1 - i) for i in range(n)]  # e.g. 28: [128, 64]; 32: [256, 128, 64]
        self.start = (widths[0], s0)
        norm = (lambda c: nn.BatchNorm2d(c)) if batchnorm else (lambda c: nn.Identity())
        def convs(c: int) -> List[nn.Module]:  # `extra` 3x3 conv blocks that keep the resolution
            return [m for _ in range(extra) for m in (nn.Conv2d(c, c, 3, 1, 1, bias=not batchnorm), norm(c),
                                                      nn.ReLU(True))]
        self.fc = nn.Sequential(nn.Linear(latent, widths[0] * s0 * s0), nn.Unflatten(1, (widths[0], s0, s0)),
                                norm(widths[0]), nn.ReLU(True), *convs(widths[0]))
        ups: List[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            ups += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=not batchnorm), norm(b), nn.ReLU(True), *convs(b)]
        ups += [nn.ConvTranspose2d(widths[-1], out_ch, 4, 2, 1), nn.Tanh()]
        self.up = nn.Sequential(*ups)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.up(self.fc(z))  # (B, C, R, R)


class DCDiscriminator(Network):
    def __init__(self, in_ch: int, channels: int, resolution: int, leak: float = 0.2, dropout: float = 0.0,
                 extra: int = 0):
        super().__init__()
        s0, n = plan(resolution)
        layers: List[nn.Module] = []
        c = in_ch
        for i in range(n):
            w = channels * 2 ** i
            layers += [nn.Conv2d(c, w, 4, 2, 1), nn.LeakyReLU(leak, True)]
            for _ in range(extra):  # 3x3 conv blocks that keep the resolution
                layers += [nn.Conv2d(w, w, 3, 1, 1), nn.LeakyReLU(leak, True)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            c = w
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c * s0 * s0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).flatten(1)).squeeze(1)  # (B,)


@MODELS.register("dcgan", info=ModelInfo(
    data="image", sizes=lambda r: any(r == s0 << k for s0 in (4, 7) for k in range(1, r.bit_length())),
    sizes_text="4*2^k or 7*2^k with k >= 1 (8, 14, 16, 28, 32, 56, 64, 112, 128, ...)",
    keys=("model.latent_dim", "model.g_channels", "model.d_channels", "model.leak", "model.d_dropout",
          "model.g_batchnorm", "model.g_extra", "model.d_extra", "model.conditional", "model.g_cond")))
def build_dcgan(cfg, shape):
    c, h, w = shape
    G = DCGenerator(cfg.latent_dim, cfg.g_channels, c, h, cfg.g_batchnorm is not False, cfg.g_extra)
    D = DCDiscriminator(c, cfg.d_channels, h, cfg.leak, cfg.d_dropout, cfg.d_extra)
    for m in list(G.modules()) + list(D.modules()):  # DCGAN init: N(0, 0.02) weights, BN gamma N(1, 0.02)
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return G, D
