"""Class-conditional networks (model.conditional): G(z, y) and D(x, y) for labels y in 0..K-1.

Each way of conditioning G is registered in ``G_CONDITIONING`` (``model.g_cond`` chooses one); D is the
projection discriminator of Miyato & Koyama 2018 ("cGANs with Projection Discriminator"):

    D(x, y) = head(phi(x)) + <embed(y), phi(x)>

where phi(x) is what D's last layer reads (DCGAN: the flattened features; MSG-GAN: the 1x1 activations before
its logit conv) and embed a learned (K, F) table. Any registered model family whose D ends in one Linear or Conv
layer takes it; ``CONDITIONAL_MODELS`` lists the families it was built and tested for.

G conditioning:

* ``embed`` — the class embedding (K, latent) joins the latent: G_base(concat(z, embed(y))), so the base G is
  built for twice the latent width (ProGAN's conditional variant; works with any G, MSG-GAN's included);
* ``cbn`` — conditional batch-norm (de Vries et al. 2017, BigGAN): every BatchNorm2d of G loses its own gain
  and bias and takes a per-class one, gain drawn from N(1, 0.02) (DCGAN's BatchNorm init) and bias 0 (needs
  a G with BatchNorm: dcgan).

Example:
    >>> G, D = build_models(ModelConfig(name="dcgan", conditional=True), (1, 28, 28), classes=10)
    >>> y = torch.tensor([3, 7])
    >>> D(G(torch.randn(2, 128), y), y).shape
    torch.Size([2])
"""
from __future__ import annotations

import dataclasses
from typing import Callable, List, Optional, Tuple

import torch
from torch import nn

from ..errors import GankitError
from ..registry import CALLABLE, Registry
from .traits import Network, traits_of

# model families the conditional wrappers were built for (their D ends in one Linear or Conv head)
CONDITIONAL_MODELS = ("mlp", "dcgan", "msg")

# (cfg, shape, classes, build_base) -> G taking (z, y); build_base(cfg) builds the model family's (G, D)
G_CONDITIONING = Registry("generator conditioning", expects=CALLABLE)


def check_labels(y: Optional[torch.Tensor], classes: int, who: str) -> torch.Tensor:
    if y is None:
        raise GankitError(f"this {who} is class-conditional: give the class of each sample (labels 0..{classes - 1})")
    return y


