"""`gankit eval`, `gankit fid`, `gankit bench modes`, the EvalHook and the stacked-mnist source, end to end."""
import json
import shutil

import numpy as np
import pytest
import torch
from conftest import TINY

from gankit import api
from gankit.cli import main
from gankit.config import DataConfig
from gankit.data import load_data
from gankit.errors import GankitError
from gankit.metrics import EXTRACTORS, METRICS
from gankit.metrics.classifier import weights_path

needs_mnist_weights = pytest.mark.skipif(not weights_path("mnist").is_file(), reason="no mnist classifier weights")


def last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture
def ring_npy(tmp_path):
    data = load_data(DataConfig(name="ring-2d"), verbose=False)
    path = tmp_path / "ring.npy"
    np.save(path, data.sample(2500, torch.Generator().manual_seed(3)).numpy())
    return path


@pytest.fixture
def cached_mnist(tiny_mnist, tmp_path):
    """The tiny idx files placed where `mnist` is looked up by default ($GANKIT_DATA/mnist)."""
    shutil.copytree(tiny_mnist, tmp_path / "cache" / "mnist")


def test_help_lists_come_from_the_registries(capsys):
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    text = " ".join(capsys.readouterr().out.split())          # argparse wraps lines
    assert ", ".join(METRICS.names()) in text and ", ".join(EXTRACTORS.names()) in text


def test_every_metric_describes_what_it_returns():
    for name in METRICS.names():
        info = METRICS.info(name)
        assert info.what and info.outputs and all(o.meaning for o in info.outputs), name


def test_eval_samples_file(ring_npy, capsys):
    assert main(["eval", "--samples", str(ring_npy), "--data", "ring-2d", "--json"]) == 0
    out = last_json(capsys)
    assert out["modes"] == 8 and out["hq"] > 0.95 and out["n"] == 2500


