"""Stability building blocks in the models: spectral norm, PacGAN packing, minibatch stddev, the ResNet pair,
and one training step of every stable preset on tiny data."""
import json

import numpy as np
import pytest
import torch
from conftest import TINY
from torch import nn

from gankit import api
from gankit.config import ModelConfig, load_config
from gankit.errors import GankitError
from gankit.models import MODELS, build_models
from gankit.models.layers import MinibatchStdLinear, Packed, batch_dependent

STABLE = ["ring-2d-stable", "grid-2d-stable", "mnist-stable", "stacked-mnist-stable", "folder-stable"]


def spectral_norms(D):
    """Largest singular value of each spectrally normalised layer's weight (as the layer uses it)."""
    out = []
    for m in D.modules():
        if hasattr(m, "parametrizations") and "weight" in m.parametrizations:
            out.append(float(torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)))
    return out


@pytest.mark.parametrize("name,shape", [("toy-mlp", (2,)), ("mlp", (1, 28, 28)), ("dcgan", (1, 28, 28)),
                                        ("resnet", (3, 32, 32))])
def test_spectral_norm_bounds_the_largest_singular_value(name, shape):
    torch.manual_seed(0)
    cfg = ModelConfig(name=name, latent_dim=8, g_hidden=[16], d_hidden=[32, 32], g_channels=8, d_channels=8,
                      spectral_norm=True)
    _, D = build_models(cfg, shape)
    with torch.no_grad():                         # blow the raw weights up: SN must still bound them
        for p in D.parameters():
            p.mul_(50.0)
    x = torch.randn(4, *shape)
    for _ in range(30):                           # power iteration runs once per training-mode forward
        D(x)
    sigmas = spectral_norms(D)
    assert sigmas and max(sigmas) <= 1.0 + 1e-2, sigmas


def test_spectrally_normalised_mlp_is_1_lipschitz():
    torch.manual_seed(0)
    _, D = build_models(ModelConfig(name="toy-mlp", d_hidden=[64, 64], spectral_norm=True), (2,))
    for _ in range(30):
        D(torch.randn(64, 2))
    D.eval()
    x, y = torch.randn(500, 2), torch.randn(500, 2)
    with torch.no_grad():
        ratio = (D(x) - D(y)).abs() / (x - y).norm(dim=1)
    assert float(ratio.max()) <= 1.0 + 1e-3


def test_packing_concatenates_consecutive_samples():
    torch.manual_seed(0)
    _, D = build_models(ModelConfig(name="toy-mlp", d_hidden=[16], pack=4), (2,))
    assert isinstance(D, Packed) and D.net.net[0].in_features == 8
    x = torch.randn(16, 2)
    out = D(x)
    assert out.shape == (4,)
    x2 = x.clone()
    x2[4:8] += 1.0                                # change the second pack only
    out2 = D(x2)
    assert torch.equal(out[[0, 2, 3]], out2[[0, 2, 3]]) and out[1] != out2[1]
    with pytest.raises(GankitError, match="multiple of 4"):
        D(torch.randn(6, 2))


def test_packing_keeps_the_original_first_slot_weights():
    torch.manual_seed(0)
    _, plain = build_models(ModelConfig(name="dcgan", d_channels=8), (1, 28, 28))
    torch.manual_seed(0)
    _, packed = build_models(ModelConfig(name="dcgan", d_channels=8, pack=2), (1, 28, 28))
    w0, w = plain.features[0].weight, packed.net.features[0].weight
    assert w.shape == (8, 2, 4, 4) and torch.equal(w[:, :1], w0)
    assert torch.equal(w[:, 1:].flatten().sort().values, w0.flatten().sort().values)  # a shuffled copy


@pytest.mark.parametrize("name,shape", [("mlp", (1, 28, 28)), ("dcgan", (3, 32, 32)), ("resnet", (1, 28, 28)),
                                        ("keras-dcgan", (3, 32, 32))])
def test_pack_and_mbstd_compose_with_every_image_model(name, shape):
    cfg = ModelConfig(name=name, latent_dim=8, g_hidden=[16], d_hidden=[16], g_channels=8, d_channels=8,
                      pack=2, mbstd=True, spectral_norm=True)
    G, D = build_models(cfg, shape)
    assert D(G(torch.randn(8, 8))).shape == (4,)
    assert batch_dependent(D)                      # mbstd: the trainer must not mix real and fake in one batch


def test_minibatch_std_sees_the_batch_spread():
    lin = nn.Linear(3, 1)
    m = MinibatchStdLinear(lin, group=4)
    same = torch.ones(8, 3)
    spread = torch.randn(8, 3) * 3
    feats = {}
    m.linear.register_forward_hook(lambda mod, inp, out: feats.__setitem__("x", inp[0]))
    m(same)
    assert torch.allclose(feats["x"][:, -1], torch.full((8,), 1e-4), atol=1e-4)   # collapsed: ~0
    m(spread)
    assert (feats["x"][:, -1] > 0.5).all()
    with torch.no_grad():                         # the original weights carry over
        assert torch.equal(m.linear.weight[:, :3], lin.weight)