class ConditionalG(Network):
    """A base generator taking (z, y): ``traits.num_classes`` says how many classes it draws (sampling reads it)."""

    def __init__(self, base: nn.Module, classes: int, embed_dim: int = 0):
        super().__init__()
        self.base, self.num_classes = base, classes
        self.embed = nn.Embedding(classes, embed_dim) if embed_dim else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight)   # N(0, 1), as the latent it joins
        self.traits = dataclasses.replace(traits_of(base), num_classes=classes)

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None):
        y = check_labels(y, self.num_classes, "generator")
        if self.embed is not None:
            return self.base(torch.cat([z, self.embed(y).to(z.dtype)], 1))  # (B, 2L) -> the base G's output
        norms = [m for m in self.base.modules() if isinstance(m, CondBatchNorm2d)]
        for m in norms:            # the labels of this batch, for every conditional batch-norm inside nested blocks
            m.y = y
        try:
            return self.base(z)
        finally:
            for m in norms:
                m.y = None

    def __getattr__(self, name: str):
        """What the base G says of itself (progressive growing's set_lod/levels, elementwise, ...)."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            return _from_base(self, name)


class CondBatchNorm2d(nn.Module):
    """BatchNorm2d whose gain and bias are looked up per class: (B, C, H, W), y (B,) -> (B, C, H, W). The running
    statistics are its inner BatchNorm's (without affine; under torchrun on GPUs it becomes a SyncBatchNorm like
    any other); ConditionalG sets ``y`` for each forward."""

    def __init__(self, channels: int, classes: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Embedding(classes, channels)
        self.bias = nn.Embedding(classes, channels)
        nn.init.normal_(self.gain.weight, 1.0, 0.02)   # DCGAN's BatchNorm init, drawn per class
        nn.init.zeros_(self.bias.weight)
        self.y: Optional[torch.Tensor] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        y = check_labels(self.y, self.gain.num_embeddings, "generator")
        return h * self.gain(y).to(h.dtype)[:, :, None, None] + self.bias(y).to(h.dtype)[:, :, None, None]


@G_CONDITIONING.register("embed")
def _embed(cfg, shape, classes: int, build_base: Callable) -> nn.Module:
    G, _ = build_base(dataclasses.replace(cfg, latent_dim=2 * cfg.latent_dim))
    return ConditionalG(G, classes, cfg.latent_dim)


@G_CONDITIONING.register("cbn")
def _cbn(cfg, shape, classes: int, build_base: Callable) -> nn.Module:
    G, _ = build_base(cfg)
    found = _swap_batchnorm(G, classes)
    if not found:
        raise GankitError(f"model.g_cond=cbn conditions G's BatchNorm layers, but model {cfg.name!r} has none "
                          "(model.g_batchnorm=false, or a family without BatchNorm); use model.g_cond=embed")
    return ConditionalG(G, classes)


def _swap_batchnorm(module: nn.Module, classes: int) -> int:
    """Replace every BatchNorm2d inside ``module`` by a CondBatchNorm2d of the same width; returns how many."""
    n = 0
    for name, child in list(module.named_children()):
        if type(child) is nn.BatchNorm2d:
            setattr(module, name, CondBatchNorm2d(child.num_features, classes))
            n += 1
        else:
            n += _swap_batchnorm(child, classes)
    return n


class ProjectionD(Network):
    """D(x, y) = D_base(x) + <embed(y), phi(x)>, phi(x) being what D_base's last layer reads (summed over space
    when it is a feature map). Shapes: x (B, C, H, W) or a pyramid list, y (B,) -> logits (B,)."""

    def __init__(self, base: nn.Module, classes: int, spectral_norm: bool = False):
        super().__init__()
        self.base, self.num_classes = base, classes
        head = _head(base)
        width = head.in_features if isinstance(head, nn.Linear) else head.in_channels
        self.embed = nn.Embedding(classes, width)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)
        if spectral_norm:
            self.embed = nn.utils.parametrizations.spectral_norm(self.embed)
        self._phi: List[torch.Tensor] = []
        head.register_forward_pre_hook(self._keep_phi)
        self.traits = dataclasses.replace(traits_of(base), num_classes=classes)

    def _keep_phi(self, module: nn.Module, inputs: Tuple[torch.Tensor, ...]) -> None:
        self._phi.append(inputs[0])

    def forward(self, x, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        y = check_labels(y, self.num_classes, "discriminator")
        self._phi.clear()
        try:
            logit = self.base(x)                                      # (B,)
            phi = self._phi[-1]                                       # (B, F) or (B, F, h, w)
        finally:
            self._phi.clear()
        if phi.dim() == 4:
            phi = phi.sum((2, 3))                                     # (B, F)
        return logit + (self.embed(y).to(phi.dtype) * phi).sum(1).to(logit.dtype)

    def __getattr__(self, name: str):
        """What the base D says of itself (levels, grow, reads, set_lod, pyramid_of, ...)."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            return _from_base(self, name)


def _from_base(wrapper: nn.Module, name: str):
    base = wrapper.__dict__.get("_modules", {}).get("base")
    if base is None or name.startswith("__"):
        raise AttributeError(name)
    return getattr(base, name)


def _head(D: nn.Module) -> nn.Module:
    """D's last Linear or Conv layer (the one that gives the logit)."""
    layers = [m for m in D.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    if not layers:
        raise GankitError("a projection discriminator needs a D that ends in a Linear or Conv layer")
    return layers[-1]


def conditional_models(cfg, shape: Tuple[int, ...], classes: int,
                       build_base: Callable) -> Tuple[nn.Module, nn.Module]:
    """(G(z, y), D(x, y)) of a model family for ``classes`` classes; ``build_base(cfg)`` builds the plain pair
    (D with its options: spectral norm, minibatch stddev)."""
    if classes < 2:
        raise GankitError(f"model.conditional needs data with 2 or more classes, got {classes}")
    _, D = build_base(cfg)
    G = G_CONDITIONING.get(cfg.g_cond)(cfg, shape, classes, build_base)
    return G, ProjectionD(D, classes, spectral_norm=cfg.spectral_norm)