def test_eval_prints_a_table_with_meanings_and_directions(ring_npy, capsys):
    assert main(["eval", "--samples", str(ring_npy), "--data", "ring-2d"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "2 500 generated samples"
    row = {line.split()[0]: line for line in lines[2:]}
    assert row["modes"].split()[1:3] == ["8", "higher"] and "mixture modes" in row["modes"]
    assert row["rkl"].split()[2] == "lower" and "reverse KL" in row["rkl"]
    assert float(row["hq"].split()[1]) > 0.95
    assert row["mode_hist:"].startswith("mode_hist: [")              # a histogram: a line of its own


def test_fid_table_names_the_feature_network(ring_npy, tmp_path, capsys):
    other = tmp_path / "other.npy"
    np.save(other, np.load(ring_npy) + 1.0)
    assert main(["fid", str(ring_npy), str(other), "--features", "identity"]) == 0
    out = capsys.readouterr().out
    assert "features: identity — the samples themselves" in out and "2 500 samples from" in out
    fid = next(line for line in out.splitlines() if line.startswith("fid_identity")).split()
    assert fid[2] == "lower" and float(fid[1]) == pytest.approx(2.0, rel=0.01)


def test_fid_of_npy_files(ring_npy, tmp_path, capsys):
    other = tmp_path / "other.npy"
    np.save(other, np.load(ring_npy) + 1.0)
    assert main(["fid", str(ring_npy), str(other), "--features", "identity", "--json"]) == 0
    assert last_json(capsys)["fid_identity"] == pytest.approx(2.0, rel=0.01)   # |shift|^2 = 1 + 1


@pytest.mark.parametrize("argv,words", [
    (["eval"], "run directory"),
    (["eval", "--samples", "x.npy"], "--data"),
    (["eval", "--samples", "missing.npy", "--data", "ring-2d"], "not found"),
    (["eval", "--samples", "x.npy", "--data", "ring-2d", "--metrics", "fdi"], "did you mean 'fid'"),
    (["fid", "mnsit", "ring-2d"], "did you mean 'mnist'"),
    (["eval", "nowhere"], "not a run directory"),
])
def test_eval_mistakes_are_one_line_errors(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1


def test_modes_metric_on_image_data_is_refused(tmp_path):
    from gankit.metrics import evaluate
    with pytest.raises(GankitError, match="2-D mixtures"):
        evaluate(np.zeros((4, 1, 8, 8), np.float32), metrics=["modes"], verbose=False)


def test_eval_hook_and_eval_command_on_a_run(tmp_path, capsys):
    run = api.train("ring-2d", TINY + ["train.steps=20", "eval.every=10", "eval.n=500", "train.diagnose=false"],
                    out=str(tmp_path / "r"), verbose=False)
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if "eval/modes" in r]
    assert [r["step"] for r in evals] == [10, 20]
    assert all(0 <= r["eval/hq"] <= 1 and "eval/rkl" in r for r in evals)
    assert main(["eval", str(run), "--n", "300", "--json"]) == 0
    out = last_json(capsys)
    assert out["step"] == 20 and out["n"] == 300 and 0 <= out["modes"] <= 8
    appended = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert appended["step"] == 20 and appended["eval/modes"] == out["modes"]


def test_bench_modes_prints_table(tmp_path, capsys):
    argv = ["bench", "modes", "--seeds", "2", "--presets", "ring-2d", "--out", str(tmp_path / "bench")]
    for kv in TINY + ["train.steps=5", "train.diagnose=false"]:
        argv += ["--set", kv]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "| ring-2d (gankit) | 2 seeds |" in table and "PacGAN 2018 Table 1: GAN" in table
    assert (tmp_path / "bench" / "ring-2d-seed1" / "config.json").is_file()
    # --first-seed continues the seed range: seed 2 here, trained with train.seed=2
    assert main(argv[:3] + ["1", "--first-seed", "2"] + argv[4:]) == 0
    assert "| ring-2d (gankit) | 1 seeds |" in capsys.readouterr().out
    assert json.loads((tmp_path / "bench" / "ring-2d-seed2" / "config.json").read_text())["train"]["seed"] == 2


def test_stacked_mnist_source(cached_mnist):
    data = load_data(DataConfig(name="stacked-mnist", channels=3), verbose=False)
    assert data.images.shape == (64, 3, 28, 28) and 0 <= int(data.labels.min()) and int(data.labels.max()) < 1000
    again = load_data(DataConfig(name="stacked-mnist", channels=3), verbose=False)
    assert torch.equal(data.images, again.images)                       # fixed seed: same dataset everywhere
    with pytest.raises(GankitError, match="channels=3"):
        load_data(DataConfig(name="stacked-mnist", channels=1), verbose=False)


@needs_mnist_weights
def test_a_dataset_read_at_another_size_than_its_own_says_so(cached_mnist, tmp_path, capsys):
    np.save(tmp_path / "s16.npy", np.zeros((20, 1, 16, 16), np.float32))
    assert main(["fid", str(tmp_path / "s16.npy"), "mnist", "--features", "mnist", "--n", "20"]) == 0
    assert "mnist images are 28x28, grey; compared as 16x16, grey to match" in capsys.readouterr().err
    np.save(tmp_path / "s28.npy", np.zeros((20, 1, 28, 28), np.float32))
    assert main(["fid", str(tmp_path / "s28.npy"), "mnist", "--features", "mnist", "--n", "20"]) == 0
    assert "compared as" not in capsys.readouterr().err


@needs_mnist_weights
def test_fid_between_datasets_with_mnist_features(cached_mnist, capsys):
    assert main(["fid", "mnist:train", "mnist:test", "--features", "mnist", "--n", "32", "--json"]) == 0
    out = last_json(capsys)
    assert out["fid_mnist"] > 0 and out["n_a"] == out["n_b"] == 32


@needs_mnist_weights
def test_stacked_preset_one_step_with_eval(cached_mnist, tmp_path):
    run = api.train("stacked-mnist-dcgan", TINY + ["train.steps=1", "train.batch_size=8", "eval.every=1",
                                                   "eval.n=50"], out=str(tmp_path / "s"), verbose=False)
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    ev = [r for r in rows if "eval/stacked_modes" in r]
    assert ev and 1 <= ev[0]["eval/stacked_modes"] <= 50
