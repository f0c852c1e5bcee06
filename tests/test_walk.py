"""Latent walks (slerp / linear) and sampling an earlier checkpoint: `gankit sample --interpolate K`, `--step N`."""
import math

import numpy as np
import pytest
import torch
from conftest import TINY
from PIL import Image

from gankit import api
from gankit.cli import build_parser, main
from gankit.walk import interpolate, latent_path, slerp


def test_slerp_keeps_the_radius_that_lerp_loses():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    path = slerp(a, b, torch.linspace(0, 1, 5))
    assert torch.allclose(path[0], a) and torch.allclose(path[-1], b, atol=1e-6)
    assert torch.allclose(path.norm(dim=1), torch.ones(5), atol=1e-6)  # on the circle all the way
    assert math.isclose(float(torch.lerp(a, b, 0.5).norm()), math.sqrt(0.5), rel_tol=1e-6)


def test_uniform_noise_walks_a_straight_line_and_normal_noise_a_great_circle():
    a, b = torch.rand(8), torch.rand(8)
    line = latent_path(a, b, 3, "uniform")
    assert torch.allclose(line[1], (a + b) / 2)
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(128, generator=g), torch.randn(128, generator=g)
    arc = latent_path(a, b, 9, "normal")
    assert arc[4].norm() > 0.95 * min(a.norm(), b.norm()) > (a + b).norm() / 2  # slerp stays out of the middle
    assert len(latent_path(a, b, 4, "normal", endpoint=False)) == 4


@pytest.fixture
def mnist_run(tiny_mnist, tmp_path):
    return api.train("mnist-mlp", TINY + ["train.steps=4", "train.batch_size=16", f"data.root={tiny_mnist}",
                                          "checkpoint.every=2", "model.g_hidden=[32]", "model.d_hidden=[32]",
                                          "train.diagnose=false"], out=str(tmp_path / "m"), verbose=False)


def test_interpolate_writes_a_strip_and_a_looping_gif(mnist_run, tmp_path):
    png, gif = interpolate(mnist_run, 6, tmp_path / "walk.png", rows=3)
    strip = Image.open(png)
    assert strip.size == (6 * 30 + 2, 3 * 30 + 2)  # 3 walks of 6 steps, 28 px + 2 px padding
    walk = Image.open(gif)
    assert walk.n_frames == 4 * 6 and walk.info.get("loop") == 0  # 4 legs of 6 frames, looping forever
    again, _ = interpolate(mnist_run, 6, tmp_path / "again.png", rows=3)
    assert np.array_equal(np.asarray(Image.open(again)), np.asarray(strip))  # the seed fixes the walk


def test_sample_command_interpolates_and_samples_an_earlier_step(mnist_run, tmp_path, capsys):
    assert main(["sample", str(mnist_run), "--interpolate", "5", "--rows", "2", "--out", str(tmp_path / "w.png")]) == 0
    assert (tmp_path / "w.png").is_file() and (tmp_path / "w.gif").is_file()
    assert main(["sample", str(mnist_run), "--step", "2", "--n", "6", "--out", str(tmp_path / "s2.npy")]) == 0
    assert main(["sample", str(mnist_run), "--n", "6", "--out", str(tmp_path / "s4.npy")]) == 0
    early, late = np.load(tmp_path / "s2.npy"), np.load(tmp_path / "s4.npy")
    assert np.allclose(early, api.load_run(mnist_run, step=2).generate(6, seed=0).numpy())
    assert not np.allclose(early, late)  # step 2's weights are not the latest
    capsys.readouterr()
    assert main(["sample", str(mnist_run), "--step", "3", "--out", str(tmp_path / "x.npy")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no checkpoint at step 3" in err[0] and "kept steps: 2, 4" in err[0]


@pytest.mark.parametrize("argv,words", [
    (["--interpolate", "1", "--out", "w.png"], "takes 2 to 200 steps"),
    (["--interpolate", "5", "--out", "w.gif"], "must end in .png"),
    (["--interpolate", "100000", "--out", "w.png"], "takes 2 to 200 steps"),    # was all the memory there is
    (["--interpolate", "5", "--rows", "0", "--out", "w.png"], "--rows must be 1 to 32"),
    (["--interpolate", "5", "--rows", "100000", "--out", "w.png"], "--rows must be 1 to 32"),
])
def test_interpolate_mistakes_are_one_line(mnist_run, argv, words, capsys):
    assert main(["sample", str(mnist_run)] + argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]


def test_vector_runs_cannot_walk(tmp_path, capsys):
    run = api.train("ring-2d", TINY + ["train.steps=2"], out=str(tmp_path / "ring"), verbose=False)
    assert main(["sample", str(run), "--interpolate", "5", "--out", str(tmp_path / "w.png")]) == 2
    assert "samples are vectors" in capsys.readouterr().err


def test_sample_help_explains_every_option():
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["sample"]
    for action in sub._actions:
        assert action.help, f"sample {action.option_strings or action.dest} has no help"
