"""Hostile input and bad luck (issue 14): crafted files run no code, a full disk or a second trainer loses no
checkpoint, and every user mistake is one GankitError line."""
import errno
import json
import os
import pickle
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gankit import api
from gankit.cli import main
from gankit.config import DataConfig
from gankit.data import load_data
from gankit.data.cifar import read_batch
from gankit.data.folder import to_square
from gankit.errors import GankitError
from gankit.train import checkpoint as ckpt
from gankit.train.lock import RunLock

RING = ["log.progress=false", "sample.every=0", "train.threads=1", "train.batch_size=32", "model.g_hidden=[16]",
        "model.d_hidden=[16]", "checkpoint.every=2", "log.every=1"]


def ring_run(tmp_path, name="run", steps=4, extra=()):
    return api.train("ring-2d", RING + [f"train.steps={steps}", *extra], out=str(tmp_path / name), verbose=False)


# ---- 1. CIFAR batches are unpickled without running code ---------------------------------------------------

class _Touch:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def _py2_str(b: bytes) -> bytes:
    """SHORT_BINSTRING / BINSTRING: how Python 2's cPickle wrote a str."""
    return (b"U" + bytes([len(b)]) + b) if len(b) < 256 else (b"T" + struct.pack("<i", len(b)) + b)


def py2_batch(data: np.ndarray, labels) -> bytes:
    """A batch pickled as the official files are (Python 2, protocol 2, numpy.core.multiarray globals)."""
    n, w = data.shape
    dtype = b"cnumpy\ndtype\n" + _py2_str(b"u1") + b"K\x00K\x01\x87R" + b"(K\x03" + _py2_str(b"|") \
        + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    array = (b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n" + b"K\x00\x85" + _py2_str(b"b")
             + b"\x87R" + b"(K\x01M" + struct.pack("<H", n) + b"M" + struct.pack("<H", w) + b"\x86" + dtype
             + b"\x89" + _py2_str(data.tobytes()) + b"tb")
    labs = b"](" + b"".join(b"K" + bytes([int(v)]) for v in labels) + b"e"
    return b"\x80\x02}(" + _py2_str(b"data") + array + _py2_str(b"labels") + labs + b"u."


def test_cifar_batch_with_a_reduce_payload_runs_nothing(tiny_cifar, tmp_path):
    marker = tmp_path / "touched"
    batch = tiny_cifar / "cifar-10-batches-py" / "data_batch_3"
    with open(batch, "wb") as f:
        pickle.dump({b"data": _Touch(marker), b"labels": [0] * 20}, f)
    with pytest.raises(GankitError, match=r"data_batch_3 is not a CIFAR-10 python batch \(posix.system is not "
                                          r"allowed"):
        load_data(DataConfig(name="cifar10", root=str(tiny_cifar), resolution=32, channels=3), verbose=False)
    assert not marker.exists()
    code = main(["train", "cifar10-frog-dcgan", "--set", f"data.root={tiny_cifar}", "--set", "train.steps=1",
                 "--out", str(tmp_path / "run")])
    assert code == 2 and not marker.exists()


def test_cifar_batches_as_python2_wrote_them_load(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, (3, 3072), dtype=np.uint8)
    path = tmp_path / "data_batch_1"
    path.write_bytes(py2_batch(data, [6, 0, 9]))
    images, labels = read_batch(path)
    assert images.shape == (3, 3, 32, 32) and np.array_equal(images.reshape(3, -1), data)
    assert labels.tolist() == [6, 0, 9]


def test_cifar_checksum_mismatch_is_a_warning_and_bad_labels_an_error(tiny_cifar, capsys):
    load_data(DataConfig(name="cifar10", root=str(tiny_cifar), split="test", resolution=32, channels=3))
    assert "test_batch differ from the official CIFAR-10 files" in capsys.readouterr().err
    with open(tiny_cifar / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 10]}, f)
    with pytest.raises(GankitError, match="labels must be 0-9"):
        load_data(DataConfig(name="cifar10", root=str(tiny_cifar), split="test"), verbose=False)


# ---- 5. latest.pt is its own copy ----------------------------------------------------------------------------

