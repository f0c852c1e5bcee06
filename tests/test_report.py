"""The run report: what a run leaves (sessions, gradients, final picture), and the HTML's structure."""
import json
import os
import re
import shutil
import signal
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import TINY
from PIL import Image

from gankit import api
from gankit.cli import main
from gankit.report import build_report
from gankit.report.svg import Series, line_chart, smooth
from gankit.train.hooks import Hook

RING = ["log.progress=false", "train.steps=40", "sample.every=10", "log.every=5", "checkpoint.every=20",
        "train.batch_size=64", "model.g_hidden=[16]", "model.d_hidden=[16]", "train.diagnose=false"]


def frames_in(html: str):
    """The filmstrip's (step, data URI) pairs from the page's JSON block."""
    m = re.search(r'<script type="application/json" id="film-data">(.*?)</script>', html, re.S)
    return json.loads(m.group(1)) if m else []


@pytest.fixture
def ring_run(tmp_path):
    return api.train("ring-2d", RING, out=str(tmp_path / "ring"), verbose=False)


def test_training_writes_a_self_contained_report(ring_run):
    html = (ring_run / "report.html").read_text()
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert not re.search(r'(src|href)="(?!data:)', html), "every image is inline"
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html
    assert [s for s, _ in frames_in(html)] == [0, 10, 20, 30, 40]
    assert all(uri.startswith("data:image/png;base64,") for _, uri in frames_in(html))
    for title in ("losses", "D&#x27;s outputs (sigmoid)", "gradient norms", "learning rates"):
        assert f'aria-label="{title}' in html, title
    assert "ring-2d" in html and "train.steps" in html and "3000 → <b>40</b>" in html  # diff from the preset
    assert html.count("<svg") >= 4


def test_sessions_and_gradients_are_recorded_and_resume_adds_a_session(ring_run):
    sessions = [json.loads(l) for l in (ring_run / "sessions.jsonl").read_text().splitlines()]
    assert [(s["event"], s["step"]) for s in sessions] == [("start", 0), ("end", 40)]
    assert sessions[0]["torch"] and sessions[0]["device"] == "cpu" and sessions[1]["interrupted"] is False
    grads = [json.loads(l) for l in (ring_run / "metrics.jsonl").read_text().splitlines()]  # the trainer logs them
    assert [g["step"] for g in grads] == list(range(5, 45, 5))
    assert all(g["grad_norm_g"] > 0 and g["grad_norm_d"] > 0 for g in grads)
    api.train(str(ring_run), ["train.steps=60"], resume=True, verbose=False)
    sessions = [json.loads(l) for l in (ring_run / "sessions.jsonl").read_text().splitlines()]
    assert [(s["event"], s["step"]) for s in sessions] == [("start", 0), ("end", 40), ("start", 40), ("end", 60)]
    html = (ring_run / "report.html").read_text()
    assert "resumed at step 40" in html and "finished at step 60" in html


def test_findings_are_markers_on_the_step_axis_and_listed(ring_run):
    with open(ring_run / "events.jsonl", "a") as f:
        f.write(json.dumps({"step": 20, "kind": "d_wins", "message": "D tells them apart <easily>"}) + "\n")
        f.write(json.dumps({"step": 30, "kind": "remedy", "message": "remedy: halve lr_d"}) + "\n")
    html = build_report(ring_run).read_text()
    assert html.count("step 20 · d_wins: D tells them apart &lt;easily&gt;</title>") >= 2  # on losses and scores
    assert 'stroke="#2ca02c"' in html  # the remedy's marker is green
    assert '<li value="1">step 20 · <span class="kind finding">d_wins</span>' in html
    assert "<easily>" not in html  # the diagnoser's words are escaped


