"""Behaviour must not change: every preset, a few CPU fp32 steps on tiny data, gives the weights it gave before.

The hashes in golden/presets.json were recorded from the code before the training core was reshaped
(``python tests/test_golden.py --record``). On a machine like the one that recorded them (same torch, same CPU
instruction set) the SHA-256 of every weight must match bit for bit; elsewhere (another CPU kind takes other
matrix kernels, so the last bits of a float differ) the per-tensor sums and norms must agree to 1e-4.
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
# one thread: the order of a parallel reduction must not depend on the machine's core count
COMMON = TINY + ["train.steps=3", "train.precision=fp32", "train.threads=1", "train.device=cpu",
                 "train.batch_size=8", "sample.n=4", "train.diagnose=false"]


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
    return {"mnist": mnist, "cifar": cifar, "folder": folder}


def _overrides(preset: str, data: dict, precision: str = "fp32") -> list:
    extra = {"cifar10-frog-dcgan": [f"data.root={data['cifar']}", "data.classes=[6, 3]"],
             "folder-dcgan": [f"data.path={data['folder']}"], "folder-stable": [f"data.path={data['folder']}"],
             "folder-64": [f"data.path={data['folder']}"], "folder-128": [f"data.path={data['folder']}"],
             "emoji-64": ["data.name=folder", f"data.path={data['folder']}"]}
    if preset.startswith(("folder-", "emoji-")):  # image-folder presets and the emoji demo: the tiny folder
        extra[preset] = [f"data.path={data['folder']}"]  # (data.path switches the emoji source to the folder)
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
    flags = ""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        pass
    isa = [f for f in ("avx512_bf16", "amx_tile", "avx512f", "avx2") if f" {f}" in flags]
    return f"torch {torch.__version__}; {isa[0] if isa else 'base'}"


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
    if golden["machine"] == _machine():
        assert got["sha256"] == want["sha256"]
    else:
        assert len(got["stats"]) == len(want["stats"])
        np.testing.assert_allclose(np.array(got["stats"]), np.array(want["stats"]), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("preset", BF16)
def test_bf16_fast_path_weights_unchanged(preset, tmp_path):
    """The presets that train in bf16, in bf16: bf16 rounding amplifies kernel differences, so only exact."""
    golden = json.loads(GOLDEN.read_text())
    if golden["machine"] != _machine():
        pytest.skip(f"bf16 hashes were recorded on {golden['machine']}, this is {_machine()}")
    assert train_preset(preset, tmp_path, "bf16")["sha256"] == golden["bf16"][preset]["sha256"]


if __name__ == "__main__" and "--record" in sys.argv:
    # --record: every preset; --record NAME ...: only those (a new preset), keeping the other hashes as they are
    import os
    import tempfile
    names = [a for a in sys.argv[sys.argv.index("--record") + 1:] if not a.startswith("-")]
    out = json.loads(GOLDEN.read_text()) if names else {"presets": {}, "bf16": {}}
    if names and out["machine"] != _machine():
        raise SystemExit(f"the hashes were recorded on {out['machine']}; this is {_machine()}: record all or none")
    out["machine"] = _machine()
    with tempfile.TemporaryDirectory() as d:
        os.environ["GANKIT_DATA"] = str(Path(d) / "cache")
        for p in names or PRESETS:
            out["presets"][p] = train_preset(p, Path(d) / p)
            print(p, out["presets"][p]["sha256"][:16], flush=True)
        for p in [b for b in BF16 if not names or b in names]:
            out["bf16"][p] = train_preset(p, Path(d) / f"{p}-bf16", "bf16")
            print(p, "bf16", out["bf16"][p]["sha256"][:16], flush=True)
    GOLDEN.write_text(json.dumps(out, indent=1) + "\n")