def test_copying_an_old_step_over_latest_leaves_the_newest_step_alone(tmp_path):
    run = ring_run(tmp_path)
    d = run / "checkpoints"
    newest, older, latest = d / "step-0000004.pt", d / "step-0000002.pt", d / "latest.pt"
    assert latest.stat().st_ino != newest.stat().st_ino and latest.read_bytes() == newest.read_bytes()
    before = newest.read_bytes()
    with open(older, "rb") as src, open(latest, "wb") as dst:  # what `cp step-…2.pt latest.pt` does
        dst.write(src.read())
    assert newest.read_bytes() == before
    assert ckpt.load(latest)["step"] == 2


def test_damaged_latest_names_a_readable_step_file_and_the_advice_works(tmp_path):
    run = ring_run(tmp_path)
    d = run / "checkpoints"
    (d / "latest.pt").write_bytes(b"\x00" * 100)
    (d / "step-0000004.pt").write_bytes(os.urandom(300))  # both copies damaged: the advice skips to step 2
    with pytest.raises(GankitError) as e:
        ckpt.load(d / "latest.pt")
    msg = str(e.value)
    assert "\n" not in msg and "step 2" in msg and f"cp {d / 'step-0000002.pt'} {d / 'latest.pt'}" in msg
    os.unlink(d / "latest.pt")
    os.system(f"cp {d / 'step-0000002.pt'} {d / 'latest.pt'}")
    api.train(str(run), ["train.steps=6"], resume=True, verbose=False)
    assert ckpt.load(d / "latest.pt")["step"] == 6


@pytest.mark.parametrize("damage,expected", [
    (lambda s: s.pop("rng"), "rng is missing"),
    (lambda s: s.pop("config"), "config is missing"),
    (lambda s: s.update(step="abc"), "step is a str, not int"),
    (lambda s: s["rng"].pop("numpy"), "rng.numpy is missing"),
    (lambda s: s.update(data={"perm": [1, 2], "pos": 0}), "data order"),
])
def test_incomplete_checkpoints_are_one_line(tmp_path, damage, expected):
    run = ring_run(tmp_path)
    latest = run / "checkpoints" / "latest.pt"
    state = torch.load(latest, weights_only=True)
    damage(state)
    torch.save(state, latest)
    with pytest.raises(GankitError, match=expected):
        ckpt.load(latest)
    assert main(["train", str(run), "--resume", "--set", "train.steps=8"]) == 2
    assert main(["sample", str(run), "--n", "4", "--out", str(tmp_path / "s.npy")]) == 2


# ---- 6. a full disk -----------------------------------------------------------------------------------------

class Usage:
    def __init__(self, free: int):
        self.free = free


def _half_then_enospc(state, path, *a, **k):
    Path(path).write_bytes(b"x" * 1000)
    raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    run = ring_run(tmp_path)
    d = run / "checkpoints"
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    state = ckpt.load(d / "latest.pt")
    monkeypatch.setattr(torch, "save", _half_then_enospc)
    with pytest.raises(GankitError, match=r"no space left on .* MB needed.*continue with --resume"):
        ckpt.save(state, d, 6, keep=3)
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before  # no partial file, nothing replaced


def test_full_disk_reported_by_torch_as_runtime_error(tmp_path, monkeypatch):
    d = tmp_path / "ckpt"

    def iostream(state, path, *a, **k):
        Path(path).write_bytes(b"x" * 10)
        raise RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 64 vs 0")
    monkeypatch.setattr(torch, "save", iostream)
    monkeypatch.setattr(ckpt.shutil, "disk_usage", lambda p: Usage(4096))
    with pytest.raises(GankitError, match=r"no space left on .* \(about 3 MB needed, 0 MB free\)"):
        ckpt.save({"w": torch.zeros(1 << 18)}, d, 1, keep=3)
    assert list(d.iterdir()) == []
    monkeypatch.setattr(ckpt.shutil, "disk_usage", lambda p: Usage(1 << 40))
    with pytest.raises(GankitError, match=r"cannot write .*step-0000001.pt \(RuntimeError: \[enforce fail"):
        ckpt.save({"w": torch.zeros(4)}, d, 1, keep=3)


