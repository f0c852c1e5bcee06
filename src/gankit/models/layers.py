"""Blocks shared by the models, and options that apply to any discriminator."""
from __future__ import annotations

from typing import Callable, List, Optional

import torch
from torch import nn

from ..config import ModelConfig
from .traits import BatchDependent, Network, traits_of


def mlp(sizes: List[int], act: nn.Module, dropout: float = 0.0, last_act: bool = False,
        norm: Optional[Callable[[int], nn.Module]] = None) -> nn.Sequential:
    """Linear layers sizes[0] -> ... -> sizes[-1] with (`norm`(width), e.g. nn.BatchNorm1d,) `act` (and dropout)
    between them."""
    layers: List[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2 or last_act:
            if norm is not None:
                layers.append(norm(sizes[i + 1]))
            layers.append(act)
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class Logits(Network):
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


class Packed(Network):
    """PacGAN (Lin et al. 2018): D judges `pack` samples at once, concatenated along channels (images) or
    features (vectors): (B, C, ...) -> (B/pack, pack*C, ...) -> logits (B/pack,).

    A collapsed G gives packs of near-identical samples, which real packs never are, so D can punish the lack
    of diversity that a one-sample D cannot see. Consecutive samples form a pack; the trainer keeps real and
    fake apart because its batch (hence B) is a multiple of `pack`.
    """

    def __init__(self, net: nn.Module, pack: int):
        super().__init__()
        self.net, self.pack = net, pack
        self.traits = traits_of(net)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        if b % self.pack:
            from ..errors import GankitError
            raise GankitError(f"model.pack={self.pack}: the discriminator judges packs of {self.pack} samples, "
                              f"so train.batch_size must be a multiple of {self.pack} (got a batch of {b})")
        return self.net(x.reshape(b // self.pack, self.pack * x.shape[1], *x.shape[2:]))


class MinibatchStdLinear(BatchDependent):
    """Minibatch standard deviation (Karras et al. 2018, ProGAN) before D's last linear layer.

    Within groups of `group` samples, the std of every feature is averaged into one number per group and
    appended to each sample's features: (B, F) -> (B, F+1) -> linear. A collapsed batch has a small std,
    which D can then use against it. The output depends on the rest of the batch, so the trainer runs real and
    fake through D separately (``batch_dependent``).
    """

    def __init__(self, linear: nn.Linear, group: int = 4):
        super().__init__()
        self.group = group
        self.linear = nn.Linear(linear.in_features + 1, linear.out_features, bias=linear.bias is not None)
        with torch.no_grad():  # keep the original weights; the new input starts with a small random weight
            self.linear.weight[:, :-1].copy_(linear.weight)
            self.linear.weight[:, -1:].copy_(linear.weight[:, :1].flatten()[torch.randperm(linear.out_features)]
                                             .view(-1, 1))
            if linear.bias is not None:
                self.linear.bias.copy_(linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, f = x.shape
        g = min(self.group, b)
        while b % g:  # the largest group size <= self.group that divides the batch
            g -= 1
        y = x.float().reshape(g, b // g, f)                        # (G, B/G, F): sample i is in group i % (B/G)
        std = (y.var(0, unbiased=False) + 1e-8).sqrt().mean(1)    # (B/G,)
        std = std.repeat(g).view(b, 1).to(x.dtype)                # (B, 1)
        return self.linear(torch.cat([x, std], 1))


def _layers(module: nn.Module, types) -> List[tuple]:
    """(parent, attribute name, layer) for each layer of the given types, in definition order."""
    found = []
    for name, child in module.named_children():
        if isinstance(child, types):
            found.append((module, name, child))
        else:
            found += _layers(child, types)
    return found


def widen_input(D: nn.Module, pack: int) -> None:
    """Give D's first Linear/Conv layer (or those ``D.input_layers()`` names) `pack` times the input channels,
    for PacGAN.

    The first slot keeps the original weights; the others get shuffled copies of them, so every slot starts
    from the model's own initial weight distribution (N(0, 0.02) for DCGAN, Kaiming for the MLPs).
    """
    named = D.input_layers() if isinstance(D, Network) else []  # several layers read it (ResNet: conv, shortcut)
    for parent, name in named:
        _widen(parent, name, pack)
    if named:
        return
    first = _layers(D, (nn.Linear, nn.Conv1d, nn.Conv2d))
    if not first:
        raise ValueError("model.pack needs a discriminator whose first layer is Linear or Conv")
    _widen(first[0][0], first[0][1], pack)


def _widen(parent: nn.Module, name: str, pack: int) -> None:
    layer = getattr(parent, name)
    if isinstance(layer, nn.Linear):
        new = nn.Linear(layer.in_features * pack, layer.out_features, bias=layer.bias is not None)
    else:
        new = type(layer)(layer.in_channels * pack, layer.out_channels, layer.kernel_size, layer.stride,
                          layer.padding, layer.dilation, layer.groups, layer.bias is not None, layer.padding_mode)
    with torch.no_grad():
        w = layer.weight
        slots = [w] + [w.flatten()[torch.randperm(w.numel())].view_as(w) for _ in range(pack - 1)]
        new.weight.copy_(torch.cat(slots, 1))                    # (out, pack*in, ...)
        if layer.bias is not None:
            new.bias.copy_(layer.bias)
    setattr(parent, name, new)


def add_minibatch_std(D: nn.Module) -> None:
    """Put a minibatch-stddev feature in front of D's last Linear layer."""
    linears = _layers(D, (nn.Linear,))
    if not linears:
        raise ValueError("model.mbstd needs a discriminator that ends in a Linear layer")
    parent, name, layer = linears[-1]
    setattr(parent, name, MinibatchStdLinear(layer))


def apply_d_options(D: nn.Module, cfg: ModelConfig) -> nn.Module:
    """Options any discriminator accepts: PacGAN packing, minibatch stddev, then spectral norm on every layer.

    Example:
        >>> D = apply_d_options(D, ModelConfig(pack=4, mbstd=True, spectral_norm=True))
    """
    from ..errors import GankitError
    traits = traits_of(D)
    if cfg.pack > 1 and traits.multiscale:
        raise GankitError(f"model.pack={cfg.pack}: model {cfg.name!r} has a multi-scale discriminator, which packing "
                          "does not support; use model.pack=1 (its minibatch-stddev layer already sees the batch)")
    try:
        if cfg.pack > 1:
            widen_input(D, cfg.pack)
        if cfg.mbstd and not traits.mbstd_builtin:  # msg: minibatch stddev is part of its D
            add_minibatch_std(D)
    except ValueError as e:
        raise GankitError(f"{e} (model {cfg.name!r})")
    if cfg.spectral_norm:
        spectral_normalize(D)
    if cfg.pack > 1:
        D = Packed(D, cfg.pack)
    elif cfg.pack < 1:
        raise GankitError(f"model.pack must be 1 (off) or more, got {cfg.pack}")
    return D


def batch_dependent(module: nn.Module) -> bool:
    """True when a module's output for one sample depends on the others in the batch (BatchNorm in train mode)."""
    return any(isinstance(m, (nn.modules.batchnorm._BatchNorm, BatchDependent)) for m in module.modules())
