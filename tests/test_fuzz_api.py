"""Property-based fuzz of the Python API and the `sample`/`eval` argument space (issue 26), as
tests/test_fuzz_config.py does for the config: whatever a caller passes, each call succeeds or raises one
GankitError (the CLI: exit status 0, or 2 with one line) — never another exception, never a traceback.

One small ring-2d run serves every example; outputs go to a fresh folder per example.
`pytest tests/test_fuzz_api.py --hypothesis-show-statistics` shows the mix of outcomes.
"""
import contextlib
import io
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

import gankit
from gankit import api
from gankit.cli import main
from gankit.errors import GankitError

RING = ["log.progress=false", "sample.every=0", "train.threads=1", "train.batch_size=32", "model.g_hidden=[16]",
        "model.d_hidden=[16]", "checkpoint.every=2", "log.every=1", "train.steps=4"]
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])


@pytest.fixture(scope="module")
def ring(tmp_path_factory):
    return api.train("ring-2d", RING, out=str(tmp_path_factory.mktemp("fuzz") / "ring"), verbose=False)


_count = itertools.count()


def fresh(tmp_path: Path) -> Path:
    d = tmp_path / f"ex{next(_count)}"
    d.mkdir()
    return d


ODD = st.one_of(st.none(), st.booleans(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                st.lists(st.integers(), max_size=3), st.binary(max_size=4), st.just(object()))
COUNTS = st.one_of(st.integers(-3, 3000), st.sampled_from([10 ** 7, 10 ** 12, 2 ** 63, -(2 ** 70)]), ODD)
SEEDS = st.one_of(st.integers(-(2 ** 66), 2 ** 66), st.sampled_from([0, -1, 2 ** 64 - 1, 2 ** 64]), ODD)
STEPS = st.one_of(st.none(), st.sampled_from([0, 2, 4, 3, -1, 10 ** 9]), ODD)
OUTS = st.sampled_from(["s.npy", "s.png", "dir", "s.txt", "s", "sub/deep/s.npy", "{run}/samples/x.npy",
                        "{run}/config.json", "{run}/extra.npy", "{run}/samples", "afile/x.npy", ".npy", "s.NPY",
                        "{run}/checkpoints/latest.pt", "", "~nouser/s.npy"])


def _out(template: str, run: Path, where: Path) -> str:
    (where / "afile").write_text("x")
    return template.format(run=run) if "{run}" in template else str(where / template) if template else template


def outcome(call) -> str:
    """'ok' or 'error'; anything but a GankitError fails the test."""
    try:
        call()
        return "ok"
    except GankitError as e:
        assert "\n" not in str(e).strip() and str(e).strip(), repr(str(e))
        return "error"


@FUZZ
@given(n=COUNTS, seed=SEEDS, step=STEPS, out=OUTS)
def test_api_sample(ring, tmp_path, n, seed, step, out):
    where = fresh(tmp_path)
    path = _out(out, ring, where)
    before = {p: p.stat().st_mtime_ns for p in ring.rglob("*") if p.is_file()}
    result = outcome(lambda: gankit.sample(ring, n, path, seed=seed, step=step))
    event(f"sample: {result}")
    assert {p: p.stat().st_mtime_ns for p in ring.rglob("*") if p.is_file()} == before  # the run is never touched
    if result == "ok":
        x = np.load(Path(path).expanduser())
        assert x.shape == (n, 2) and np.isfinite(x).all()


@FUZZ
@given(n=COUNTS, seed=st.one_of(st.none(), SEEDS), step=STEPS, ema=st.one_of(st.booleans(), ODD))
def test_api_load_run_and_generate(ring, n, seed, step, ema):
    got = {}

    def call():
        got["x"] = gankit.load_run(ring, step=step).generate(n if not isinstance(n, int) or n < 5000 else 7,
                                                              seed=seed, ema=ema)
    result = outcome(call)
    event(f"generate: {result}")
    if result == "ok":
        assert got["x"].shape[1:] == (2,) and len(got["x"]) >= 1


ARRAYS = st.one_of(
    st.integers(0, 40).flatmap(lambda n: st.sampled_from([
        np.zeros((n, 2)), np.ones((n, 3), np.float32), np.ones((n, 2), np.complex64), np.full((n, 2), np.nan),
        np.array([["a", "b"]] * n), np.zeros((n, 1, 8, 8)), np.zeros((n,)), np.zeros((n, 2), bool),
        np.zeros((n, 2), np.int64), [[1, 2]] * n, [[1, 2], [3]]])),
    ODD)
DATA = st.sampled_from(["ring-2d", "grid-2d", "gaussian-1d", "ring2d", "", "nosuch/path", "x.npy", None])
METRICS = st.one_of(st.none(), st.lists(st.sampled_from(["modes", "moments", "fid", "kid", "precision", "mdoes",
                                                         "", "swd"]), max_size=2))


@FUZZ
@given(samples=ARRAYS, data=DATA, metrics=METRICS, n=st.one_of(st.integers(-2, 500), st.just(10 ** 12)))
def test_api_evaluate(samples, data, metrics, n):
    result = outcome(lambda: gankit.evaluate(samples, data, metrics, n=n, verbose=False))
    event(f"evaluate: {result}")


CONFIGS = st.one_of(ODD, st.sampled_from(["ring-2d", "nosuch", "", "/", ".", "x.yaml", "runs"]), st.just("ring-2d"))
OVERRIDES = st.one_of(ODD, st.lists(st.one_of(st.sampled_from(["train.steps=2", "train.steps=-1", "nokey=1",
                                                                "model.latent_dim=x", "=", "a"]), ODD), max_size=3))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config=CONFIGS, overrides=OVERRIDES)