def test_full_disk_writing_config_json_keeps_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    path.write_text('{"old": 1}')

    def full(self, text, *a, **k):
        Path.write_bytes(self, text[:5].encode())
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(GankitError, match="no space left") as err:
        api._write_json(path, {"new": 2})
    assert str(err.value).endswith("run the command again")   # not --resume: no run needs resuming here
    monkeypatch.undo()
    assert path.read_text() == '{"old": 1}' and sorted(os.listdir(tmp_path)) == ["config.json"]


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temporary_files_of_killed_runs_go_on_the_next_start(tmp_path):
    run = ring_run(tmp_path)
    d = run / "checkpoints"
    dead, live = _dead_pid(), subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = [d / f".tmp-{dead}.pt", d / f".tmp-latest-{dead}.pt", run / f".tmp-{dead}-config.json"]
        kept = d / f".tmp-{live.pid}.pt"
        for p in stale + [kept]:
            p.write_bytes(b"partial")
        api.train(str(run), ["train.steps=6"], resume=True, verbose=False)
        assert not any(p.exists() for p in stale) and kept.exists()
    finally:
        live.kill()
        live.wait()


# ---- 7. one trainer per run directory -----------------------------------------------------------------------

def test_a_second_trainer_is_refused_while_the_run_is_locked(tmp_path, capsys):
    run = tmp_path / "run"
    with RunLock(run):
        code = main(["train", "ring-2d", "--set", "train.steps=2", "--out", str(run)])
        assert code == 2
        assert f"{run} is in use by another gankit process (pid {os.getpid()})" in capsys.readouterr().err
        assert sorted(os.listdir(run)) == [".lock"]  # the refused trainer wrote nothing
    assert not run.exists()  # nothing was trained: the lock's empty folder goes too
    ring_run(tmp_path, steps=2)
    with RunLock(run), pytest.raises(GankitError, match=r"in use .*pid"):
        api.train(str(run), ["train.steps=4"], resume=True, verbose=False)
    api.train(str(run), ["train.steps=4"], resume=True, verbose=False)  # released: the resume goes ahead
    assert not (run / ".lock").exists()


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from gankit.train.lock import RunLock; "
                               f"RunLock({str(run)!r}).acquire(); print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"held"
        with pytest.raises(GankitError, match=f"pid {holder.pid}"):
            RunLock(run).acquire()
    finally:
        holder.kill()
        holder.wait()
    assert (run / ".lock").exists()  # kill -9 left the file, but the kernel dropped the lock
    ring_run(tmp_path, steps=2)


def test_a_fresh_start_over_a_run_killed_before_its_first_checkpoint(tmp_path):
    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    # what the killed start wrote first: the config of this same run (train.steps may differ)
    (run / "config.json").write_text(api.resolve_config("ring-2d", RING + ["train.steps=9"]).to_json())
    (run / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "loss_d": 1.0}) + "\n" for s in range(1, 9)))
    (run / "samples" / "step-0000008.png").write_bytes(b"\x89PNG cut short")
    ring_run(tmp_path, steps=3)
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
    assert not (run / "samples" / "step-0000008.png").exists()


# ---- resume: nothing is written before the checkpoint has loaded ----------------------------------------------

@pytest.mark.parametrize("key,value,words", [
    ("train.optimizer", "rmsprop", "train.optimizer cannot change on resume: the checkpoints of"),
    ("model.g_hidden", "[7]", "the checkpoint does not fit this run: G."),
])
def test_a_resume_that_cannot_load_writes_nothing(tmp_path, key, value, words, capsys):
    run = ring_run(tmp_path)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    code = main(["train", str(run), "--resume", "--set", "train.steps=8", f"{key}={value}", "--allow-change", key])
    assert code == 2
    assert words in capsys.readouterr().err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("under,expected", [("", "is a file, not a folder"),
                                            ("run", "afile is a file, not a folder")])
