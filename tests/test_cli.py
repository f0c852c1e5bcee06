"""User mistakes: one line on stderr, exit status 2, no traceback, nothing overwritten."""
import hashlib
import json
import re

import pytest

from gankit import api
from gankit.cli import main


def one_line_error(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    return err[0]


def test_presets_lists_descriptions(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "mnist-mlp" in out and "Lesson 001" in out


def test_presets_are_grouped_under_a_start_here_line(capsys):
    from gankit.cli import START_HERE
    from gankit.config import PRESET_GROUPS, preset_names
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == START_HERE
    named = {w for w in START_HERE.replace(",", " ").split() if w in preset_names()}
    assert named == {"mnist-fast", "folder-64"}
    headings = [line.split(":")[0] for line in lines[1:] if line and not line.startswith(" ")]
    assert headings == [g for g in [*PRESET_GROUPS, "other"] if g in headings] and "lessons" in headings
    rows = [line for line in lines if line.startswith("  ")]
    assert {r.split()[0] for r in rows} == set(preset_names())


def test_every_preset_names_a_group_and_one_short_line():
    import yaml

    from gankit.config import PRESET_DIR, PRESET_GROUPS, preset_names
    for name in preset_names():
        raw = yaml.safe_load((PRESET_DIR / f"{name}.yaml").read_text())
        assert raw.get("group") in PRESET_GROUPS, f"{name}: group must be one of {list(PRESET_GROUPS)}"
        desc = raw.get("description", "")
        assert desc and "\n" not in desc and len(desc) <= 100, f"{name}: one line of at most 100 characters"
        assert not re.search(r"\d\s*(min|minutes|h|hours|s)\b", desc), f"{name}: timings belong in docs/benchmarks"


def test_an_unknown_preset_group_is_one_line(monkeypatch, tmp_path, capsys):
    import gankit.config as config
    (tmp_path / "x.yaml").write_text('description: "x"\ngroup: lesons\n')
    monkeypatch.setattr(config, "PRESET_DIR", tmp_path)
    assert main(["presets"]) == 2
    assert "did you mean 'lessons'" in one_line_error(capsys)


def test_version(capsys):
    from gankit import __version__
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"gankit {__version__}"


def test_dry_run_prints_resolved_config(capsys):
    assert main(["train", "mnist-mlp", "--set", "train.lr_d=1e-5", "--dry-run"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["train"]["lr_d"] == 1e-5 and cfg["model"]["d_dropout"] == 0.3


@pytest.mark.parametrize("argv,words", [
    (["train", "mnsit-mlp"], "did you mean 'mnist-mlp'"),
    (["train", "mnist-mlp", "--set", "train.lrd=1"], "unknown config key"),
    (["train", "mnist-mlp", "--set", "train.lr_d=fast"], "expects a number"),
    (["train", "mnist-mlp", "--set", "train.steps=1.5"], "whole number"),
    (["train", "missing.yaml"], "not found"),
    (["sample", "nowhere", "--out", "x.npy"], "not a gankit run directory"),
    (["train", "mnist-mlp", "--bogus"], "unrecognized arguments"),
])
def test_bad_input_is_one_line_exit_2(argv, words, capsys):
    with pytest.raises(SystemExit) as e:
        code = main(argv)
        raise SystemExit(code)
    assert e.value.code == 2
    assert words in one_line_error(capsys)


def test_empty_and_corrupt_folders(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train", "folder-dcgan", "--set", f"data.path={empty}", "--out", str(tmp_path / "r")]) == 2
    assert "holds no images" in one_line_error(capsys)
    bad = tmp_path / "bad"
    bad.mkdir()
    for i in range(4):
        (bad / f"{i}.png").write_bytes(b"\x89PNG broken")
    assert main(["train", "folder-dcgan", "--set", f"data.path={bad}", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert any("skipped 4 unreadable" in line for line in err)
    assert err[-1].startswith("gankit: error:") and "usable" in err[-1] and "Traceback" not in "".join(err)
    assert not (tmp_path / "r").exists()


def _digest(run):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run.rglob("*")) if p.is_file()}


def test_checkpoint_from_another_preset_is_refused(tiny_mnist, tmp_path, capsys):
    run = api.train("mnist-mlp", ["log.progress=false", "train.steps=2", "train.batch_size=16",
                                  f"data.root={tiny_mnist}", "model.g_hidden=[16]", "model.d_hidden=[16]"],
                    out=str(tmp_path / "r"), verbose=False)
    before = _digest(run)
    code = main(["train", "mnist-dcgan", "--out", str(run), "--resume", "--set", f"data.root={tiny_mnist}"])
    assert code == 2
    line = one_line_error(capsys)
    assert "different config" in line and "model.name" in line
    code = main(["train", "mnist-mlp", "--out", str(run), "--set", f"data.root={tiny_mnist}"])
    assert code == 2 and "--resume" in one_line_error(capsys)
    assert _digest(run) == before


def test_resume_continues_with_the_runs_own_settings(tiny_mnist, tmp_path, capsys):
    opts = ["--set", "log.progress=false", "--set", "train.batch_size=16", "--set", f"data.root={tiny_mnist}",
            "--set", "model.g_hidden=[16]", "--set", "model.d_hidden=[16]"]
    assert main(["train", "mnist-mlp", "--out", str(tmp_path / "r"), "--set", "train.steps=2", *opts]) == 0
    assert main(["train", str(tmp_path / "r"), "--resume", "--out", str(tmp_path / "r"),
                 "--set", "train.steps=4"]) == 0
    assert main(["train", "mnist-mlp", "--resume", "--out", str(tmp_path / "r"), "--set", "train.steps=5"]) == 0
    # a run directory given as the config is its own --out
    assert main(["train", str(tmp_path / "r"), "--resume", "--set", "train.steps=6"]) == 0
    from gankit.train.checkpoint import load
    assert load(tmp_path / "r" / "checkpoints" / "latest.pt")["step"] == 6


@pytest.mark.parametrize("exc,words", [
    (RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you "
                  "tried to allocate 40960000 bytes. Error code 12"), "out of memory (it tried to allocate 40960000"),
    (MemoryError(), "out of memory; lower train.batch_size"),
    (OSError(28, "No space left on device", "/r/checkpoints/latest.pt"),
     "no space left on device writing /r/checkpoints/latest.pt; free some space"),
])
def test_running_out_of_memory_or_disk_is_one_line(monkeypatch, capsys, exc, words):
    def fail(*a, **k):
        raise exc
    monkeypatch.setattr(api, "train", fail)
    assert main(["train", "ring-2d"]) == 1
    assert words in one_line_error(capsys)


def test_running_out_of_memory_mid_training_is_a_line_of_its_own(monkeypatch, capsys, tmp_path):
    """The progress bar is closed first, so the error does not start in the middle of the bar's line."""
    from gankit.train.trainer import Trainer
    real = Trainer.train_step

    def step(self):
        if self.step == 3:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 bytes.")
        real(self)
    monkeypatch.setattr(Trainer, "train_step", step)
    assert main(["train", "ring-2d", "--out", str(tmp_path / "r"), "--set", "train.steps=10",
                 "log.progress=true", "checkpoint.every=1000", "sample.every=0", "train.diagnose=false"]) == 1
    err = capsys.readouterr().err
    assert "\ngankit: error: out of memory (it tried to allocate 8 bytes)" in err, err[-300:]


def test_other_failures_keep_their_traceback(monkeypatch):
    def fail(*a, **k):
        raise RuntimeError("a bug")
    monkeypatch.setattr(api, "train", fail)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["train", "ring-2d"])