@pytest.mark.parametrize("shape,start", [((3, 32, 32), 4), ((1, 28, 28), 7), ((3, 28, 28), 7)])
def test_resnet_shapes(shape, start):
    G, D = build_models(ModelConfig(name="resnet", latent_dim=16, g_channels=16, d_channels=16), shape)
    assert G.s0 == start
    x = G(torch.randn(3, 16))
    assert x.shape == (3, *shape) and x.abs().max() <= 1
    assert D(x).shape == (3,)
    assert not batch_dependent(D)                 # no BatchNorm in D: real and fake share one forward
    x.requires_grad_(True)
    D(x).sum().backward()


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_dcgan_extra_conv_blocks(shape):
    cfg = ModelConfig(name="dcgan", latent_dim=8, g_channels=8, d_channels=8)
    G0, D0 = build_models(cfg, shape)
    cfg.g_extra, cfg.d_extra = 2, 1
    G, D = build_models(cfg, shape)
    def n3x3(m):
        return sum(1 for x in m.modules() if isinstance(x, nn.Conv2d) and x.kernel_size == (3, 3))
    # one block set per resolution: G's start and each upsampling but the output layer; D's strided convs
    resolutions_g = sum(isinstance(x, nn.ConvTranspose2d) for x in G0.modules())
    resolutions_d = sum(isinstance(x, nn.Conv2d) for x in D0.modules())
    assert n3x3(G0) == n3x3(D0) == 0
    assert n3x3(G) == 2 * resolutions_g and n3x3(D) == 1 * resolutions_d
    x = G(torch.randn(4, 8))
    assert x.shape == (4, *shape) and D(x).shape == (4,)
    assert not batch_dependent(D)


def test_g_batchnorm_defaults_per_architecture_and_mlp_option():
    """Unset: the lesson MLP G has no BatchNorm (and its state_dict keys are the lesson's), DCGAN's G has it;
    model.g_batchnorm=true adds one per hidden layer of the MLP G; false removes DCGAN's."""
    def n_bn(m):
        return sum(isinstance(x, (nn.BatchNorm1d, nn.BatchNorm2d)) for x in m.modules())
    mlp_cfg = ModelConfig(name="mlp", latent_dim=8, g_hidden=[16, 32], d_hidden=[16])
    G_plain, _ = build_models(mlp_cfg, (1, 28, 28))
    assert n_bn(G_plain) == 0 and "main.0.0.weight" in G_plain.state_dict()
    mlp_cfg.g_batchnorm = True
    G_bn, _ = build_models(mlp_cfg, (1, 28, 28))
    assert n_bn(G_bn) == 2
    G_bn.train()
    with torch.no_grad():
        x = G_bn(torch.randn(64, 8))
    assert x.shape == (64, 1, 28, 28) and float(x.abs().max()) <= 1.0
    # in training mode each hidden unit is centred over the batch before its activation
    with torch.no_grad():
        h = G_bn.main[0][:2](torch.randn(64, 8) * 5 + 3)  # Linear -> BatchNorm1d
    assert float(h.mean(0).abs().max()) < 1e-4
    dc_cfg = ModelConfig(name="dcgan", latent_dim=8, g_channels=8, d_channels=8)
    assert n_bn(build_models(dc_cfg, (1, 28, 28))[0]) > 0
    dc_cfg.g_batchnorm = False
    assert n_bn(build_models(dc_cfg, (1, 28, 28))[0]) == 0


def test_resnet_rejects_other_sizes():
    with pytest.raises(GankitError, match="32x32 and 28x28"):
        build_models(ModelConfig(name="resnet"), (3, 64, 64))


def test_resnet_is_registered():
    assert "resnet" in MODELS.names()


@pytest.mark.parametrize("preset", STABLE)
def test_stable_presets_are_documented_and_remedy(preset):
    cfg = load_config(preset)
    assert cfg.description and cfg.train.auto_remedy and cfg.train.diagnose
    assert cfg.train.batch_size % max(1, cfg.model.pack) == 0


@pytest.mark.parametrize("preset", STABLE)
def test_one_step_per_stable_preset(preset, tiny_mnist, tmp_path):
    from test_data import _write_mixed_folder
    extra = [f"data.root={tiny_mnist}", "train.batch_size=16", "train.precision=fp32"]
    if preset == "folder-stable":
        _write_mixed_folder(tmp_path / "imgs")
        extra.append(f"data.path={tmp_path / 'imgs'}")
    if preset.startswith(("mnist", "stacked", "folder")):
        extra += ["model.g_channels=8", "model.d_channels=8"]
    run = api.train(preset, TINY + ["train.steps=2", *extra], out=str(tmp_path / preset), verbose=False)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 2 and np.isfinite(rows[-1]["loss_d"]) and np.isfinite(rows[-1]["loss_g"])
