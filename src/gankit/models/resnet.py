"""SNGAN-style ResNet generator and discriminator (Miyato et al. 2018, appendix B.4; Gulrajani et al. 2017)
for 32x32 and 28x28 images.

G: z -> Linear -> (Cg, s0, s0) -> [up-block] x n -> BN, ReLU, conv3x3 -> tanh, with s0 = 4 (32x32, n = 3) or
   7 (28x28, n = 2). Up-block: BN, ReLU, nearest 2x, conv3x3, BN, ReLU, conv3x3; shortcut: 2x, conv1x1.
D: optimised first block (conv3x3, ReLU, conv3x3, avg-pool; shortcut avg-pool, conv1x1) -> down-block ->
   two plain blocks -> ReLU -> sum over space -> Linear -> logit. Block: ReLU, conv3x3, ReLU, conv3x3
   (+ avg-pool); shortcut conv1x1 (+ avg-pool) when the shape changes. No BatchNorm in D, so real and fake
   share one forward and spectral norm (``model.spectral_norm=true``, as in SNGAN) sits on every layer.

Widths: ``model.g_channels`` (SNGAN: 256) and ``model.d_channels`` (SNGAN: 128).

Example:
    >>> G, D = build_resnet(ModelConfig(name="resnet", g_channels=64, d_channels=64), (3, 32, 32))
    >>> D(G(torch.randn(2, 128))).shape
    torch.Size([2])
"""
from __future__ import annotations

import math
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GankitError
from .registry import MODELS, ModelInfo
from .traits import Network


class GBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(cin), nn.BatchNorm2d(cout)
        self.c1, self.c2 = nn.Conv2d(cin, cout, 3, 1, 1), nn.Conv2d(cout, cout, 3, 1, 1)
        self.sc = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2.0, mode="nearest")     # (B, Cin, 2H, 2W)
        h = self.c2(F.relu(self.bn2(self.c1(h))))                                     # (B, Cout, 2H, 2W)
        return h + self.sc(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class DBlock(nn.Module):
    def __init__(self, cin: int, cout: int, down: bool, first: bool = False):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(cin, cout, 3, 1, 1), nn.Conv2d(cout, cout, 3, 1, 1)
        self.sc = nn.Conv2d(cin, cout, 1) if (down or cin != cout) else None
        self.down, self.first = down, first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)  # the first block sees the image itself: no ReLU in front
        h = self.c2(F.relu(self.c1(h)))
        if self.down:
            h = F.avg_pool2d(h, 2)
        s = x
        if self.sc is not None:
            # SNGAN's optimised block pools before the 1x1 conv; the others convolve first (same result, cheaper)
            s = self.sc(F.avg_pool2d(s, 2)) if (self.first and self.down) else self.sc(s)
            s = F.avg_pool2d(s, 2) if (self.down and not self.first) else s
        return h + s


class ResGenerator(Network):
    def __init__(self, latent: int, ch: int, out_ch: int, s0: int, n_up: int):
        super().__init__()
        self.ch, self.s0 = ch, s0
        self.fc = nn.Linear(latent, ch * s0 * s0)
        self.blocks = nn.Sequential(*[GBlock(ch, ch) for _ in range(n_up)])
        self.out = nn.Sequential(nn.BatchNorm2d(ch), nn.ReLU(), nn.Conv2d(ch, out_ch, 3, 1, 1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(-1, self.ch, self.s0, self.s0)   # (B, Cg, s0, s0)
        return self.out(self.blocks(h))                       # (B, C, R, R)


class ResDiscriminator(Network):
    def __init__(self, in_ch: int, ch: int):
        super().__init__()
        self.blocks = nn.Sequential(DBlock(in_ch, ch, down=True, first=True),   # R/2
                                    DBlock(ch, ch, down=True),                   # R/4
                                    DBlock(ch, ch, down=False), DBlock(ch, ch, down=False))
        self.fc = nn.Linear(ch, 1)

    def input_layers(self) -> List[Tuple[nn.Module, str]]:
        """(parent, name) of the layers that read the image: PacGAN widens both."""
        return [(self.blocks[0], "c1"), (self.blocks[0], "sc")]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))   # (B, Cd): global sum pooling
        return self.fc(h).squeeze(1)                  # (B,)


def _init(module: nn.Module) -> None:
    """SNGAN's initialisation: Xavier-uniform, gain sqrt(2) on 3x3 convs, 1 on 1x1 convs and linears."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            gain = math.sqrt(2) if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3) else 1.0
            nn.init.xavier_uniform_(m.weight, gain)
            nn.init.zeros_(m.bias)


@MODELS.register("resnet", info=ModelInfo(
    data="image", sizes=lambda r: r in (28, 32), sizes_text="28 or 32",
    keys=("model.latent_dim", "model.g_channels", "model.d_channels")))
def build_resnet(cfg, shape):
    c, h, w = shape
    plans = {32: (4, 3), 28: (7, 2)}
    if h != w or h not in plans:
        raise GankitError(f"resnet is defined for 32x32 and 28x28 images; set data.resolution to 32 or 28 "
                          f"(got {h}x{w})")
    s0, n_up = plans[h]
    G = ResGenerator(cfg.latent_dim, cfg.g_channels, c, s0, n_up)
    D = ResDiscriminator(c, cfg.d_channels)
    _init(G)
    _init(D)
    return G, D
