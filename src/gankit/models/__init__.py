"""Generator/discriminator pairs, registered by name.

A builder takes (ModelConfig, data shape) and returns (G, D): ``Network``s that declare their ``ModelTraits``
(models/traits.py: multi-scale, element-wise, conditional, ...; the defaults are the plain case). G maps noise
(B, latent_dim) to data (B, *shape); D maps data to logits (B,). Final sigmoids are folded into the
losses (BCE on logits equals Sigmoid + BCELoss, computed stably).

Example:
    >>> from gankit.config import ModelConfig
    >>> G, D = build_models(ModelConfig(name="mlp"), (1, 28, 28))
    >>> D(G(torch.randn(2, 128))).shape
    torch.Size([2])
"""
from __future__ import annotations

from typing import Tuple

from torch import nn

from ..config import ModelConfig
from . import dcgan, keras_dcgan, mlp, msg, pix2pix, projected, resnet  # noqa: F401  (importing them registers the builders)
from .clusters import clustered_models
from .conditional import conditional_models
from .layers import apply_d_options
from .registry import MODELS, ModelInfo  # noqa: F401 (re-exported)
from .traits import ModelTraits, Network, traits_of  # noqa: F401 (re-exported)


def build_models(cfg: ModelConfig, shape: Tuple[int, ...], classes: int = 0) -> Tuple[nn.Module, nn.Module]:
    """Build (G, D) for data of the given shape and apply D-wide options (spectral norm, packing).

    With model.conditional, G takes (z, y) and D (x, y) for labels y in 0..classes-1 (models/conditional.py);
    with model.clusters=K, D takes (x, y) for clusters y and G takes z alone (models/clusters.py)."""
    def plain(c: ModelConfig) -> Tuple[nn.Module, nn.Module]:
        G, D = MODELS.get(c.name)(c, tuple(shape))
        return G, apply_d_options(D, c)
    if cfg.conditional:
        return conditional_models(cfg, tuple(shape), classes, plain)
    if cfg.clusters:   # self-conditioning on clusters of the images (models/clusters.py)
        return clustered_models(cfg, tuple(shape), plain)
    return plain(cfg)


__all__ = ["MODELS", "ModelTraits", "Network", "build_models", "traits_of"]
