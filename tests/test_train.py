import json

import numpy as np
import pytest
import torch
from conftest import TINY

from gankit import api
from gankit.config import ModelConfig
from gankit.models import MODELS, build_models, traits_of


def small(*extra):
    return TINY + list(extra)


# Data shapes each registered model is checked at. A model registered without an entry here fails
# test_model_shapes (its parameter list comes from the registry, not from this table).
SHAPES = {
    "mlp": [(1, 28, 28)],
    "dcgan": [(1, 28, 28), (3, 32, 32), (3, 64, 64)],
    "keras-dcgan": [(3, 32, 32)],
    "resnet": [(3, 32, 32), (1, 28, 28)],
    "msg": [(3, 32, 32), (1, 16, 16)],
    "msg-projected": [(3, 32, 32), (1, 16, 16)],
    "pix2pix": [(3, 32, 32), (1, 16, 16)],
    "toy-mlp": [(2,)],
    "toy-1d": [(100,)],
}


def _check_output(name, x, shape, batch):
    """G's output for a batch: one tensor (batch, *shape), or for a multi-scale G a list coarse -> fine whose
    last element is the full-size image and each earlier one half the size of the next, down to 4x4."""
    if isinstance(x, (list, tuple)):
        c, r, _ = shape
        sizes = []
        while r >= 4:
            sizes.insert(0, r)
            r //= 2
        assert [tuple(o.shape) for o in x] == [(batch, c, s, s) for s in sizes], name
    else:
        assert x.shape == (batch, *shape), name


@pytest.mark.parametrize("name", MODELS.names())
def test_model_shapes(name):
    assert name in SHAPES, f"model {name!r} is registered but has no shapes in SHAPES: add the shapes it builds for"
    for shape in SHAPES[name]:
        torch.manual_seed(0)
        G, D = build_models(ModelConfig(name=name, latent_dim=16, g_hidden=[8], d_hidden=[8], g_channels=8,
                                        d_channels=8, max_channels=16,
                                        task="superres" if name == "pix2pix" else ""), shape)
        if name == "pix2pix":  # a translator: G maps an input image, D judges (input, output) side by side
            inp = torch.rand(3, *shape) * 2 - 1
            x = G(inp)
            _check_output(name, x, shape, 3)
            logits = D(torch.cat([inp, x], 1))
            assert logits.shape[0] == 3 and torch.isfinite(logits).all(), (name, shape)
            continue
        width = shape[0] if name == "toy-1d" else 16  # toy-1d's G maps each noise draw on its own
        x = G(torch.randn(3, width))
        _check_output(name, x, shape, 3)
        logits = D(x)  # a multi-scale D takes G's list as it is
        # (B,), or (B, K) for a D that declares several logits per image (the loss averages over them)
        want = (3, logits.shape[1]) if traits_of(D).multi_logit else (3,)
        assert logits.shape == want and torch.isfinite(logits).all(), (name, shape)


def test_shape_table_names_only_registered_models():
    """A model removed from the registry leaves no stale entry in SHAPES."""
    assert sorted(SHAPES) == sorted(MODELS.names())


@pytest.mark.parametrize("preset", ["mnist-mlp", "mnist-fast", "mnist-mlp-fast", "mnist-demo", "mnist-dcgan",
                                    "gaussian-1d", "ring-2d", "grid-2d"])
def test_one_step_per_preset(preset, tiny_mnist, tmp_path):
    fewer = ["model.clusters=8"] if preset == "mnist-fast" else []  # fewer clusters for 64 tiny images
    run = api.train(preset, small("train.steps=1", f"data.root={tiny_mnist}", "train.batch_size=16", *fewer),
                    out=str(tmp_path / preset), verbose=False)
    assert (run / "checkpoints" / "latest.pt").is_file()
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["step"] == 1 and np.isfinite(rows[0]["loss_d"]) and np.isfinite(rows[0]["loss_g"])


