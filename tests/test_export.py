"""gankit export: ONNX / TorchScript / safetensors files of a run's generator, the same images as PyTorch."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import TINY

from gankit import api
from gankit.cli import main
from gankit.config import ModelConfig
from gankit.export import example_input, read_metadata, write_generator
from gankit.models import MODELS, build_models, traits_of
from gankit.models.pyramid import finest

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("onnxscript")
safetensors_torch = pytest.importorskip("safetensors.torch")


def _shape(name: str):
    """A small data shape the family builds: 2-D vectors, or the smallest image size it takes."""
    info = MODELS.info(name)
    if info.data == "vector":
        return (1,) if name == "toy-1d" else (2,)
    size = next(r for r in (8, 16, 28, 32) if info.sizes is None or info.sizes(r))
    return (3, size, size)


def _small(name: str, **kw) -> ModelConfig:
    return ModelConfig(name=name, latent_dim=8, g_hidden=[16], d_hidden=[16], g_channels=8, d_channels=8,
                       max_channels=16, **kw)


def _meta(G, shape, noise="normal"):
    elementwise = traits_of(G).elementwise
    return {"format": "gankit-generator", "latent_dim": 1 if elementwise else 8, "noise": noise, "classes": [],
            "output": "images" if len(shape) == 3 else "samples", "run": "t", "step": 0, "weights": "ema",
            "output_shape": list(shape), "kind": "image" if len(shape) == 3 else "vector"}


def _trained_like(G):
    """Non-default BatchNorm statistics, so that eval mode (running stats) is what the file must reproduce."""
    for m in G.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return G.eval()


# every family whose G maps a latent to an image (image-to-image ones take an image and are not exported)
LATENT_FAMILIES = sorted(n for n in MODELS.names() if not getattr(MODELS.info(n), "translates", False))


@pytest.mark.parametrize("name", LATENT_FAMILIES)
def test_onnx_runtime_draws_what_pytorch_draws(name, tmp_path):
    torch.manual_seed(0)
    shape = _shape(name)
    G, _ = build_models(_small(name, g_batchnorm=True if name == "mlp" else None), shape)
    G = _trained_like(G)
    meta = _meta(G, shape, "uniform" if name == "toy-1d" else "normal")
    path = write_generator(G, meta, tmp_path / "g.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["z"]
    for n in (1, 5):                                       # the batch size is free, not the example's 2
        z = example_input(meta, n=n, seed=n)
        with torch.no_grad():
            want = finest(G(z)).numpy()
        got = session.run(None, {"z": z.numpy()})[0]
        assert got.shape == want.shape == (n, *((1,) if name == "toy-1d" else shape))
        assert np.abs(got - want).max() <= 1e-4
    assert json.loads(session.get_modelmeta().custom_metadata_map["gankit"])["latent_dim"] == meta["latent_dim"]


def test_mlp_dcgan_and_msg_are_exported():
    assert {"mlp", "dcgan", "msg"} <= set(LATENT_FAMILIES)


@pytest.mark.skipif("conditional" not in ModelConfig.__dataclass_fields__, reason="no class-conditional models")
def test_a_class_conditional_generator_takes_labels(tmp_path):
    torch.manual_seed(0)
    G, _ = build_models(_small("dcgan", conditional=True), (1, 16, 16), 3)
    G.eval()
    meta = dict(_meta(G, (1, 16, 16)), classes=["a", "b", "c"])
    path = write_generator(G, meta, tmp_path / "g.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["z", "labels"]
    z, y = torch.randn(4, 8), torch.tensor([0, 1, 2, 1])
    got = session.run(None, {"z": z.numpy(), "labels": y.numpy()})[0]
    with torch.no_grad():
        assert np.abs(got - G(z, y).numpy()).max() <= 1e-4


def test_a_growing_msg_generator_exports_the_position_it_is_at(tmp_path):
    torch.manual_seed(0)
    G, _ = build_models(_small("msg"), (1, 16, 16))
    G.set_lod(1, 0.5)                                      # mid-fade into 8x8: the 16x16 image is upsampled
    G.eval()
    path = write_generator(G, _meta(G, (1, 16, 16)), tmp_path / "g.onnx")
    z = torch.randn(3, 8)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"z": z.numpy()})[0]
    with torch.no_grad():
        want = finest(G(z)).numpy()
    assert got.shape == (3, 1, 16, 16) and np.abs(got - want).max() <= 1e-4


@pytest.fixture
def mnist_run(tiny_mnist, tmp_path):
    return api.train("mnist-mlp", TINY + ["train.steps=4", "train.batch_size=16", f"data.root={tiny_mnist}",
                                          "model.g_hidden=[32]", "model.d_hidden=[32]", "train.diagnose=false",
                                          "train.ema=0.01"],
                     out=str(tmp_path / "m"), verbose=False)


def test_export_command_writes_three_formats_with_the_same_images(mnist_run, tmp_path, capsys):
    run = api.load_run(mnist_run, device="cpu")
    latent = run.cfg.model.latent_dim
    z = torch.randn(4, latent)
    with torch.no_grad():
        want = finest(run.sampling_model()(z)).numpy()
    for ext in ("onnx", "pt", "safetensors"):
        assert main(["export", str(mnist_run), "--out", str(tmp_path / f"g.{ext}")]) == 0
        assert f"g.{ext}" in capsys.readouterr().out
        meta = read_metadata(tmp_path / f"g.{ext}")
        assert (meta["latent_dim"], meta["output_shape"], meta["resolution"]) == (latent, [1, 28, 28], 28)
        assert meta["classes"] == [] and meta["output_range"] == [-1.0, 1.0] and meta["weights"] == "ema"
        assert meta["step"] == 4 and meta["noise"] == "normal"
    onnx_out = ort.InferenceSession(str(tmp_path / "g.onnx")).run(None, {"z": z.numpy()})[0]
    ts_out = torch.jit.load(str(tmp_path / "g.pt"))(z).detach().numpy()
    G, _ = build_models(ModelConfig(**meta["model_config"]), tuple(meta["output_shape"]))
    G.load_state_dict(safetensors_torch.load_file(str(tmp_path / "g.safetensors")))
    with torch.no_grad():
        st_out = finest(G.eval()(z)).numpy()
    for got in (onnx_out, ts_out, st_out):
        assert np.abs(got - want).max() <= 1e-4
    # the EMA copy, not the trained G (they differ after 4 steps)
    with torch.no_grad():
        assert np.abs(finest(run.G(z)).numpy() - want).max() > 1e-6


@pytest.mark.parametrize("make, out, words", [
    ("none", "g.onnx", "has no checkpoint yet"),
    ("ok", "g.bin", "must end in .onnx"),
    ("ok", "g", "must end in .onnx"),
    ("nothing", "g.onnx", "not a gankit run directory"),
])
def test_export_mistakes_are_one_line(make, out, words, mnist_run, tmp_path, capsys):
    run = mnist_run
    if make == "none":
        run = tmp_path / "fresh"
        run.mkdir()
        (run / "config.json").write_text((mnist_run / "config.json").read_text())
    elif make == "nothing":
        run = tmp_path / "nothing"
    code = main(["export", str(run), "--out", str(tmp_path / out)])
    err = capsys.readouterr().err
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / out).exists()


def test_export_to_a_folder_or_under_a_file_is_one_line(mnist_run, tmp_path, capsys):
    (tmp_path / "d.onnx").mkdir()
    (tmp_path / "f").write_text("x")
    for out, words in ((tmp_path / "d.onnx", "is a folder"), (tmp_path / "f" / "g.onnx", "is a file")):
        assert main(["export", str(mnist_run), "--out", str(out)]) == 2
        assert words in capsys.readouterr().err
