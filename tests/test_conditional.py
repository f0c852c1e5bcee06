"""Class-conditional training: labels from each source, the conditional networks, a train step per preset,
sampling by class and the one-line errors (unknown class, a folder without class subfolders, a model or data
without classes)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY, digit_images, write_idx
from PIL import Image

from gankit import api
from gankit.cli import main
from gankit.config import DataConfig, ModelConfig
from gankit.data import load_data
from gankit.errors import GankitError
from gankit.models import build_models
from gankit.train.checkpoint import load

SMALL = TINY + ["train.threads=1", "train.batch_size=8", "train.precision=fp32", "sample.n=8",
                "train.diagnose=false", "eval.every=0"]


def class_folder(root: Path, classes=("cat", "dog", "owl"), per: int = 6, loose: int = 0) -> Path:
    """root/<class>/i.png, each class a colour of its own; ``loose`` images directly in root."""
    rng = np.random.default_rng(0)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per):
            img = np.full((20, 20, 3), 60 * k, np.uint8) + rng.integers(0, 30, (20, 20, 3), dtype=np.uint8)
            Image.fromarray(img).save(root / name / f"{i}.png")
    for i in range(loose):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(root / f"loose{i}.png")
    return root


# ---- the networks --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,g_cond,shape", [("dcgan", "embed", (1, 28, 28)), ("dcgan", "cbn", (1, 28, 28)),
                                               ("msg", "embed", (3, 32, 32))])
def test_conditional_models_take_labels_and_draw_by_class(name, g_cond, shape):
    cfg = ModelConfig(name=name, conditional=True, g_cond=g_cond, latent_dim=16, g_channels=8, d_channels=8)
    G, D = build_models(cfg, shape, classes=3)
    G.eval()
    z = torch.randn(4, 16)
    y = torch.tensor([0, 1, 2, 0])
    out = G(z, y)
    x = out[-1] if isinstance(out, list) else out
    assert x.shape == (4, *shape)
    assert D(out, y).shape == (4,)
    other = G(z, (y + 1) % 3)
    assert not torch.allclose(x, other[-1] if isinstance(other, list) else other)  # drawn by class
    # the projection term: the same images judged under other labels score differently
    assert not torch.allclose(D(out, y), D(out, (y + 1) % 3))
    assert G.num_classes == 3 and D.num_classes == 3
    with pytest.raises(GankitError, match="class-conditional"):
        D(out)


def test_cbn_needs_a_generator_with_batchnorm():
    cfg = ModelConfig(name="dcgan", conditional=True, g_cond="cbn", g_batchnorm=False, g_channels=8, d_channels=8)
    with pytest.raises(GankitError, match="g_cond=embed"):
        build_models(cfg, (1, 28, 28), classes=10)


# ---- labels from the data ------------------------------------------------------------------------------------
def test_mnist_labels_name_the_digits_and_a_class_filter_renumbers_them(tiny_mnist):
    data = load_data(DataConfig(name="mnist", root=str(tiny_mnist)), verbose=False)
    assert data.class_names == [str(d) for d in range(10)]
    assert data.labels.tolist() == [i % 10 for i in range(64)]
    kept = load_data(DataConfig(name="mnist", root=str(tiny_mnist), classes=[6, 3]), verbose=False)
    assert kept.class_names == ["3", "6"] and sorted(set(kept.labels.tolist())) == [0, 1]
    # the file's labels are i % 10: the first kept items are its digits 3 and 6, classes 0 and 1
    assert kept.batch_labels(torch.tensor([0, 1, 2])).tolist() == [0, 1, 0]


def test_fashion_and_cifar_labels_carry_their_class_names(tmp_path, tiny_cifar):
    root = tmp_path / "fashion"
    root.mkdir()
    for split, n in (("train", 20), ("t10k", 10)):
        write_idx(root / f"{split}-images-idx3-ubyte", digit_images(n))
        write_idx(root / f"{split}-labels-idx1-ubyte", np.arange(n) % 10)
    fashion = load_data(DataConfig(name="fashion", root=str(root)), verbose=False)
    assert fashion.class_names[0] == "T-shirt" and fashion.class_names[9] == "ankle-boot"
    cifar = load_data(DataConfig(name="cifar10", root=str(tiny_cifar), resolution=32), verbose=False)
    assert cifar.class_names[7] == "horse" and len(cifar.labels) == len(cifar)


def test_folder_subfolders_are_classes_and_loose_images_are_left_out(tmp_path, capsys):
    root = class_folder(tmp_path / "pets", loose=2)
    data = load_data(DataConfig(name="folder", path=str(root), resolution=16, labels="folders", min_images=4))
    assert data.class_names == ["cat", "dog", "owl"]
    assert len(data) == 18 and data.labels.tolist() == [0] * 6 + [1] * 6 + [2] * 6
    assert "2 image(s) directly in" in capsys.readouterr().err
    mirrored = load_data(DataConfig(name="folder", path=str(root), resolution=16, labels="folders", mirror=True))
    assert mirrored.batch_labels(torch.tensor([18, 35])).tolist() == [0, 2]  # a mirror keeps its class


def test_a_folder_without_class_subfolders_is_one_line(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(10):
        Image.fromarray(np.full((8, 8, 3), i * 20, np.uint8)).save(flat / f"{i}.png")
    with pytest.raises(GankitError, match="no subfolders with images") as e:
        load_data(DataConfig(name="folder", path=str(flat), resolution=8, labels="folders"), verbose=False)
    assert "\n" not in str(e.value)
    one = class_folder(tmp_path / "one", classes=("cat",))
    with pytest.raises(GankitError, match="one class subfolder"):
        load_data(DataConfig(name="folder", path=str(one), resolution=8, labels="folders"), verbose=False)


@pytest.mark.parametrize("sets,words", [
    (["model.name=keras-dcgan"], "no conditional variant"),
    (["data.name=gaussian-1d", "model.name=mlp"], "has none"),
    (["data.labels=folders"], "is not a folder"),
    (["model.pack=2"], "model.pack=1"),
])
def test_settings_that_cannot_train_a_conditional_model_are_one_line(sets, words, capsys):
    assert main(["train", "mnist-cond", "--dry-run", "--set", *sets]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1


def test_a_folder_run_needs_data_labels_folders(tmp_path, capsys):
    root = class_folder(tmp_path / "pets")
    assert main(["train", "folder-cond-64", "--dry-run", "--set", f"data.path={root}", "data.labels="]) == 2
    assert "data.labels=folders" in capsys.readouterr().err


# ---- training and sampling -----------------------------------------------------------------------------------
def test_mnist_cond_trains_samples_by_class_and_refuses_an_unknown_one(tiny_mnist, tmp_path, capsys):
    run = api.train("mnist-cond", SMALL + [f"data.root={tiny_mnist}", "train.steps=3", "model.g_channels=8",
                                           "model.d_channels=8"], out=str(tmp_path / "run"), verbose=False)
    state = load(run / "checkpoints" / "latest.pt")
    assert state["classes"] == [str(d) for d in range(10)]
    grid = Image.open(sorted((run / "samples").glob("step-*.png"))[-1])
    assert grid.height > grid.width  # sample.n=8 with 10 classes: one image per class, one row each (10 x 1)
    assert main(["sample", str(run), "--class", "7", "--n", "5", "--out", str(tmp_path / "sevens.npy")]) == 0
    sevens = np.load(tmp_path / "sevens.npy")
    x7 = api.load_run(run).generate(5, seed=0, labels=torch.full((5,), 7))
    np.testing.assert_allclose(sevens, x7.numpy(), atol=1e-6)   # the asked class, from the same noise
    x3 = api.load_run(run).generate(5, seed=0, labels=torch.full((5,), 3))
    assert not np.allclose(sevens, x3.numpy())
    capsys.readouterr()
    assert main(["sample", str(run), "--class", "seven", "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "no class 'seven'" in err and "0, 1, 2, 3, 4, 5, 6, 7, 8, 9" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


def test_class_asked_of_an_unconditional_run_is_one_line(tiny_mnist, tmp_path, capsys):
    run = api.train("mnist-demo", SMALL + [f"data.root={tiny_mnist}", "train.steps=1", "model.g_channels=8",
                                           "model.d_channels=8"], out=str(tmp_path / "plain"), verbose=False)
    assert main(["sample", str(run), "--class", "3", "--out", str(tmp_path / "x.png")]) == 2
    assert "not class-conditional" in capsys.readouterr().err


def test_folder_cond_64_trains_a_step_and_samples_a_subfolder(tmp_path):
    root = class_folder(tmp_path / "pets")
    run = api.train("folder-cond-64", SMALL + [f"data.path={root}", "train.steps=2", "data.resolution=16",
                                               "train.pg_start=8"], out=str(tmp_path / "run"), verbose=False)
    assert load(run / "checkpoints" / "latest.pt")["classes"] == ["cat", "dog", "owl"]
    out = api.sample(run, 4, tmp_path / "owls", class_name="owl")
    assert len(list(out.glob("*.png"))) == 4
    with pytest.raises(GankitError, match="its classes are cat, dog, owl"):
        api.sample(run, 4, tmp_path / "cows.png", class_name="cow")


def test_eval_of_a_conditional_mnist_run_adds_the_classifier_agreement_per_class(tiny_mnist, tmp_path):
    from gankit.metrics.per_class import per_class
    run = api.train("mnist-cond", SMALL + [f"data.root={tiny_mnist}", "train.steps=1", "model.g_channels=8",
                                           "model.d_channels=8"], out=str(tmp_path / "run"), verbose=False)
    scores = per_class(api.load_run(run), n=20)
    shares = [scores[f"class_agreement/{d}"] for d in range(10)]
    assert all(0.0 <= s <= 1.0 for s in shares)
    assert scores["class_agreement"] == pytest.approx(sum(shares) / 10)
    assert {k for k in scores if k.startswith("class_spread/")} == {f"class_spread/{d}" for d in range(10)}
    assert {k for k in scores if k.startswith("class_spread_ratio/")} == {f"class_spread_ratio/{d}" for d in range(10)}
    assert scores["class_spread_ratio"] == min(scores[f"class_spread_ratio/{d}"] for d in range(10)) > 0


def test_class_spread_ratio_tells_a_class_drawn_as_one_image_from_one_drawn_like_the_data(tiny_mnist):
    from types import SimpleNamespace

    from gankit.config import RunConfig
    from gankit.metrics.per_class import per_class
    cfg = RunConfig()
    cfg.data = DataConfig(name="mnist", root=str(tiny_mnist), resolution=28, channels=1)
    data = load_data(cfg.data, verbose=False)

    def run_drawing(collapsed: bool):
        def generate(n, seed=0, labels=None):
            own = data.images[data.labels == int(labels[0])].float().div(127.5).sub(1)   # the class's images
            return own[:1].repeat(n, 1, 1, 1) if collapsed else own[torch.arange(n) % len(own)]
        return SimpleNamespace(cfg=cfg, classes=[str(d) for d in range(10)], generate=generate)
    like_data = per_class(run_drawing(False), n=6)
    one_image = per_class(run_drawing(True), n=6)
    assert like_data["class_spread_ratio"] > 0.5 and one_image["class_spread_ratio"] == 0.0


def test_eval_of_a_conditional_run_adds_intra_class_kid_and_fid(tiny_mnist, tmp_path):
    from gankit.metrics.per_class import intra_class
    run = api.train("mnist-cond", SMALL + [f"data.root={tiny_mnist}", "train.steps=1", "model.g_channels=8",
                                           "model.d_channels=8"], out=str(tmp_path / "run"), verbose=False)
    from gankit.metrics import evaluate_run
    result = evaluate_run(run, metrics=["kid"], n=60, append=False, verbose=False)
    per = [result[f"kid_mnist/{d}"] for d in range(10)]
    assert result["kid_intra_mnist"] == pytest.approx(sum(per) / 10)
    assert "fid_intra_mnist" not in result                 # only what was asked for
    loaded = api.load_run(run)
    scores = intra_class(loaded, "mnist", n=20, kinds=("kid", "fid"))
    assert {k for k in scores if k.startswith("fid_mnist/")} == {f"fid_mnist/{d}" for d in range(10)}
    assert all(v > 0 for k, v in scores.items() if k.startswith("fid_"))  # an untrained G is far from every class

    class Perfect:  # a stand-in that draws, for class i, the training images of class i
        classes, cfg, run_dir = loaded.classes, loaded.cfg, run
        data = load_data(loaded.cfg.data, verbose=False)

        def generate(self, n, seed=0, labels=None):
            x = self.data.images[self.data.labels == int(labels[0])][:n]
            return x.float().div(127.5).sub(1)
    assert intra_class(Perfect(), "mnist", n=20, kinds=("fid",))["fid_intra_mnist"] < 1e-3   # all of each class


def test_a_latent_walk_of_a_conditional_run_keeps_one_class_a_row(tiny_mnist, tmp_path):
    from gankit.walk import _draw
    run = api.load_run(api.train("mnist-cond", SMALL + [f"data.root={tiny_mnist}", "train.steps=1",
                                                        "model.g_channels=8", "model.d_channels=8"],
                                 out=str(tmp_path / "run"), verbose=False))
    z = torch.randn(4, run.cfg.model.latent_dim)
    want = run.generate(4, z=z, labels=torch.tensor([0, 0, 1, 1]))
    assert torch.allclose(_draw(run, z, per_class=2), want)
    assert not torch.allclose(_draw(run, z), want)   # without it: the classes in turn (0, 1, 2, 3)