def test_report_command_and_its_mistakes(ring_run, tmp_path, capsys):
    out = tmp_path / "elsewhere" / "r.html"
    assert main(["report", str(ring_run), "-o", str(out)]) == 0
    assert out.is_file() and str(out) in capsys.readouterr().out
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a gankit run directory" in err[0]
    (tmp_path / "afile").write_text("x")
    for target, words in ((tmp_path, "is a folder"), (tmp_path / "afile" / "r.html", "afile is a file")):
        assert main(["report", str(ring_run), "-o", str(target)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err


def test_a_report_of_damaged_logs_shows_what_is_intact(ring_run, capsys):
    """Rows written by hand or cut short: wrong types, NaN, a step that is not a number, markup in a message."""
    def add(name, text):
        with open(ring_run / name, "a") as f:
            f.write(text)
    add("metrics.jsonl", '{"step": "abc", "loss_d": 1}\n[1, 2]\n{"step": 1e400, "loss_g": 1}\n'
                         '{"step": 41, "loss_d": "x", "time": "y", "d_real": [1]}\n{"step": 42, "loss_g": NaN}\n'
                         '{"step": 43, "eval/kid_inception": "s", "eval/fid_mnist": {"a": 1}}\n{"step": 44, "lo')
    add("events.jsonl", '{"step": 5, "kind": null, "message": 5}\n{"step": 7}\nnot json\n'
                        '{"step": 9, "kind": "collapse", "message": "<script>alert(1)</script>"}\n')
    add("sessions.jsonl", '{"event": "start", "step": 3, "session": "x", "wall_s": "q", "threads": [2]}\n'
                          '{"event": "end", "step": 2, "wall_s": "q", "session": "x"}\n{"event": "start"}\n')
    capsys.readouterr()
    assert main(["report", str(ring_run)]) == 0, capsys.readouterr().err
    html = (ring_run / "report.html").read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "resumed at step 3" in html


def test_long_run_report_stays_small(ring_run):
    first = ring_run / "samples" / "step-0000000.png"
    for step in range(50, 20050, 100):  # 200 more pictures, as a long run leaves
        shutil.copy(first, ring_run / "samples" / f"step-{step:07d}.png")
    html = build_report(ring_run).read_text()
    steps = [s for s, _ in frames_in(html)]
    assert len(steps) == 40 and steps[0] == 0 and steps[-1] == 19950
    assert len(html.encode()) < 4_000_000


def test_image_run_shows_real_generated_walk_and_final_grid(tiny_mnist, tmp_path):
    # 64 images, batch 16: an epoch is 4 steps; 6 steps with per-epoch grids leave 0 and 4, and the end adds 6
    run = api.train("mnist-mlp", TINY + ["train.steps=6", "train.batch_size=16", f"data.root={tiny_mnist}",
                                         "model.g_hidden=[32]", "model.d_hidden=[32]", "train.diagnose=false"],
                    out=str(tmp_path / "m"), verbose=False)
    assert sorted(p.name for p in (run / "samples").glob("*.png")) == [
        "step-0000000.png", "step-0000004.png", "step-0000006.png"]
    grid = Image.open(run / "samples" / "step-0000006.png")
    band = np.asarray(grid)[:14]
    assert grid.height == 8 * 30 * 2 + 4 + 14  # the grid, 2x, and a 14-pixel caption band
    assert 0.005 < (band > 128).mean() < 0.3  # light text on dark
    html = (run / "report.html").read_text()
    assert 'alt="real images"' in html and 'alt="generated images"' in html and 'alt="latent walk"' in html


def test_report_without_the_data_says_real_images_unavailable(tmp_path):
    from test_data import _write_mixed_folder
    _write_mixed_folder(tmp_path / "imgs")
    run = api.train("folder-dcgan", TINY + ["train.steps=2", f"data.path={tmp_path / 'imgs'}", "data.channels=3",
                                            "train.batch_size=4", "sample.n=4", "train.diagnose=false"],
                    out=str(tmp_path / "f"), verbose=False)
    shutil.rmtree(tmp_path / "imgs")
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)  # the decoded-folder cache too
    html = build_report(run).read_text()
    assert "real images unavailable" in html and 'alt="generated images"' in html


class StopAt(Hook):
    """Presses Ctrl-C (SIGINT to this process) after step `at`."""

    def __init__(self, at):
        self.at = at

    def on_step(self, trainer, stats):
        if trainer.step == self.at:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_leaves_a_final_picture_and_the_report(tmp_path):
    from gankit.config import apply_overrides, load_config
    cfg = apply_overrides(load_config("ring-2d"), RING + ["sample.every=1000"])
    with pytest.raises(Exception) as e:
        api.train(cfg, out=str(tmp_path / "stop"), hooks=[StopAt(7)] + api.default_hooks(cfg), verbose=False)
    assert "stopped at step 7" in str(e.value)
    run = tmp_path / "stop"
    assert (run / "samples" / "step-0000007.png").is_file() and (run / "report.html").is_file()
    ends = [json.loads(l) for l in (run / "sessions.jsonl").read_text().splitlines()][-1]
    assert ends["event"] == "end" and ends["interrupted"] is True
    assert "interrupted at step 7" in (run / "report.html").read_text()


def test_smoothing_and_chart_basics():
    raw = np.r_[np.zeros(50), np.ones(50)]
    s = smooth(raw, frac=0.05)  # window of 5 either side
    assert s[0] == 0 and s[-1] == 1 and 0 < s[50] < 1 and len(s) == 100
    svg = line_chart([Series("G", [(0, 1.0), (5, 2.0), (10, float("nan"))])], 10, "t")
    assert svg.startswith("<svg") and svg.endswith("</svg>") and "nan" not in svg


class Param(torch.nn.Module):
    """A module with one dummy weight (the field code asks D where its weights live)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))


class SetD(Param):
    """A set discriminator that likes draws near 4: logit = -mean (x - 4)^2 over the set."""

    def forward(self, x):
        return -((x - 4.0) ** 2).mean(1) + 0 * self.w


class LineD(Param):
    """A 2-D discriminator whose logit grows with x: logit = 3 x (summed over a pack)."""

    def forward(self, x):
        return 3 * x[:, 0::2].sum(1) + 0 * self.w  # packed: (B/pack, 2 pack), x at the even columns


def stub_trainer(name, D, **model):
    from gankit.config import apply_overrides, load_config
    from gankit.data import load_data
    cfg = apply_overrides(load_config(name), [f"model.{k}={v}" for k, v in model.items()])
    return SimpleNamespace(D=D, cfg=cfg, data=load_data(cfg.data, verbose=False))


def test_1d_d_curve_rises_where_d_wants_the_draws():
    from gankit.report.fields import d_curve_1d
    trainer = stub_trainer("gaussian-1d", SetD())
    xs, d = d_curve_1d(trainer, np.full((3000, 1), 1.0))  # G's draws all at 1
    assert xs.shape == d.shape == (200,) and np.all((0 < d) & (d < 1))
    assert abs(xs[np.argmax(d)] - 4.0) < 0.1  # moving a draw to 4 pleases this D most
    assert d[np.argmin(np.abs(xs - 1.0))] < d[np.argmin(np.abs(xs - 3.0))]


@pytest.mark.parametrize("pack", [1, 2])
def test_2d_field_heat_and_arrows_follow_d(pack):
    from gankit.models.layers import Packed
    from gankit.report.fields import d_field_2d
    D = LineD() if pack == 1 else Packed(LineD(), pack)
    trainer = stub_trainer("ring-2d", D, pack=pack)
    x = np.random.default_rng(0).normal(size=(500, 2)).astype(np.float32)
    f = d_field_2d(trainer, x, span=2.0, res=16)
    heat = f["heat"]
    assert heat.shape == (16, 16)
    # D rises along x: in every row; packed, each point sits among random real partners, so on average
    assert np.all(np.diff(heat if pack == 1 else heat.mean(0, keepdims=True), axis=1) > 0)
    assert f["at"].shape == f["uv"].shape == (256, 2) and f["real"].shape == (1000, 2)
    assert np.all(f["uv"][:, 0] > 0) and np.allclose(f["uv"][:, 1], 0)  # G's loss falls towards +x
