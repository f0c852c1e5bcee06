"""The Keras-book DCGAN on CIFAR-10 frogs (lesson 004), layer for layer.

Keras defaults carried over: LeakyReLU slope 0.3 (Keras' default alpha; the lesson calls LeakyReLU()),
Glorot-uniform weights and zero biases, 'same' padding in G, 'valid' padding in D.
G: Dense(128*16*16) -> (128,16,16) -> Conv 256 k5 -> ConvT 256 k4 s2 -> Conv 256 k5 x2 -> Conv C k7 tanh.
D: Conv 128 k3 -> Conv 128 k4 s2 x3 -> flatten -> Dropout(0.4) -> Dense(1) (sigmoid folded into the loss).
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import GankitError
from .registry import MODELS, ModelInfo
from .traits import Network


class KerasGenerator(Network):
    def __init__(self, latent: int, channels: int, leak: float):
        super().__init__()
        act = lambda: nn.LeakyReLU(leak)  # noqa: E731
        self.fc = nn.Sequential(nn.Linear(latent, 128 * 16 * 16), act())
        self.net = nn.Sequential(
            nn.Conv2d(128, 256, 5, padding=2), act(),                # (B, 256, 16, 16)
            nn.ConvTranspose2d(256, 256, 4, stride=2, padding=1), act(),  # (B, 256, 32, 32): Keras 'same'
            nn.Conv2d(256, 256, 5, padding=2), act(),
            nn.Conv2d(256, 256, 5, padding=2), act(),
            nn.Conv2d(256, channels, 7, padding=3), nn.Tanh(),       # (B, C, 32, 32)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # Keras reshapes to (16, 16, 128) channels-last; the channel order is a relabelling only.
        return self.net(self.fc(z).view(-1, 128, 16, 16))


class KerasDiscriminator(Network):
    def __init__(self, channels: int, leak: float, dropout: float):
        super().__init__()
        act = lambda: nn.LeakyReLU(leak)  # noqa: E731
        self.net = nn.Sequential(
            nn.Conv2d(channels, 128, 3), act(),            # (B, 128, 30, 30)
            nn.Conv2d(128, 128, 4, stride=2), act(),       # (B, 128, 14, 14)
            nn.Conv2d(128, 128, 4, stride=2), act(),       # (B, 128, 6, 6)
            nn.Conv2d(128, 128, 4, stride=2), act(),       # (B, 128, 2, 2)
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(128 * 2 * 2, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def glorot(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)


@MODELS.register("keras-dcgan", info=ModelInfo(
    data="image", sizes=lambda r: r == 32, sizes_text="32",
    keys=("model.latent_dim", "model.leak", "model.d_dropout")))
def build_keras_dcgan(cfg, shape):
    c, h, w = shape
    if (h, w) != (32, 32):
        raise GankitError(f"keras-dcgan is defined for 32x32 images; set data.resolution=32 (got {h}x{w})")
    G, D = KerasGenerator(cfg.latent_dim, c, cfg.leak), KerasDiscriminator(c, cfg.leak, cfg.d_dropout)
    glorot(G)
    glorot(D)
    return G, D
