"""Feature networks for style transfer, registered by name, each with the layers and weights that suit it.

    >>> from gankit.style.backbones import BACKBONES
    >>> BACKBONES.names()
    ['effnet-lite0', 'effnet-lite0-gram', 'vgg19']
    >>> net = BACKBONES.get("effnet-lite0")(pretrained=False)   # random weights, for tests
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Optional

import torch
from torch import nn

from ..models import effnet
from ..registry import CALLABLE, Registry
from . import vgg
from .losses import softmax_smooth

BACKBONES = Registry("backbone", expects=CALLABLE)


@dataclass
class StyleNet:
    """A frozen feature network plus the recipe that works with it.

    ``smooth`` applies the SWAG softmax (Wang et al., 2021) to every feature map before the losses; the
    default loss weights are the ones chosen by looking at results (docs/style.md).
    """
    net: nn.Module                        # forward(x in [0, 1], layers) -> {layer: (B, C, H, W)}
    content_layers: Dict[str, float]
    style_layers: Dict[str, float]
    content_weight: float = 1.0
    style_weight: float = 1.0
    tv_weight: float = 0.0
    smooth: bool = False
    temperature: float = 1.0
    optimizer: str = "lbfgs"              # the default when the user does not choose
    adam_lr: float = 0.02                 # step size in pixel units ([0, 1]) for --optimizer adam
    bf16: bool = False                    # bf16 autocast by default (pays off for dense convs only)
    name: str = field(default="custom")

    def features(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Features of every content and style layer (smoothed if the recipe says so)."""
        feats = self.net(x, set(self.content_layers) | set(self.style_layers))
        if self.smooth:
            feats = {k: softmax_smooth(v, self.temperature) for k, v in feats.items()}
        return feats


def freeze(net: nn.Module) -> nn.Module:
    return net.eval().requires_grad_(False)


effnet_weight_file = effnet.weight_file


EFFNET_STYLE = ("stem", "b0", "b2", "b4", "b7", "b10")  # strides 2, 2, 4, 8, 16, 16


def _effnet(pretrained: bool) -> nn.Module:
    net = effnet.EffNetLite0()
    if pretrained:
        sd = torch.load(effnet_weight_file(), map_location="cpu", weights_only=True)
        net.load_state_dict(effnet.convert_state_dict(sd))
    return freeze(effnet.fold_batchnorm(net.eval()))


@BACKBONES.register("effnet-lite0")
def effnet_lite0(pretrained: bool = True) -> StyleNet:
    """EfficientNet-Lite0 (the offline default): block outputs, SWAG softmax at temperature 32, L-BFGS.

    Chosen by looking at results (docs/style.md). The linear block outputs carry the texture but are
    peaky (values to +-50): a softmax at T=1 sharpens them further and the optimisation diverges; at T=32
    it flattens them as SWAG intends and moves the colours closer to the style than plain Gram losses.
    """
    return StyleNet(_effnet(pretrained), content_layers={"b7": 1.0},
                    style_layers={name: 1.0 for name in EFFNET_STYLE},
                    content_weight=1.0, style_weight=3e5, tv_weight=10.0, smooth=True, temperature=32.0,
                    optimizer="lbfgs", adam_lr=0.02, name="effnet-lite0")


@BACKBONES.register("effnet-lite0-gram")
def effnet_lite0_gram(pretrained: bool = True) -> StyleNet:
    """The same layers with plain Gram losses: sharper structure, colours nearer the content's."""
    net = effnet_lite0(pretrained)
    net.smooth, net.style_weight, net.name = False, 300.0, "effnet-lite0-gram"
    return net


@BACKBONES.register("vgg19")
def vgg19(pretrained: bool = True, weights: Optional[Path] = None) -> StyleNet:
    """Classic Gatys et al. recipe: content relu4_2, style relu1_1..relu5_1, average pooling."""
    net = vgg.load_vgg19(weights, pool="avg") if pretrained else vgg.VGG19(pool="avg")
    return StyleNet(freeze(net), content_layers={"relu4_2": 1.0},
                    style_layers={f"relu{i}_1": 1.0 for i in range(1, 6)},
                    content_weight=1.0, style_weight=1e6, tv_weight=0.0, smooth=False,
                    optimizer="lbfgs", name="vgg19")


def get_backbone(name_or_net: "str | StyleNet") -> StyleNet:
    """A registered backbone by name (did-you-mean on a typo), or a StyleNet passed through."""
    if isinstance(name_or_net, StyleNet):
        return name_or_net
    factory: Callable[..., StyleNet] = BACKBONES.get(name_or_net)
    return factory()

