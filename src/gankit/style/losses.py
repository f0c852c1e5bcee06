"""Losses of neural style transfer (Gatys et al., 2016) and the SWAG softmax smoothing (Wang et al., 2021).

All losses are means, so their size does not depend on the image size or channel count:

    gram(F)[c, d]     = sum_p F[c, p] F[d, p] / (C * H * W)         F: (B, C, H, W), p over positions
    content_loss      = mean((F_x - F_c)^2)
    style_loss        = sum_l w_l * mean((gram(F_x^l) - gram(F_s^l))^2)
    tv_loss           = mean((x[i+1, j] - x[i, j])^2) + mean((x[i, j+1] - x[i, j])^2)
    softmax_smooth(F) = exp(F / T) / mean(exp(F / T))               over all C*H*W values of one image

Example:
    >>> f = torch.randn(1, 8, 4, 4)
    >>> gram(f).shape
    torch.Size([1, 8, 8])
"""
from __future__ import annotations

from typing import Dict, Mapping

import torch


def gram(features: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C) channel correlations, divided by C*H*W; computed in float32."""
    b, c, h, w = features.shape
    f = features.float().reshape(b, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


def softmax_smooth(features: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """SWAG: softmax over all C*H*W activations of each image, rescaled by C*H*W so its mean is 1.

    Raises the entropy of peaky activations (residual networks) so that Gram statistics describe texture
    rather than a few extreme values. The rescaling is a constant factor: it keeps loss weights readable and
    makes the result independent of the image size.
    """
    b = features.shape[0]
    flat = features.float().reshape(b, -1) / temperature  # (B, C*H*W)
    smooth = torch.softmax(flat, dim=1) * flat.shape[1]
    return smooth.reshape(features.shape)


def content_loss(x_feats: Mapping[str, torch.Tensor], c_feats: Mapping[str, torch.Tensor],
                 weights: Mapping[str, float]) -> torch.Tensor:
    """Weighted mean squared difference of features on the content layers."""
    total = torch.zeros(())
    for name, w in weights.items():
        total = total + w * torch.mean((x_feats[name].float() - c_feats[name].float()) ** 2)
    return total


def style_loss(x_feats: Mapping[str, torch.Tensor], s_grams: Mapping[str, torch.Tensor],
               weights: Mapping[str, float]) -> torch.Tensor:
    """Weighted mean squared difference of Gram matrices on the style layers (s_grams precomputed)."""
    total = torch.zeros(())
    for name, w in weights.items():
        total = total + w * torch.mean((gram(x_feats[name]) - s_grams[name]) ** 2)
    return total


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Total variation of (B, C, H, W): mean squared difference of vertical and horizontal neighbours."""
    dv = image[:, :, 1:, :] - image[:, :, :-1, :]
    dh = image[:, :, :, 1:] - image[:, :, :, :-1]
    return torch.mean(dv ** 2) + torch.mean(dh ** 2)


def grams(features: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Gram matrix of every entry (used once for the style image)."""
    return {name: gram(f) for name, f in features.items()}
