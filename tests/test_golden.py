"""Behaviour must not change: every preset, a few CPU fp32 steps on tiny data, gives the weights it gave before.

The hashes in golden/presets.json were recorded from the code before the training core was reshaped
(``python tests/test_golden.py --record``). On a machine like the one that recorded them (same torch, same CPU
instruction sets, same CPU vendor) the SHA-256 of every weight must match bit for bit; elsewhere (another CPU
kind takes other matrix kernels, so the last bits of a float differ) each tensor's norm and sum must agree
within the bounds below, measured across two CPU kinds. A preset added later on another CPU kind
(``--record NAME`` there) carries its own ``machine``: exact on that kind, within the bounds elsewhere.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY, digit_images, write_cifar, write_idx

GOLDEN = Path(__file__).parent / "golden" / "presets.json"
PRESETS = sorted(p.stem for p in (Path(__file__).parents[1] / "src" / "gankit" / "presets").glob("*.yaml"))
BF16 = [p for p in PRESETS if "precision: bf16" in
        (Path(__file__).parents[1] / "src" / "gankit" / "presets" / f"{p}.yaml").read_text()]
TRANSLATORS = ("inpaint-64", "superres-64", "colorize-64")   # image-to-image presets on a folder
# one thread: the order of a parallel reduction must not depend on the machine's core count
COMMON = TINY + ["train.steps=3", "train.precision=fp32", "train.threads=1", "train.device=cpu",
                 "train.batch_size=8", "sample.n=4", "train.diagnose=false",
                 "train.pg_fit=false"]  # growing presets: the configured schedule, as recorded (by default a
# 3-step run, far too short for it, grows within its first 60%: train/progressive.py)


# Another CPU kind: what 3 fp32 steps on other matrix kernels may differ by, as a share of each tensor's norm.
# Measured between the recording AMD Zen 4 and an Intel Sapphire Rapids (AMX), every preset: norms by up to
# 3.9e-4 (folder-stable), sums by up to 7.9e-3 (cifar10-frog-dcgan; Adam turns last-bit differences in a
# near-zero gradient into whole steps); the bounds are about 5x that.
SAME_KERNELS_NORM = 2e-3
SAME_KERNELS_SUM = 4e-2


def _data(tmp: Path) -> dict:
    """Tiny MNIST idx files, CIFAR-10 batches and an image folder, all written here."""
    from PIL import Image
    mnist = tmp / "mnist"
    mnist.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 48), ("t10k", 16)):
        write_idx(mnist / f"{split}-images-idx3-ubyte", digit_images(n, seed=n))
        write_idx(mnist / f"{split}-labels-idx1-ubyte", np.arange(n) % 10)
    rng = np.random.default_rng(0)
    cifar = write_cifar(tmp / "cifar", rng)  # the folder images below continue the same random stream
    folder = tmp / "folder"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(12):
        img = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
        Image.fromarray(img).save(folder / f"{i:02d}.png")
    classes = tmp / "classes"  # class subfolders (data.labels=folders), from a stream of their own
    crng = np.random.default_rng(1)
    for k in range(12):
        (classes / f"c{k % 3}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(crng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(classes / f"c{k % 3}" / f"{k:02d}.png")
    return {"mnist": mnist, "cifar": cifar, "folder": folder, "classes": classes}


def _overrides(preset: str, data: dict, precision: str = "fp32") -> list:
    extra = {"cifar10-frog-dcgan": [f"data.root={data['cifar']}", "data.classes=[6, 3]"],
             "folder-dcgan": [f"data.path={data['folder']}"], "folder-stable": [f"data.path={data['folder']}"],
             "folder-64": [f"data.path={data['folder']}"], "folder-128": [f"data.path={data['folder']}"],
             "emoji-64": ["data.name=folder", f"data.path={data['folder']}"]}
    if preset.startswith(("folder-", "emoji-")) or preset in TRANSLATORS:  # folder presets, emoji demos: the folder
        extra[preset] = [f"data.path={data['folder']}"]  # (data.path switches the emoji source to the folder)
    if preset.startswith("folder-cond"):  # a conditional folder preset: one subfolder per class
        extra[preset] = [f"data.path={data['classes']}"]
    if preset == "mnist-fast":  # fewer clusters for the 48 tiny images
        extra[preset] = [f"data.root={data['mnist']}", "model.clusters=4"]
    return COMMON + extra.get(preset, [f"data.root={data['mnist']}"]) + [f"train.precision={precision}"]


def fingerprint(state: dict) -> dict:
    """SHA-256 over every weight of G, D and the EMA of G in key order, and (sum, norm) of each tensor."""
    h, stats = hashlib.sha256(), []
    for net in ("G", "D", "G_ema"):
        sd = state.get(net)
        if sd is None:
            continue
        for k in sorted(sd):
            t = sd[k]
            if not torch.is_tensor(t) or not t.is_floating_point():
                continue
            t = t.detach().cpu().contiguous()
            h.update(f"{net}.{k}".encode())
            h.update(t.numpy().tobytes())
            stats.append([float(t.double().sum()), float(t.double().norm())])
    return {"sha256": h.hexdigest(), "stats": stats}


def _machine() -> str:
    """torch, the CPU's vendor and the instruction sets its matrix kernels choose between: two machines that
    agree on these take the same kernels (an AMD Zen 4 and an Intel Sapphire Rapids both have avx512_bf16, but
    only the Intel has AMX, and their fp32 results differ in the last bits)."""
    info = ""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        pass
    vendor = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("vendor_id")),
                  "unknown")
    isa = [f for f in ("avx512_bf16", "amx_tile", "avx512f", "avx2") if f" {f}" in info]
    return f"torch {torch.__version__}; {vendor}; {' '.join(isa) or 'base'}"


def train_preset(preset: str, tmp: Path, precision: str = "fp32") -> dict:
    from gankit import api
    from gankit.train.checkpoint import load
    data = _data(tmp / "data")
    run = api.train(preset, _overrides(preset, data, precision), out=str(tmp / preset), hooks=[], verbose=False)
    return fingerprint(load(run / "checkpoints" / "latest.pt"))


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_weights_unchanged(preset, tmp_path):
    golden = json.loads(GOLDEN.read_text())
    assert preset in golden["presets"], f"no golden hash for {preset}: record one with tests/test_golden.py --record"
    want, got = golden["presets"][preset], train_preset(preset, tmp_path)
    if want.get("machine", golden["machine"]) == _machine():  # an entry recorded on another CPU kind says so
        assert got["sha256"] == want["sha256"]
    else:
        assert len(got["stats"]) == len(want["stats"])
        got_s, want_s = np.array(got["stats"]), np.array(want["stats"])
        norm = want_s[:, 1]
        np.testing.assert_allclose(got_s[:, 1], norm, rtol=SAME_KERNELS_NORM, atol=1e-8)
        assert np.all(np.abs(got_s[:, 0] - want_s[:, 0]) <= SAME_KERNELS_SUM * norm + 1e-8)


@pytest.mark.parametrize("preset", BF16)
def test_bf16_fast_path_weights_unchanged(preset, tmp_path):
    """The presets that train in bf16, in bf16: bf16 rounding amplifies kernel differences, so only exact."""
    golden = json.loads(GOLDEN.read_text())
    machine = golden["bf16"].get(preset, {}).get("machine", golden["machine"])
    if machine != _machine():
        pytest.skip(f"bf16 hashes were recorded on {machine}, this is {_machine()}")
    assert train_preset(preset, tmp_path, "bf16")["sha256"] == golden["bf16"][preset]["sha256"]


if __name__ == "__main__" and "--record" in sys.argv:
    # --record: every preset; --record NAME ...: only those (a new preset), keeping the other hashes as they are
    import os
    import tempfile
    names = [a for a in sys.argv[sys.argv.index("--record") + 1:] if not a.startswith("-")]
    out = json.loads(GOLDEN.read_text()) if names else {"presets": {}, "bf16": {}}
    other = bool(names) and out["machine"] != _machine()
    if other and any(n in out["presets"] for n in names):
        raise SystemExit(f"the hashes were recorded on {out['machine']}; this is {_machine()}: record all, or "
                         "only new presets (each entry then names its machine)")
    if not other:
        out["machine"] = _machine()
    with tempfile.TemporaryDirectory() as d:
        os.environ["GANKIT_DATA"] = str(Path(d) / "cache")
        for p in names or PRESETS:
            out["presets"][p] = train_preset(p, Path(d) / p)
            if other:
                out["presets"][p]["machine"] = _machine()
            print(p, out["presets"][p]["sha256"][:16], flush=True)
        for p in [b for b in BF16 if not names or b in names]:
            out["bf16"][p] = train_preset(p, Path(d) / f"{p}-bf16", "bf16")
            if other:
                out["bf16"][p]["machine"] = _machine()
            print(p, "bf16", out["bf16"][p]["sha256"][:16], flush=True)
    GOLDEN.write_text(json.dumps(out, indent=1) + "\n")
