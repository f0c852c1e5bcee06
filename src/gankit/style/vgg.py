"""VGG19 built in gankit (no torchvision), loading torchvision's ImageNet weight file ``vgg19-dcbb9e9d.pth``.

The module keeps torchvision's ``features.N`` numbering so the file loads as is; the classifier is not built.
Layer names follow the literature: conv1_1, relu1_1, ..., pool1, ..., relu5_4, pool5.

Where the weights are looked for, in order: $GANKIT_WEIGHTS, ~/.cache/gankit/weights, torchvision's own cache
(~/.cache/torch/hub/checkpoints); then, when online, the file is downloaded from download.pytorch.org.

Example:
    >>> net = VGG19()                                   # random weights
    >>> net(torch.zeros(1, 3, 32, 32), ["relu2_1"])["relu2_1"].shape
    torch.Size([1, 128, 16, 16])
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import torch
from torch import nn

from ..data.fetch import file_digest
from ..errors import GankitError

WEIGHT_FILE = "vgg19-dcbb9e9d.pth"
WEIGHT_URL = f"https://download.pytorch.org/models/{WEIGHT_FILE}"
# Channels per block; "M" is a 2x2 pooling. This is torchvision's configuration "E".
CFG: List[object] = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                     512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def layer_names() -> List[str]:
    """Names of the modules in ``features`` in order: conv1_1, relu1_1, conv1_2, relu1_2, pool1, ..."""
    names, block, idx = [], 1, 1
    for v in CFG:
        if v == "M":
            names.append(f"pool{block}")
            block, idx = block + 1, 1
        else:
            names += [f"conv{block}_{idx}", f"relu{block}_{idx}"]
            idx += 1
    return names


class VGG19(nn.Module):
    """VGG19 feature trunk; ``pool="avg"`` replaces max pooling by average pooling (Gatys et al.)."""

    def __init__(self, pool: str = "max") -> None:
        super().__init__()
        layers: List[nn.Module] = []
        cin = 3
        for v in CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2) if pool == "max" else nn.AvgPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=False)]
                cin = int(v)
        self.features = nn.Sequential(*layers)
        self.names = layer_names()
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def tap_names(self) -> List[str]:
        return list(self.names)

    def forward(self, x: torch.Tensor, layers: Iterable[str]) -> Dict[str, torch.Tensor]:
        """x: (B, 3, H, W) in [0, 1] -> {layer: features}; stops after the deepest layer asked for."""
        want = set(layers)
        unknown = want - set(self.names)
        if unknown:
            raise KeyError(f"unknown VGG19 layer(s) {sorted(unknown)}")
        taps: Dict[str, torch.Tensor] = {}
        h = (x - self.mean) / self.std
        for name, module in zip(self.names, self.features):
            if len(taps) == len(want):
                break
            h = module(h)
            if name in want:
                taps[name] = h  # relu4_2: (B, 512, H/8, W/8)
        return taps


def weight_dirs() -> List[Path]:
    """Folders searched for weight files: $GANKIT_WEIGHTS, ~/.cache/gankit/weights, torch hub's cache."""
    dirs = []
    if os.environ.get("GANKIT_WEIGHTS"):
        dirs.append(Path(os.environ["GANKIT_WEIGHTS"]).expanduser())
    dirs.append(Path.home() / ".cache" / "gankit" / "weights")
    dirs.append(Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints")
    return dirs


def find_vgg19_weights(download: bool = True) -> Path:
    """Path of ``vgg19-dcbb9e9d.pth``: a local copy, else a download into the first weight folder.

    Setting $GANKIT_OFFLINE skips the download attempt (and its timeout).
    """
    for d in weight_dirs():
        if (d / WEIGHT_FILE).is_file():
            return d / WEIGHT_FILE
    dest = weight_dirs()[0] / WEIGHT_FILE
    if download and not os.environ.get("GANKIT_OFFLINE"):
        from ..data.fetch import download as fetch
        if fetch(WEIGHT_URL, dest, verbose=True, timeout=30.0):
            digest = file_digest(dest, "sha256")
            if digest.startswith(WEIGHT_FILE.split("-")[1][:8]):
                return dest
            dest.unlink()
    raise GankitError(f"VGG19 ImageNet weights not found: put {WEIGHT_FILE} (from {WEIGHT_URL}) in "
                      f"{weight_dirs()[0]} or $GANKIT_WEIGHTS, or use --backbone effnet-lite0")



def load_vgg19(path: Optional[Path] = None, pool: str = "max", download: bool = True) -> VGG19:
    """VGG19 with torchvision's ImageNet weights (found or downloaded when path is None), in eval mode."""
    path = path or find_vgg19_weights(download)
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise GankitError(f"cannot read VGG19 weights {path} ({type(e).__name__}); delete it and "
                          f"download {WEIGHT_URL} again") from None
    net = VGG19(pool)
    feats = {k: v for k, v in sd.items() if k.startswith("features.")} if isinstance(sd, dict) else {}
    missing = set(net.state_dict()) - set(feats)
    if missing or any(feats[k].shape != v.shape for k, v in net.state_dict().items()):
        raise GankitError(f"{path} is not torchvision's VGG19 weight file (missing or mis-shaped "
                          f"{sorted(missing)[:2] or 'tensors'}); download {WEIGHT_URL}")
    net.load_state_dict(feats)
    return net.eval().requires_grad_(False)