@example(config="ring-2d", overrides=[])                   # a start that must train
@example(config="ring-2d", overrides=["train.steps=2"])
def test_api_train(tmp_path, config, overrides):
    out = fresh(tmp_path) / "run"
    ovr = overrides + RING[:-1] + ["train.steps=2"] if isinstance(overrides, list) else overrides
    result = outcome(lambda: gankit.train(config, ovr, out=str(out), verbose=False))
    event(f"train: {result}")
    if result == "error":
        assert not out.exists()  # a refused or failed start leaves nothing behind
    else:                        # a run that trained: its checkpoint loads and draws finite samples
        x = api.load_run(out).generate(4)
        assert x.shape == (4, 2) and torch.isfinite(x).all()


EVAL_ARGS = st.lists(st.one_of(
    st.tuples(st.just("--n"), st.sampled_from(["-1", "0", "1", "2", "50", "x", "1e3", "1000000000"])),
    st.tuples(st.just("--seed"), st.sampled_from(["0", "-5", "99999999999999999999999", "x"])),
    st.tuples(st.just("--metrics"), st.sampled_from(["modes", "mdoes", "fid", ",", "modes,moments", "swd"])),
    st.tuples(st.just("--features"), st.sampled_from(["identity", "inception", "nope", ""])),
    st.tuples(st.just("--data"), st.sampled_from(["ring-2d", "grid-2d", "gaussian-1d", "nope", "/no/such"])),
    st.tuples(st.just("--no-append"))), max_size=4)


@FUZZ
@given(args=EVAL_ARGS, json_out=st.booleans())
def test_cli_eval(ring, args, json_out):
    argv = ["eval", str(ring), "--no-append", *itertools.chain.from_iterable(args)] + (["--json"] if json_out else [])
    code, err = _run(argv)
    event(f"eval: exit {code}")
    assert code in (0, 2), err
    assert code == 0 or err.count("\n") == 1, err


SAMPLE_ARGS = st.lists(st.one_of(
    st.tuples(st.just("--n"), st.sampled_from(["-1", "0", "1", "7", "x", "100000000000"])),
    st.tuples(st.just("--seed"), st.sampled_from(["0", "-1", "18446744073709551616", "x"])),
    st.tuples(st.just("--step"), st.sampled_from(["2", "3", "-1", "x"])),
    st.tuples(st.just("--interpolate"), st.sampled_from(["3", "1", "0", "1000"])),
    st.tuples(st.just("--rows"), st.sampled_from(["1", "0", "99"]))), max_size=4)


@FUZZ
@given(args=SAMPLE_ARGS, out=OUTS)
def test_cli_sample(ring, tmp_path, args, out):
    path = _out(out, ring, fresh(tmp_path))
    code, err = _run(["sample", str(ring), *itertools.chain.from_iterable(args), "--out", path])
    event(f"sample: exit {code}")
    assert code in (0, 2), err
    assert code == 0 or err.count("\n") == 1, err


def _run(argv):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse: a usage mistake
            code = e.code
    text = err.getvalue()
    assert "Traceback" not in text, text
    lines = [line for line in text.splitlines() if not line.startswith("[gankit]") and "warning" not in line]
    return code, "".join(line + "\n" for line in lines)

