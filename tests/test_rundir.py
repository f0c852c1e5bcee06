"""RunDir: the run directory's format in one place (names, logs, unfinished starts, the run's own files)."""
import json

from gankit import api
from gankit.rundir import LOGS, RunDir, step_name, step_of
from gankit.train import checkpoint as ckpt
from gankit.train.lock import RunLock


def test_names_sort_by_step_and_read_back():
    assert step_name(1000, ".pt") == "step-0001000.pt"
    rd = RunDir("runs/x")
    assert step_of(rd.checkpoint(1000)) == 1000 and step_of(rd.grid(7)) == 7
    assert step_of(rd.samples / "step-abc.png") == -1 and step_of(rd.latest) == -1
    assert rd.latest.parent == rd.checkpoints and rd.lock.parent == rd.path


def test_logs_append_read_and_truncate(tmp_path):
    rd = RunDir(tmp_path)
    for s in (1, 2, 3):
        rd.append("metrics", {"step": s, "loss_d": 0.5})
    rd.append("events", {"step": 3, "kind": "x", "message": "m"})
    with open(rd.log("metrics"), "a") as f:
        f.write('{"step": 4, "lo')  # cut short by a kill
    assert [r["step"] for r in rd.read("metrics")] == [1, 2, 3]
    rd.truncate_logs(2)
    assert [r["step"] for r in rd.read("metrics")] == [1, 2] and rd.read("events") == []
    assert set(LOGS) == {"metrics", "events", "sessions"}  # no log that nobody writes


def test_unfinished_means_logs_and_pictures_without_a_checkpoint(tmp_path):
    rd = RunDir(tmp_path)
    rd.samples.mkdir()
    rd.grid(0).write_bytes(b"png")
    rd.append("metrics", {"step": 1})
    assert rd.unfinished_files() == [rd.log("metrics"), rd.grid(0)]
    rd.checkpoints.mkdir()
    rd.checkpoint(5).write_bytes(b"pt")
    assert rd.unfinished_files() == [] and rd.kept_steps() == [5] and rd.has_checkpoints()
    rd.checkpoint(5).unlink()
    rd.clear_unfinished()
    assert not rd.log("metrics").exists() and not rd.grid(0).exists()


def test_owns_the_top_level_files_samples_and_checkpoints(tmp_path):
    rd = RunDir(tmp_path / "run")
    assert rd.owns(rd.config) and rd.owns(rd.grid(3)) and rd.owns(rd.samples) and rd.owns(rd.checkpoints / "a")
    assert rd.owns(tmp_path / "run" / "progress.gif") and rd.owns(tmp_path / "run" / "memorisation.png")
    assert not rd.owns(tmp_path / "run" / "extra.png") and not rd.owns(tmp_path / "elsewhere.png")


def test_the_trainer_checkpoints_and_lock_use_its_names(tmp_path):
    run = api.train("ring-2d", ["log.progress=false", "train.threads=1", "train.steps=4", "checkpoint.every=2",
                                "sample.every=2", "log.every=1", "model.g_hidden=[8]", "model.d_hidden=[8]"],
                    out=str(tmp_path / "r"), verbose=False)
    rd = RunDir(run)
    assert rd.kept_steps() == [2, 4] and rd.latest.is_file() and ckpt.step_files(rd.checkpoints) == \
        rd.step_checkpoints()
    assert [s for s, _ in rd.frames()] == [0, 2, 4]
    assert [r["step"] for r in rd.read("metrics") if "loss_d" in r] == [1, 2, 3, 4]
    assert json.loads(rd.config.read_text())["train"]["steps"] == 4
    assert RunLock(run).path == rd.lock and not rd.lock.exists()
