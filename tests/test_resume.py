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


@pytest.mark.parametrize("preset,opts", [("mnist-mlp", MLP), ("mnist-dcgan", DCGAN),
                                         ("mnist-cond", DCGAN + ["train.precision=fp32"])])  # class-conditional
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


# ---- changing settings on resume, and which checkpoints are kept ---------------------------------------------

import json  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402

from gankit.cli import main  # noqa: E402
from gankit.errors import Diverged, GankitError, Interrupted  # noqa: E402
from gankit.train.hooks import Hook  # noqa: E402
from gankit.train.trainer import Trainer  # noqa: E402

SMALL = MLP[:4] + ["model.g_hidden=[16]", "model.d_hidden=[16]", "model.latent_dim=8", "log.every=1",
                   "train.diagnose=false"]


def _small_run(tiny_mnist, out, *extra, hooks=None):
    return api.train("mnist-mlp", SMALL + [f"data.root={tiny_mnist}", *extra], out=str(out), hooks=hooks,
                     verbose=False)


def _rows(run):
    return [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]


def _err_lines(capsys):
    """The error lines of a CLI call's stderr (what it says with "gankit: "; progress notes aside), after
    checking there is no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err[-2000:]
    return [l for l in err.splitlines() if l.startswith("gankit:")]



def test_a_changed_lr_is_refused_without_allow_change(tiny_mnist, tmp_path, capsys):
    run = _small_run(tiny_mnist, tmp_path / "r", "train.steps=2", "checkpoint.every=100")
    config_before = (run / "config.json").read_text()
    capsys.readouterr()
    assert main(["train", str(run), "--resume", "--set", "train.steps=4", "train.lr_d=1e-3"]) == 2
    lines = _err_lines(capsys)
    assert len(lines) == 1 and "train.lr_d" in lines[0] and "--allow-change" in lines[0], lines
    assert "train.lr_g" not in lines[0]                                # only the key that changed
    assert load(run / "checkpoints" / "latest.pt")["step"] == 2          # nothing trained,
    assert (run / "config.json").read_text() == config_before          # nothing rewritten
    with pytest.raises(GankitError, match="train.lr_d"):
        api.train(str(run), ["train.steps=4", "train.lr_d=1e-3"], resume=True, verbose=False)
    # allowed, the run goes on with the new value in its config
    assert main(["train", str(run), "--resume", "--set", "train.steps=4", "train.lr_d=1e-3",
                 "--allow-change", "train.lr_d"]) == 0
    state = load(run / "checkpoints" / "latest.pt")
    assert state["step"] == 4 and state["config"]["train"]["lr_d"] == 1e-3
    assert json.loads((run / "config.json").read_text())["train"]["lr_d"] == 1e-3


def test_an_allowed_lr_change_takes_effect(tiny_mnist, tmp_path):
    run = _small_run(tiny_mnist, tmp_path / "r", "train.steps=2", "checkpoint.every=100")
    api.train(str(run), ["train.steps=4", "train.lr_d=1e-3"], resume=True, allow_change=["train.lr_d"],
              verbose=False)
    state = load(run / "checkpoints" / "latest.pt")
    # the optimizer steps with the new rate, G's is unchanged; the log rows say which rate each step used
    assert [(r["step"], r["lr_d"], r["lr_g"]) for r in _rows(run)] == [
        (1, 2e-4, 2e-4), (2, 2e-4, 2e-4), (3, 1e-3, 2e-4), (4, 1e-3, 2e-4)]
    assert state["opt_d"]["param_groups"][0]["lr"] == 1e-3
    assert state["opt_g"]["param_groups"][0]["lr"] == 2e-4


def test_keep_prunes_to_the_last_step_files(tiny_mnist, tmp_path):
    run = _small_run(tiny_mnist, tmp_path / "r", "train.steps=5", "checkpoint.every=1", "checkpoint.keep=2")
    ckpts = run / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["latest.pt", "step-0000004.pt", "step-0000005.pt"]
    assert load(ckpts / "step-0000004.pt")["step"] == 4
    assert load(ckpts / "step-0000005.pt")["step"] == 5 and load(ckpts / "latest.pt")["step"] == 5


# ---- a crafted checkpoint -----------------------------------------------------------------------------------

def test_a_checkpoint_with_a_misshapen_optimizer_tensor_is_one_line(tiny_mnist, tmp_path, capsys):
    """Issue 14.2: opt_d.state[0].exp_avg = zeros(5) used to crash the fused Adam step (exit 139)."""
    run = _small_run(tiny_mnist, tmp_path / "r", "train.steps=2", "checkpoint.every=100")
    latest = run / "checkpoints" / "latest.pt"
    state = torch.load(latest, weights_only=True)
    live_shape = tuple(state["opt_d"]["state"][0]["exp_avg"].shape)
    state["opt_d"]["state"][0]["exp_avg"] = torch.zeros(5)
    torch.save(state, latest)
    config_before = (run / "config.json").read_text()
    capsys.readouterr()
    assert main(["train", str(run), "--resume", "--set", "train.steps=4"]) == 2
    lines = _err_lines(capsys)
    assert len(lines) == 1, lines
    assert "opt_d" in lines[0] and "(5,)" in lines[0] and str(live_shape) in lines[0]
    assert (run / "config.json").read_text() == config_before
    assert load(latest)["step"] == 2 and not (run / "checkpoints" / "step-0000004.pt").exists()
    # in a process of its own: an exit with status 2, not a segmentation fault (139 / -11)
    proc = subprocess.run([sys.executable, "-m", "gankit", "train", str(run), "--resume", "--set", "train.steps=4"],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert proc.returncode == 2, proc.stderr[-800:]
    assert "Traceback" not in proc.stderr
    err = [l for l in proc.stderr.splitlines() if l.startswith("gankit:")]
    assert len(err) == 1 and "opt_d" in err[0] and "(5,)" in err[0], err


# ---- a second Ctrl-C ----------------------------------------------------------------------------------------

class StopAtOnce(Hook):
    """What a second SIGINT does: a KeyboardInterrupt out of the loop right after step k."""

    def __init__(self, k):
        self.k = k

    def on_step(self, ctx, stats):
        if ctx.step == self.k:
            raise KeyboardInterrupt


def _only_regular_checkpoint(run, step):
    ckpts = run / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["latest.pt", f"step-{step:07d}.pt"]
    state = load(ckpts / "latest.pt")
    assert state["step"] == step and state["d_updates"] == step            # one D update per step, no more
    assert {int(s["step"]) for s in state["opt_d"]["state"].values()} == {step}
    assert state["data"]["pos"] == (step % 4 or 4) * 16                     # 4 batches of 16 a pass


def test_a_second_ctrl_c_saves_nothing_and_resume_stays_exact(tiny_mnist, tmp_path):
    n = 6
    opts = ["checkpoint.every=4"]
    with pytest.raises(Interrupted, match="nothing was saved"):
        _small_run(tiny_mnist, tmp_path / "cut", *opts, f"train.steps={2 * n}", hooks=[StopAtOnce(n - 1)])
    cut = tmp_path / "cut"
    _only_regular_checkpoint(cut, 4)
    api.train(str(cut), [f"train.steps={2 * n}"], resume=True, verbose=False)
    straight = _small_run(tiny_mnist, tmp_path / "straight", *opts, f"train.steps={2 * n}")
    assert_identical(g_weights(straight), g_weights(cut))
    assert_identical(load(straight / "checkpoints" / "latest.pt")["D"], load(cut / "checkpoints" / "latest.pt")["D"])


def test_two_real_sigints_inside_a_step_save_nothing(tiny_mnist, tmp_path, monkeypatch):
    """Two SIGINTs while step 6 is half done (its D update made, G's not): the run stops at once, the checkpoint
    of step 4 stands, and the signal handlers are put back."""
    before = signal.getsignal(signal.SIGINT)
    run_phase = Trainer._run_phase

    def phase_with_signals(self, phase, k):
        if self.step == 5 and phase.name == "G":
            os.kill(os.getpid(), signal.SIGINT)
            deadline = time.time() + 10
            while not self.stop_requested and time.time() < deadline:
                pass  # the handler runs between bytecodes: the first SIGINT asks for a stop at the boundary
            assert self.stop_requested, "the first SIGINT was not seen"
            os.kill(os.getpid(), signal.SIGINT)
            while time.time() < deadline:
                pass  # the second raises KeyboardInterrupt here, mid-step
            raise AssertionError("the second SIGINT did not stop the step")
        return run_phase(self, phase, k)

    monkeypatch.setattr(Trainer, "_run_phase", phase_with_signals)
    with pytest.raises(Interrupted, match="during step 6"):
        _small_run(tiny_mnist, tmp_path / "cut", "checkpoint.every=4", "train.steps=12")
    monkeypatch.setattr(Trainer, "_run_phase", run_phase)
    assert signal.getsignal(signal.SIGINT) is before
    cut = tmp_path / "cut"
    _only_regular_checkpoint(cut, 4)
    api.train(str(cut), ["train.steps=12"], resume=True, verbose=False)
    straight = _small_run(tiny_mnist, tmp_path / "straight", "checkpoint.every=4", "train.steps=12")
    assert_identical(g_weights(straight), g_weights(cut))


# ---- divergence ---------------------------------------------------------------------------------------------

def _all_finite(state_dict):
    return all(bool(torch.isfinite(v).all()) for v in state_dict.values() if torch.is_tensor(v) and v.is_floating_point())


def _checkpoints_are_finite(run):
    files = sorted((run / "checkpoints").glob("*.pt")) if (run / "checkpoints").is_dir() else []
    for f in files:
        state = load(f)
        for net in ("G", "D", "G_ema"):
            if state.get(net) is not None:
                assert _all_finite(state[net]), (f.name, net)
    return files


def test_divergence_from_huge_learning_rates_stops_with_one_line(tiny_mnist, tmp_path, capsys):
    run = tmp_path / "boom"
    capsys.readouterr()
    code = main(["train", "mnist-mlp", "--out", str(run), "--set", *SMALL, f"data.root={tiny_mnist}",
                 "train.steps=50", "checkpoint.every=1", "train.lr_d=1e30", "train.lr_g=1e30",
                 "train.auto_remedy=false"])
    lines = _err_lines(capsys)
    assert code == 2, lines
    assert len(lines) == 1 and "diverged" in lines[0], lines
    span = re.search(r"(?:between step (\d+) and step (\d+)|by step (\d+))", lines[0])
    assert span, lines[0]
    bad = int(span.group(2) or span.group(3))
    assert bad < 50 and max(r["step"] for r in _rows(run)) <= bad            # it stopped, not ran to the end
    files = _checkpoints_are_finite(run)
    kept = re.search(r"last finite checkpoint is step (\d+)", lines[0])
    if kept:
        assert load(run / "checkpoints" / "latest.pt")["step"] == int(kept.group(1)) < bad
        assert "--resume" in lines[0]
    else:
        assert files == [] and "lower learning rates" in lines[0]


class BlowUpAt(Hook):
    """Sets both learning rates to 1e30 after step k (through the context's named action)."""

    def __init__(self, k):
        self.k = k

    def on_step(self, ctx, stats):
        if ctx.step == self.k:
            ctx.set_lr("d", 1e30)
            ctx.set_lr("g", 1e30)


def _blow_up(tiny_mnist, run):
    with pytest.raises(Diverged) as info:
        _small_run(tiny_mnist, run, "train.steps=12", "checkpoint.every=1", "checkpoint.keep=3", hooks=[BlowUpAt(3)])
    return str(info.value)


def test_divergence_keeps_the_checkpoints_from_before_it(tiny_mnist, tmp_path):
    run = tmp_path / "boom"
    message = _blow_up(tiny_mnist, run)
    assert "\n" not in message
    files = _checkpoints_are_finite(run)
    names = [f.name for f in files]
    assert "step-0000002.pt" in names and "latest.pt" in names   # written before the blow-up, kept
    latest_step = load(run / "checkpoints" / "latest.pt")["step"]
    assert f"last finite checkpoint is step {latest_step}" in message
    bad = int(re.search(r"step (\d+) \(non-finite", message).group(1))
    assert 3 <= latest_step < bad < 12
    assert max(r["step"] for r in _rows(run)) <= bad                 # stopped there
    command = shlex.split(message[message.index("gankit train "):])
    assert command[:4] == ["gankit", "train", str(run), "--resume"] and "--allow-change" in command


def test_the_divergence_advice_resumes_with_lower_learning_rates(tiny_mnist, tmp_path, capsys):
    run = tmp_path / "boom"
    message = _blow_up(tiny_mnist, run)
    command = shlex.split(message[message.index("gankit train "):])[1:]
    capsys.readouterr()
    assert main(command) == 0, _err_lines(capsys)
    state = load(run / "checkpoints" / "latest.pt")
    assert state["step"] == 12 and _all_finite(state["G"]) and _all_finite(state["D"])


def test_the_divergence_advice_after_raised_rates_returns_to_the_presets(tiny_mnist, tmp_path, capsys):
    """A tenth of 1e30 would diverge again: when the run raised a rate above its preset's, the advice names
    the preset's value."""
    run = tmp_path / "raised"
    _small_run(tiny_mnist, run, "train.steps=4", "checkpoint.every=2")
    capsys.readouterr()
    code = main(["train", str(run), "--resume", "--set", "train.steps=40", "train.lr_d=1e30", "train.lr_g=1e30",
                 "--allow-change", "train.lr_d", "train.lr_g"])
    assert code == 2
    line = _err_lines(capsys)[-1]
    preset = api.resolve_config("mnist-mlp").train
    assert "last finite checkpoint is step 4" in line
    assert f"--set train.lr_d={preset.lr_d:g} train.lr_g={preset.lr_g:g} --allow-change" in line, line


def test_a_run_saved_before_a_key_existed_resumes_without_allow_change(tiny_mnist, tmp_path):
    """A checkpoint and config.json written before a config key was added (here model.min_channels and
    train.pg_fit) hold the key's default by definition: resuming is no change and needs no --allow-change."""
    run = _small_run(tiny_mnist, tmp_path / "r", "train.steps=2", "checkpoint.every=100")
    latest = run / "checkpoints" / "latest.pt"
    state = torch.load(latest, map_location="cpu", weights_only=False)
    for section, key in (("model", "min_channels"), ("train", "pg_fit")):
        del state["config"][section][key]
    torch.save(state, latest)
    saved = json.loads((run / "config.json").read_text())
    del saved["model"]["min_channels"], saved["train"]["pg_fit"]
    (run / "config.json").write_text(json.dumps(saved))
    api.train(str(run), ["train.steps=4"], resume=True, verbose=False)
    assert load(latest)["step"] == 4
    # a real change is still refused
    with pytest.raises(GankitError, match="train.lr_d"):
        api.train(str(run), ["train.steps=6", "train.lr_d=1e-3"], resume=True, verbose=False)
