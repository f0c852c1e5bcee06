"""MSG-GAN (models/msg.py) and image pyramids (models/pyramid.py): shapes, gradients, equalised learning rate."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gankit.config import ModelConfig
from gankit.errors import GankitError
from gankit.models import MODELS, build_models
from gankit.models.layers import batch_dependent
from gankit.models.msg import Conv, LatentTo4x4, widths
from gankit.models.pyramid import finest, is_multiscale, levels_for, pyramid


def _build(r: int, c: int = 3, **kw):
    torch.manual_seed(0)
    return build_models(ModelConfig(name="msg", latent_dim=32, g_channels=16, d_channels=16, **kw), (c, r, r))


@pytest.mark.parametrize("r", [32, 64, 128])
def test_shapes_at_each_resolution(r):
    G, D = _build(r)
    assert is_multiscale(G) and is_multiscale(D) and "msg" in MODELS
    out = G(torch.randn(4, 32))
    assert [tuple(o.shape) for o in out] == [(4, 3, 4 << i, 4 << i) for i in range(levels_for(r))]
    assert all(o.abs().max() <= 1 for o in out)                       # tanh after every toRGB
    assert D(out).shape == (4,)
    real = torch.rand(4, 3, r, r) * 2 - 1
    logits = D(pyramid(real, D.levels))
    assert logits.shape == (4,) and torch.isfinite(logits).all()
    assert torch.allclose(D(real), logits)                            # a tensor is pooled into the pyramid
    assert finest(out) is out[-1] and finest(real) is real


def test_grayscale_and_widths():
    G, D = _build(64, c=1)
    out = G(torch.randn(2, 32))
    assert out[-1].shape == (2, 1, 64, 64) and D(out).shape == (2,)
    # base at 32x32, x2 per halving of size, capped, at least 8 (the table in msg.py)
    assert widths(64, 128, 256) == [256, 256, 128, 64, 32, 16]
    assert widths(64, 256, 256)[-1] == 8 and widths(32, 32, 64) == [64, 64, 64, 32]


def test_pyramid_is_average_pooling():
    x = torch.rand(3, 2, 32, 32)
    levels = pyramid(x, 4)
    assert levels[-1] is x
    for p in levels:
        s = 32 // p.shape[-1]
        assert torch.allclose(p, F.avg_pool2d(x, s), atol=1e-6)       # the mean of each s x s block
    with pytest.raises(GankitError):
        pyramid(torch.rand(1, 1, 24, 24), 5)                          # 24 cannot be halved four times
    with pytest.raises(GankitError):
        levels_for(28)


def test_gradients_reach_every_generator_level():
    G, D = _build(64)
    out = G(torch.randn(4, 32))
    grads = torch.autograd.grad(D(out).sum(), out)                    # D reads every scale directly
    assert all(g.abs().sum() > 0 for g in grads)
    G.zero_grad()
    D(G(torch.randn(4, 32))).mean().backward()
    for rgb in G.to_rgb:                                               # each level's toRGB is trained
        assert rgb.weight.grad is not None and rgb.weight.grad.abs().sum() > 0


def test_eq_lr_scales_weights_at_run_time():
    (G1, _), (G0, _) = _build(32, eq_lr=True), _build(32, eq_lr=False)  # the same seed: the same draws
    convs = [(a, b) for a, b in zip(G1.modules(), G0.modules()) if isinstance(a, (Conv, LatentTo4x4))]
    assert len(convs) > 8
    for eq, plain in convs:
        k = eq.weight.shape[-1]
        fan_in = eq.weight.shape[0] if isinstance(eq, LatentTo4x4) else eq.weight.shape[1] * k * k
        gain = 1.0 if eq in list(G1.to_rgb) else math.sqrt(2)         # toRGB: linear output, gain 1
        assert eq.wscale == pytest.approx(gain / math.sqrt(fan_in))
        assert torch.allclose(plain.weight, eq.weight * eq.wscale)    # stored N(0, 1) vs scaled once
    w = G1.blocks[1][1].weight                                         # a 3x3 conv: std ~1 stored
    assert 0.9 < w.std().item() < 1.1
    z = torch.randn(4, 32)
    assert torch.allclose(G1(z)[-1], G0(z)[-1], atol=1e-5)            # the same function at the start
    # but the gradient w.r.t. the stored weight is wscale times as large, so Adam's steps (which ignore the
    # gradient's scale) change every layer's effective weight by the same relative amount
    g1 = torch.autograd.grad(G1(z)[-1].sum(), w)[0]
    g0 = torch.autograd.grad(G0(z)[-1].sum(), G0.blocks[1][1].weight)[0]
    assert torch.allclose(g1, g0 * G1.blocks[1][1].wscale, rtol=1e-3, atol=1e-7)


def test_discriminator_options():
    G, D = _build(32, spectral_norm=True, mbstd=True, eq_lr=True)
    assert any(hasattr(m, "parametrizations") for m in D.modules())   # spectral norm on the convs
    assert sum(type(m).__name__ == "MinibatchStd" for m in D.modules()) == 1  # mbstd built in, not doubled
    assert batch_dependent(D)                                          # real and fake go through D apart
    assert D(G(torch.randn(4, 32))).shape == (4,)
    with pytest.raises(GankitError, match="model.pack=2"):
        _build(32, pack=2)
    with pytest.raises(GankitError, match="sizes"):
        D([torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 16, 16)])
    with pytest.raises(GankitError, match="power of two"):
        build_models(ModelConfig(name="msg"), (1, 28, 28))


def test_min_channels_and_bilinear_upsampling():
    """model.min_channels widens only the finest layers; model.g_upsample=bilinear leaves no 2x2 blocks."""
    assert widths(16, 64, 256) == [128, 64, 32, 16, 8]
    assert widths(16, 64, 256, floor=16) == [128, 64, 32, 16, 16]
    with pytest.raises(GankitError):
        widths(16, 64, 256, floor=512)
    G, D = _build(32, min_channels=16, g_upsample="bilinear")
    assert G.blocks[-1][1].out_channels == 16 and D.width[-1] == 16
    up = G.blocks[1][0]
    x = torch.arange(16.0).view(1, 1, 4, 4)
    y = up(x)                                    # bilinear: neighbouring output pixels differ inside a 2x2 block
    assert y.shape == (1, 1, 8, 8) and not torch.equal(y[..., 0::2, 0::2], y[..., 1::2, 1::2])
    Gn, _ = _build(32)
    yn = Gn.blocks[1][0](x)                      # nearest: each 2x2 block is one value
    assert torch.equal(yn[..., 0::2, 0::2], yn[..., 1::2, 1::2])
