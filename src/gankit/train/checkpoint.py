"""Complete checkpoints, written atomically and loaded with weights_only=True.

A checkpoint holds G, D, G_ema, both optimizers and schedulers, the AMP scaler, the step, every RNG state,
the data order, hook states and the resolved config, so a resumed run continues exactly as if never stopped.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from ..errors import GankitError

LATEST = "latest.pt"


def rng_state(data_gen: torch.Generator, device: Optional[torch.device] = None) -> Dict[str, Any]:
    state = {
        "torch": torch.get_rng_state(),
        "data": data_gen.get_state(),
        "python": _python_state_to_tensor(random.getstate()),
        "numpy": torch.from_numpy(np.random.get_state()[1].astype(np.int64)),
        "numpy_pos": int(np.random.get_state()[2]),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if device is not None and device.type == "cuda":  # the GPU this process trains on (its rank's, under DDP)
        state["cuda_device"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: Dict[str, Any], data_gen: torch.Generator, device: Optional[torch.device] = None) -> None:
    torch.set_rng_state(state["torch"])
    data_gen.set_state(state["data"])
    random.setstate(_python_state_from_tensor(state["python"]))
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"], 0, 0.0))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "cuda_device" in state and device is not None and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda_device"], device)  # every rank continues rank 0's noise stream


def _python_state_to_tensor(st) -> torch.Tensor:
    version, internal, _ = st
    return torch.tensor([version, *internal], dtype=torch.int64)


def _python_state_from_tensor(t: torch.Tensor):
    values = t.tolist()
    return (values[0], tuple(values[1:]), None)


def save(state: Dict[str, Any], ckpt_dir: Path, step: int, keep: int) -> Path:
    """Write step-XXXXXXX.pt and latest.pt atomically (temp file + rename); keep the last `keep` step files."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    step_path = ckpt_dir / f"step-{step:07d}.pt"
    tmp = ckpt_dir / f".tmp-{os.getpid()}.pt"
    torch.save(state, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, step_path)
    link_tmp = ckpt_dir / f".tmp-latest-{os.getpid()}.pt"
    try:
        os.link(step_path, link_tmp)  # a hard link: latest.pt costs no extra disk
    except OSError:
        import shutil
        shutil.copyfile(step_path, link_tmp)
    os.replace(link_tmp, ckpt_dir / LATEST)
    for old in step_files(ckpt_dir)[:-max(keep, 1)]:
        old.unlink(missing_ok=True)
    return step_path


def step_files(ckpt_dir: Path) -> List[Path]:
    return sorted(ckpt_dir.glob("step-*.pt"))


def load(path: Path) -> Dict[str, Any]:
    if not path.is_file():
        raise GankitError(f"no checkpoint at {path}; train first (without --resume) or pick the right run directory")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise GankitError(f"cannot read checkpoint {path} ({type(e).__name__}); it may be damaged — "
                          "resume from an older checkpoints/step-*.pt by copying it to latest.pt")
