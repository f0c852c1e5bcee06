"""gankit sample --seeds / --trunc: one image per seed, the same on every call; truncation; .jpg/.webp; errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY
from PIL import Image

from gankit import api
from gankit.cli import main
from gankit.errors import GankitError
from gankit.seeds import draw, parse_seeds, seed_latents


@pytest.fixture
def mnist_run(tiny_mnist, tmp_path):
    return api.train("mnist-mlp-fast", TINY + ["train.steps=4", "train.batch_size=16", f"data.root={tiny_mnist}",
                                           "model.g_hidden=[32]", "model.d_hidden=[32]", "train.diagnose=false",
                                           "train.precision=fp32"], out=str(tmp_path / "m"), verbose=False)


def test_parse_seeds():
    assert parse_seeds("0-3,9") == [0, 1, 2, 3, 9]
    assert parse_seeds(" 3, 7 ,42") == [3, 7, 42]
    assert parse_seeds("5-5") == [5]


@pytest.mark.parametrize("spec, words", [("", "empty"), ("5-2", "reversed"), ("a", "whole numbers"),
                                         ("1,,2", "whole numbers"), ("-3", "whole numbers"), ("1.5", "whole numbers"),
                                         ("0-20000", "more than"), ("4294967296", "from 0 to")])
def test_bad_seeds_are_one_line(spec, words):
    with pytest.raises(GankitError, match=words):
        parse_seeds(spec)


def test_each_seed_has_its_own_latent_whatever_else_is_asked():
    a, b = seed_latents([3, 7, 42], 16, "normal"), seed_latents([7], 16, "normal")
    assert torch.equal(a[1], b[0]) and not torch.equal(a[0], a[1])
    assert torch.equal(a[0], torch.from_numpy(np.random.RandomState(3).standard_normal(16).astype(np.float32)))
    u = seed_latents([1], 8, "uniform")
    assert (u >= 0).all() and (u < 1).all()


def test_the_same_seed_draws_the_same_image_in_any_company(mnist_run):
    run = api.load_run(mnist_run, device="cpu")
    many, few = draw(run, parse_seeds("0-15")), draw(run, [3, 7, 42])
    again = draw(api.load_run(mnist_run, device="cpu"), [3, 7, 42])
    assert torch.equal(many[3], few[0]) and torch.equal(many[7], few[1]) and torch.equal(few, again)
    assert not torch.equal(many[0], many[1])


def test_truncation_pulls_images_together(mnist_run):
    run = api.load_run(mnist_run, device="cpu")
    seeds = list(range(32))
    spread = {psi: float(draw(run, seeds, trunc=psi).std(0).mean()) for psi in (1.0, 0.5)}
    assert spread[0.5] < spread[1.0]
    assert torch.equal(draw(run, [1], trunc=1.0), draw(run, [1]))


def test_truncation_is_refused_where_it_would_change_nothing(tmp_path):
    from gankit.config import ModelConfig
    from gankit.models import build_models
    from gankit.seeds import scale_free
    G, _ = build_models(ModelConfig(name="msg", latent_dim=8, g_channels=8, max_channels=16), (1, 8, 8))
    assert scale_free(G.eval(), 8, "normal")                  # pixel norm: G(0.5 z) == G(z)
    M, _ = build_models(ModelConfig(name="mlp", latent_dim=8, g_hidden=[16]), (1, 8, 8))
    assert not scale_free(M.eval(), 8, "normal")


def test_truncation_of_a_pixel_normed_generator_pulls_its_first_features(tmp_path):
    """MSG ignores the scale of z, so --trunc pulls its 4x4 features toward their mean instead."""
    from test_folder_presets import STEP, _folder
    imgs = _folder(tmp_path / "imgs", 16)
    run_dir = api.train("folder-64", STEP + [f"data.path={imgs}", "data.resolution=16", "train.precision=fp32"],
                        out=str(tmp_path / "msg"), verbose=False)
    run = api.load_run(run_dir, device="cpu")
    seeds = list(range(24))
    plain = draw(run, seeds)
    spread = {psi: float(draw(run, seeds, trunc=psi).std(0).mean()) for psi in (1.0, 0.7, 0.3)}
    assert spread[0.3] < spread[0.7] < spread[1.0]
    assert torch.equal(draw(run, seeds), plain)               # afterwards G draws as before
    assert run.sampling_model().truncation is None
    assert main(["sample", str(run_dir), "--seeds", "0-3", "--trunc", "0.5", "--out", str(tmp_path / "t.png")]) == 0


def test_sample_command_writes_grids_jpg_webp_and_a_folder(mnist_run, tmp_path, capsys):
    for name in ("s.png", "s.jpg", "s.webp"):
        assert main(["sample", str(mnist_run), "--seeds", "0-5", "--trunc", "0.7", "--out", str(tmp_path / name)]) == 0
        assert Image.open(tmp_path / name).format == {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}[name[2:]]
    assert main(["sample", str(mnist_run), "--seeds", "3,7", "--out", str(tmp_path / "d")]) == 0
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["seed0003.png", "seed0007.png"]
    assert main(["sample", str(mnist_run), "--seeds", "3,7", "--out", str(tmp_path / "x.npy")]) == 0
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (2, 1, 28, 28) and x.dtype == np.float32
    one = Image.open(tmp_path / "d" / "seed0007.png")
    assert np.array_equal(np.asarray(one), np.round((np.clip(x[1, 0], -1, 1) + 1) * 127.5).astype(np.uint8))
    assert "wrote 2 images" in capsys.readouterr().out


@pytest.mark.parametrize("argv, words", [
    (["--seeds", "9-3"], "reversed"), (["--seeds", "x"], "whole numbers"), (["--seeds", ""], "empty"),
    (["--seeds", "1", "--trunc", "0"], "(0, 1]"), (["--seeds", "1", "--trunc", "1.5"], "(0, 1]"),
    (["--seeds", "1", "--trunc", "nan"], "(0, 1]"), (["--seeds", "1", "--interpolate", "4"], "one or the other"),
])
def test_sample_mistakes_are_one_line(mnist_run, tmp_path, argv, words, capsys):
    assert main(["sample", str(mnist_run), *argv, "--out", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "o.png").exists()


def test_unknown_arguments_point_to_the_sub_commands_help(mnist_run, capsys):
    with pytest.raises(SystemExit) as e:
        main(["sample", str(mnist_run), "--seedz", "3", "--out", "x.png"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "gankit sample --help" in err and "--seedz" in err
    with pytest.raises(SystemExit):
        main(["sample", str(mnist_run), "--trunc", "high", "--out", "x.png"])
    assert "gankit sample --help" in capsys.readouterr().err


def test_plain_n_sampling_writes_jpg_and_webp_grids_of_the_same_images(mnist_run, tmp_path):
    png = api.sample(mnist_run, 9, tmp_path / "g.png", seed=4)
    for name, fmt in (("g.jpg", "JPEG"), ("G.WEBP", "WEBP")):
        out = api.sample(mnist_run, 9, tmp_path / name, seed=4)
        img = Image.open(out)
        assert img.format == fmt and img.size == Image.open(png).size
        # lossy, but the same grid: the mean difference from the PNG is a few grey levels at most
        diff = np.abs(np.asarray(img.convert("L"), float) - np.asarray(Image.open(png).convert("L"), float))
        assert diff.mean() < 8
    with pytest.raises(GankitError, match=r"\.gif"):
        api.sample(mnist_run, 4, tmp_path / "g.gif")