def test_keras_frog_preset_on_cifar_format_files(tiny_cifar, tmp_path):
    # the Keras G is heavy (256 channels at 32x32): small grids, no diversity probes, to keep the test quick
    run = api.train("cifar10-frog-dcgan", small("train.steps=2", f"data.root={tiny_cifar}", "data.classes=[6, 3]",
                                               "sample.n=4", "train.diagnose=false"),
                    out=str(tmp_path / "frog"), verbose=False)
    assert len(list((run / "samples").glob("*.png"))) >= 1
    x = api.load_run(run).generate(5)
    assert x.shape == (5, 3, 32, 32) and x.abs().max() <= 1


def test_folder_preset(tmp_path):
    from test_data import _write_mixed_folder
    _write_mixed_folder(tmp_path / "imgs")
    run = api.train("folder-dcgan", small("train.steps=2", f"data.path={tmp_path / 'imgs'}", "train.batch_size=4",
                                          "sample.n=4", "train.diagnose=false"),
                    out=str(tmp_path / "f"), verbose=False)
    assert (run / "checkpoints" / "latest.pt").is_file()


def test_run_directory_holds_the_artifacts(tiny_mnist, tmp_path):
    run = api.train("mnist-mlp", ["log.progress=false", "train.steps=6", "sample.every=2", "checkpoint.every=3",
                                  "log.every=2", "train.batch_size=16", f"data.root={tiny_mnist}",
                                  "model.g_hidden=[32]", "model.d_hidden=[32]"],
                    out=str(tmp_path / "r"), verbose=False)
    for name in ["config.json", "metrics.jsonl", "progress.gif", "losses.png", "checkpoints/latest.pt"]:
        assert (run / name).is_file(), name
    assert sorted(p.name for p in (run / "samples").glob("*.png")) == [
        f"step-{s:07d}.png" for s in (0, 2, 4, 6)]
    assert json.loads((run / "config.json").read_text())["train"]["steps"] == 6
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4, 6]
    for key in ("loss_d", "loss_g", "d_real", "d_fake"):
        assert key in rows[0]


def test_sample_command_writes_npy_and_pngs(tiny_mnist, tmp_path):
    from gankit.cli import main
    run = api.train("mnist-mlp", small("train.steps=1", "train.batch_size=16", f"data.root={tiny_mnist}"),
                    out=str(tmp_path / "r"), verbose=False)
    assert main(["sample", str(run), "--n", "7", "--out", str(tmp_path / "s.npy"), "--seed", "3"]) == 0
    x = np.load(tmp_path / "s.npy")
    assert x.dtype == np.float32 and x.shape == (7, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    assert main(["sample", str(run), "--n", "7", "--out", str(tmp_path / "s2.npy"), "--seed", "3"]) == 0
    assert np.array_equal(x, np.load(tmp_path / "s2.npy"))  # the seed fixes the samples
    assert main(["sample", str(run), "--n", "3", "--out", str(tmp_path / "pngs")]) == 0
    assert len(list((tmp_path / "pngs").glob("*.png"))) == 3


def test_sample_toy_is_n_by_d(tmp_path):
    run = api.train("gaussian-1d", small("train.steps=2"), out=str(tmp_path / "g"), verbose=False)
    x = api.load_run(run).generate(50)
    assert x.shape == (50, 1)
    run2 = api.train("ring-2d", small("train.steps=2"), out=str(tmp_path / "ring"), verbose=False)
    assert api.load_run(run2).generate(50).shape == (50, 2)


def test_label_smoothing_noise_and_flip_reach_the_targets(tiny_mnist, tmp_path):
    from gankit.config import apply_overrides, load_config
    from gankit.train.trainer import Trainer
    cfg = apply_overrides(load_config("mnist-mlp"), small(f"data.root={tiny_mnist}", "loss.real_label=0.9",
                                                          "loss.label_noise=0.05"))
    t = Trainer(cfg, tmp_path / "t", hooks=[], verbose=False)
    real, fake = t.loss.targets(1000, True), t.loss.targets(1000, False)
    assert 0.85 <= real.min() and real.max() <= 0.9 and 0 <= fake.min() and fake.max() <= 0.05
    t.context.set_option("loss.label_flip", 0.5)
    flipped = t.loss.targets(1000, False)
    assert 0.3 < (flipped > 0.5).float().mean() < 0.7