def test_out_that_cannot_be_a_run_directory(tmp_path, under, expected, capsys):
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / under if under else tmp_path / "afile"
    assert main(["train", "ring-2d", "--set", "train.steps=2", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1 and "Traceback" not in err


def test_out_on_a_read_only_folder(tmp_path, monkeypatch, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == ro else real_access(p, mode))
    assert main(["train", "ring-2d", "--set", "train.steps=2", "--out", str(ro / "run")]) == 2
    assert "is read-only or not yours" in capsys.readouterr().err and not (ro / "run").exists()


# ---- sample: checked before anything runs; written in batches -------------------------------------------------

def test_sample_npy_is_written_in_batches_and_matches_generate(tmp_path):
    from gankit import load_run
    run = ring_run(tmp_path)
    out = api.sample(run, 2500, tmp_path / "s.npy", seed=3)
    assert np.array_equal(np.load(out), load_run(run).generate(2500, seed=3).numpy())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "s.npy"]


def test_sample_output_paths_are_checked_first(tmp_path, monkeypatch, capsys):
    run = ring_run(tmp_path)
    (tmp_path / "noext").write_text("x")
    assert main(["sample", str(run), "--n", "4", "--out", str(tmp_path / "noext")]) == 2
    assert "existing file without an extension" in capsys.readouterr().err
    assert main(["sample", str(run), "--n", "4", "--out", str(tmp_path / "noext" / "x.npy")]) == 2
    assert "noext is a file, not a folder" in capsys.readouterr().err
    monkeypatch.setattr("shutil.disk_usage", lambda p: Usage(1 << 20))
    with pytest.raises(GankitError, match=r"would take 76 MB .* has 1 MB free"):
        api.sample(run, 10_000_000, tmp_path / "big.npy")
    assert not (tmp_path / "big.npy").exists()


# ---- 8. 16-bit PNGs; 10. a damaged folder cache ---------------------------------------------------------------

def test_16_bit_greys_are_scaled_not_clipped(tmp_path):
    ramp = (np.arange(64, dtype=np.uint32) * 1040).clip(0, 65535).astype(np.uint16)  # 0 .. 65520
    img = np.tile(ramp, (64, 1))
    Image.fromarray(img).save(tmp_path / "ramp16.png")
    with Image.open(tmp_path / "ramp16.png") as im:
        assert im.mode.startswith("I")
        got = to_square(im, 64, 1)[0, 0]
    assert np.abs(got.astype(int) - np.rint(ramp / 257)).max() <= 1
    assert got[0] == 0 and got[32] in (129, 130) and got[-1] == 255


def test_damaged_folder_cache_is_rebuilt_with_a_line(tmp_path, capsys):
    pics = tmp_path / "pics"
    pics.mkdir()
    for i in range(3):
        Image.fromarray(np.full((20, 20, 3), 40 * i, np.uint8)).save(pics / f"{i}.png")
    cfg = DataConfig(name="folder", path=str(pics), resolution=16, channels=3, min_images=1)
    first = load_data(cfg).images
    cache = next((tmp_path / "cache" / "folders").glob("*.pt"))
    for damage in (b"", os.urandom(500), cache.read_bytes()[:200]):
        cache.write_bytes(damage)
        capsys.readouterr()
        assert torch.equal(load_data(cfg).images, first)
        assert "is damaged" in capsys.readouterr().err
    torch.save({"images": torch.zeros(3, 1, 16, 16, dtype=torch.uint8), "bad": [], "sides": [[20, 20]] * 3},
               cache)  # wrong shape
    capsys.readouterr()
    assert torch.equal(load_data(cfg).images, first)
    assert "is damaged (ValueError)" in capsys.readouterr().err
    load_data(cfg)
    assert "from the cache" in capsys.readouterr().err  # rebuilt once, then used


# ---- 9. samples that cannot be measured ---------------------------------------------------------------------

def test_non_finite_samples_and_mismatched_sizes_are_errors(tmp_path, capsys):
    from gankit.metrics import Evaluator
    from gankit.metrics.sources import from_array
    x = np.random.default_rng(0).uniform(-1, 1, (10, 1, 28, 28)).astype(np.float32)
    x[[1, 4, 7], 0, 3, 3] = [np.nan, np.inf, -np.inf]
    with pytest.raises(GankitError, match="3 of 10 samples hold NaN or inf"):
        from_array(x)
    np.save(tmp_path / "nan.npy", np.full((5, 2), np.nan, np.float32))
    assert main(["eval", "--samples", str(tmp_path / "nan.npy"), "--data", "ring-2d"]) == 2
    assert "5 of 5 samples hold NaN or inf" in capsys.readouterr().err
    real = from_array(np.zeros((4, 1, 28, 28), np.float32), "real")
    with pytest.raises(GankitError, match=r"holds images of shape \(1, 32, 32\) but real holds \(1, 28, 28\)"):
        Evaluator(["fid"], real, "inception")(from_array(np.zeros((4, 1, 32, 32), np.float32), "fake"))


# ---- one line where a traceback was ---------------------------------------------------------------------------

def test_fid_with_one_sample_and_a_missing_folder(tmp_path, capsys):
    assert main(["fid", "ring-2d", "ring-2d", "--n", "1"]) == 2
    assert "--n must be at least 2" in capsys.readouterr().err
    assert main(["fid", str(tmp_path / "no" / "such"), "ring-2d"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "unknown dataset" not in err


def test_decompression_bomb_is_one_line(tmp_path, monkeypatch, capsys):
    from gankit.style.io import load_image
    Image.new("L", (300, 300)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 90 000 pixels > 2 x the limit
    with pytest.raises(GankitError, match="too many to decode safely"):
        load_image(tmp_path / "bomb.png", what="content image")


def test_mnist_labels_outside_0_to_9(tiny_mnist):
    from conftest import write_idx
    write_idx(tiny_mnist / "t10k-labels-idx1-ubyte", np.arange(32) % 12)
    with pytest.raises(GankitError, match=r"labels must be 0-9, but 4 of 32 are larger \(up to 11\)"):
        load_data(DataConfig(name="mnist", root=str(tiny_mnist), split="test"), verbose=False)


def test_a_sample_png_cut_short_by_a_kill_does_not_break_the_gif(tmp_path):
    import numpy as np
    from PIL import Image

    from gankit import viz
    frames = []
    for i in range(3):
        frames.append(tmp_path / f"step-{i:07d}.png")
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(frames[-1])
    frames[-1].write_bytes(frames[-1].read_bytes()[:30])            # the last frame, half written
    out = viz.make_gif(frames, tmp_path / "progress.gif")
    with Image.open(out) as gif:
        assert gif.n_frames == 2


def test_sigterm_while_sampling_leaves_no_partial_file(tmp_path):
    """SIGTERM outside training stops as Ctrl-C does: the half-written .npy goes, exit status 130."""
    import signal
    run = ring_run(tmp_path)
    out = tmp_path / "big.npy"
    proc = subprocess.Popen([sys.executable, "-m", "gankit", "sample", str(run), "--n", "20000000", "--out",
                             str(out)], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while not list(tmp_path.glob(".tmp-*")) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert list(tmp_path.glob(".tmp-*")), "the sampler never started writing"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "interrupted" in err
    assert not out.exists() and not list(tmp_path.glob(".tmp-*"))


# ---- damaged run files: what is intact still serves ------------------------------------------------------------

def test_a_damaged_config_json_falls_back_to_the_checkpoints_config(tmp_path, capsys):
    run = ring_run(tmp_path)
    (run / "config.json").write_text('{"name": ')
    capsys.readouterr()
    assert main(["sample", str(run), "--n", "4", "--out", str(tmp_path / "s.npy")]) == 0
    assert "config.json is damaged" in capsys.readouterr().err and np.load(tmp_path / "s.npy").shape == (4, 2)
    assert main(["train", str(run), "--resume", "--set", "train.steps=6"]) == 0
    assert json.loads((run / "config.json").read_text())["train"]["steps"] == 6       # written again
    (run / "config.json").write_text("[1, 2]")
    (run / "checkpoints" / "latest.pt").unlink()                                       # nothing to fall back to
    capsys.readouterr()
    assert main(["sample", str(run), "--n", "4", "--out", str(tmp_path / "t.npy")]) == 2
    assert "config.json is damaged (a JSON list" in capsys.readouterr().err


def test_resume_over_garbage_log_rows_keeps_the_good_ones(tmp_path):
    run = ring_run(tmp_path, extra=["log.every=1"])
    with open(run / "metrics.jsonl", "a") as f:
        f.write('[1, 2]\n{"step": "abc"}\n{"step": 2, "loss_d": "x"}\n{"step": 3, "lo')
    assert main(["train", str(run), "--resume", "--set", "train.steps=6"]) == 0
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 2, 5, 6]     # the hand-written row at step 2 is a valid row and stays
