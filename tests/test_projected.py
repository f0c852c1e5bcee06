"""The projected discriminator beside MSG-GAN's pixel D (models/projected.py)."""
from __future__ import annotations

import pytest
import torch

from gankit.config import ModelConfig
from gankit.errors import GankitError
from gankit.models import build_models, effnet
from gankit.models.projected import ProjectedDiscriminator

try:
    effnet.weight_file()
    HAVE_WEIGHTS = True
except GankitError:
    HAVE_WEIGHTS = False
pytestmark = pytest.mark.skipif(not HAVE_WEIGHTS, reason="EfficientNet-Lite0 weights are not installed")


def _build(r: int = 32, c: int = 3, seed: int = 0):
    torch.manual_seed(seed)
    return build_models(ModelConfig(name="msg-projected", latent_dim=16, g_channels=8, d_channels=8,
                                    max_channels=32, eq_lr=True), (c, r, r))


def test_logits_weigh_pixel_and_feature_heads_equally():
    G, D = _build()
    assert isinstance(D, ProjectedDiscriminator)
    out = D(G(torch.randn(4, 16)))
    k = out.shape[1] // 2
    assert out.shape == (4, 2 * k) and k > 0 and torch.isfinite(out).all()
    pix = D.pixel(G(torch.randn(4, 16)))
    assert pix.shape == (4,)
    # the first K columns are the pixel D's logit repeated
    assert torch.equal(out[:, :k], out[:, :1].expand(-1, k))


def test_trunk_is_frozen_and_not_part_of_the_weights():
    _, D = _build()
    names = set(D.state_dict())
    assert not any(n.startswith("trunk") for n in names)
    assert {"ccm0", "ccm1", "ccm2", "csm0", "csm1"} <= names           # fixed projections: saved, not trained
    trainable = {n for n, p in D.named_parameters()}
    assert not any(n.startswith(("ccm", "csm")) for n in trainable)
    assert all(not p.requires_grad for p in D.trunk.parameters())
    # the trunk is the ImageNet network: it classifies a flat grey image as something with finite logits
    assert torch.isfinite(D.trunk.classify(torch.full((1, 3, 64, 64), 0.5))).all()


def test_g_gets_gradient_through_the_frozen_features():
    G, D = _build()
    z = torch.randn(2, 16)
    D.pixel.requires_grad_(False)                  # only the projected path can carry G's gradient now
    for p in D.heads.parameters():
        p.requires_grad_(True)
    images = G(z)
    loss = D(images)[:, D(images).shape[1] // 2:].mean()
    loss.backward()
    grads = [p.grad for p in G.parameters() if p.grad is not None]
    assert grads and sum(float(g.abs().sum()) for g in grads) > 0


def test_same_seed_same_projections_and_growing_is_delegated():
    _, D1 = _build(seed=3)
    _, D2 = _build(seed=3)
    _, D3 = _build(seed=4)
    assert torch.equal(D1.ccm0, D2.ccm0) and not torch.equal(D1.ccm0, D3.ccm0)
    D1.set_lod(1, 0.5)                             # 8 px, half faded in: the pixel D's position
    assert D1.pixel.lod == (1, 0.5) and D1.lod == (1, 0.5) and D1.reads == 2
    small = [torch.rand(2, 3, 4, 4) * 2 - 1, torch.rand(2, 3, 8, 8) * 2 - 1]
    assert D1(small).shape[0] == 2                 # the features see the 8 px image upsampled to 32


def test_grayscale_data():
    G, D = _build(c=1)
    assert D(G(torch.randn(2, 16))).shape[0] == 2
