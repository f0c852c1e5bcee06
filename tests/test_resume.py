"""Resume is exact: N steps, stop, resume to 2N == 2N straight (CPU, fp32), also after SIGTERM and kill -9."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gankit import api
from gankit.train.checkpoint import load

MLP = ["log.progress=false", "sample.every=0", "train.batch_size=16", "train.threads=1", "model.g_hidden=[32, 32]",
       "model.d_hidden=[32, 32]", "log.every=1"]
DCGAN = ["log.progress=false", "sample.every=0", "train.batch_size=8", "train.threads=1", "model.g_channels=8", "model.d_channels=8",
         "log.every=1"]


def g_weights(run: Path):
    return load(run / "checkpoints" / "latest.pt")["G"]


def assert_identical(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("preset,opts", [("mnist-mlp", MLP), ("mnist-dcgan", DCGAN)])
def test_stop_and_resume_is_bit_identical(preset, opts, tiny_mnist, tmp_path):
    opts = opts + [f"data.root={tiny_mnist}", "checkpoint.every=100"]
    n = 7  # 64 images / 16 = 4 batches per epoch: the stop falls inside an epoch
    straight = api.train(preset, opts + [f"train.steps={2 * n}"], out=str(tmp_path / "a"), verbose=False)
    half = api.train(preset, opts + [f"train.steps={n}"], out=str(tmp_path / "b"), verbose=False)
    api.train(preset, [f"train.steps={2 * n}"], out=str(half), resume=True, verbose=False)
    assert_identical(g_weights(straight), g_weights(half))
    # the metrics file has each step once, as if never stopped
    steps = [int(l.split('"step": ')[1].split(",")[0]) for l in (half / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 2 * n + 1))


def _spawn(args, root):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "gankit", "train", "mnist-mlp", *args],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for(path: Path, proc, timeout=120):
    t0 = time.time()
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"training exited early: {proc.stderr.read().decode()[-500:]}")
        if time.time() - t0 > timeout:
            proc.kill()
            raise AssertionError("no checkpoint appeared")
        time.sleep(0.05)


@pytest.mark.parametrize("how", ["kill9", "sigterm"])
def test_hard_kill_then_resume_matches_straight(how, tiny_mnist, tmp_path):
    total = 150
    opts = MLP + [f"data.root={tiny_mnist}", "checkpoint.every=5"]
    sets = [a for o in opts + [f"train.steps={total}"] for a in ("--set", o)]
    run = tmp_path / "killed"
    proc = _spawn([*sets, "--out", str(run)], tiny_mnist)
    _wait_for(run / "checkpoints" / "step-0000010.pt", proc)
    time.sleep(0.137)
    proc.send_signal(signal.SIGKILL if how == "kill9" else signal.SIGTERM)
    code = proc.wait(60)
    stopped_at = load(run / "checkpoints" / "latest.pt")["step"]
    assert 10 <= stopped_at < total, "the kill should land mid-run"
    if how == "sigterm":
        assert code == 130  # saved at a step boundary, then stopped
    api.train("mnist-mlp", [f"train.steps={total}"], out=str(run), resume=True, verbose=False)
    straight = api.train("mnist-mlp", opts + [f"train.steps={total}"], out=str(tmp_path / "straight"), verbose=False)
    assert_identical(g_weights(straight), g_weights(run))
