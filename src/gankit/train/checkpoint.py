"""Complete checkpoints, written atomically and loaded with weights_only=True, then checked for completeness.

A checkpoint holds G, D, G_ema, both optimizers and schedulers, the AMP scaler, the step, every RNG state,
the data order, hook states and the resolved config, so a resumed run continues exactly as if never stopped.
"""
from __future__ import annotations

import contextlib
import errno
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import numpy as np
import torch

from ..errors import GankitError
from ..rundir import LATEST, step_name, step_of


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


def state_bytes(obj: Any) -> int:
    """Bytes the tensors in a (nested) state take: what torch.save will write, give or take a few kB."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(state_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(state_bytes(v) for v in obj)
    return 16


def _mount_point(path: Path) -> Path:
    p = path.resolve()
    while not p.exists() or not os.path.ismount(p):
        p = p.parent
    return p


RESUME = "then continue with --resume"   # what to do after a failed checkpoint write
AGAIN = "then run the command again"     # ... after any other failed write (a sample, an export, a config)


def write_failure(path: Path, error: BaseException, needed: int, written: int = 0, then: str = RESUME
                  ) -> GankitError:
    """One line for a failed write: "no space left on ..." when the disk is full, else the error's first line;
    ``then`` says what to do once it is fixed."""
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    full = getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or (
        free is not None and free < max(needed - written, 1 << 20))
    if full:
        mb = max(1, -(-needed // (1 << 20)))
        return GankitError(f"no space left on {_mount_point(path.parent)} for {path} (about {mb} MB needed, "
                           f"{(free or 0) >> 20} MB free); free some space, {then}")
    first = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
    return GankitError(f"cannot write {path} ({type(error).__name__}: {first}); check the disk and the "
                       f"folder's permissions, {then}")


@contextlib.contextmanager
def _temporaries(target: Path, needed: int, *tmps: Path, then: str = RESUME) -> Iterator[None]:
    """On any failure inside the block, delete the temporary files; an OSError/RuntimeError (a full disk, a
    read-only folder) becomes one GankitError line about target."""
    try:
        yield
    except (OSError, RuntimeError) as e:
        written = sum(t.stat().st_size for t in tmps if t.is_file())
        for t in tmps:
            t.unlink(missing_ok=True)
        raise write_failure(target, e, needed, written, then) from None
    except BaseException:  # Ctrl-C inside a write: no partial file is left behind either
        for t in tmps:
            t.unlink(missing_ok=True)
        raise


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def atomic_write(path: Path, write: Callable[[Path], None], needed: int = 0, then: str = AGAIN) -> None:
    """Write path through a temporary file in its folder (``write(tmp)``), fsync, then rename it over path.

    A failure leaves path as it was, removes the temporary file and is one GankitError line.
    """
    tmp = path.parent / f".tmp-{os.getpid()}-{path.name}"
    with _temporaries(path, needed, tmp, then=then):
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)


def save(state: Dict[str, Any], ckpt_dir: Path, step: int, keep: int) -> Path:
    """Write step-XXXXXXX.pt and latest.pt (its own copy) atomically; keep the last `keep` step files.

    Both files are written completely under temporary names before either is renamed into place, so a failure
    (a full disk, Ctrl-C) leaves the previous checkpoints as they were. latest.pt is a copy, not a link:
    copying an older step file over it never changes that step file.
    """
    step_path, latest = ckpt_dir / step_name(step, ".pt"), ckpt_dir / LATEST
    tmp_step, tmp_latest = ckpt_dir / f".tmp-{os.getpid()}.pt", ckpt_dir / f".tmp-{os.getpid()}-latest.pt"
    needed = 2 * (state_bytes(state) + (64 << 10))  # the step file and latest.pt
    with _temporaries(step_path, needed, tmp_step, tmp_latest):
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        torch.save(state, tmp_step)
        shutil.copyfile(tmp_step, tmp_latest)
        _fsync(tmp_step)
        _fsync(tmp_latest)
        os.replace(tmp_step, step_path)
        os.replace(tmp_latest, latest)
    _fsync_dir(ckpt_dir)
    for old in step_files(ckpt_dir)[:-max(keep, 1)]:
        old.unlink(missing_ok=True)
    return step_path


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the renames are still atomic
    finally:
        os.close(fd)


_TEMP = re.compile(r"^\.tmp-(?:latest-)?(\d+)(?:-.+)?\.(?:pt|json)$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # ours from an earlier start in this process: nothing is being written now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def remove_stale_temps(*folders: Path) -> List[Path]:
    """Delete the temporary files (.tmp-PID*.pt) that killed runs left behind; a live process's are kept."""
    removed = []
    for d in folders:
        if not d.is_dir():
            continue
        for p in d.iterdir():
            m = _TEMP.match(p.name)
            if m and p.is_file() and not _alive(int(m.group(1))):
                p.unlink(missing_ok=True)
                removed.append(p)
    return removed


def step_files(ckpt_dir: Path) -> List[Path]:
    """The step files in a checkpoints/ folder, oldest first (RunDir.step_checkpoints of its run)."""
    return sorted(p for p in ckpt_dir.glob("step-*.pt") if step_of(p) >= 0)


def _step_of(path: Path) -> str:
    return str(max(step_of(path), 0))


def _readable(path: Path) -> bool:
    try:
        return _problem(torch.load(path, map_location="cpu", weights_only=True)) is None
    except Exception:
        return False


def recovery_hint(path: Path) -> str:
    """What to do about a damaged checkpoint: which older one to use instead, as a command that is safe."""
    others = [p for p in reversed(step_files(path.parent)) if p.resolve() != path.resolve()]
    good = next((p for p in others if _readable(p)), None)
    if good is None:
        return "no other readable checkpoint is kept; train the run again (without --resume)"
    if path.name == LATEST:
        return (f"to continue from step {_step_of(good)}, replace it: rm {path} && cp {good} {path}, "
                "then run the command again")
    return f"step {_step_of(good)} is still readable ({good})"


# What every checkpoint holds, and the type each entry must have (the trainer checks tensor shapes itself);
# OPTIONAL entries are checked when present.
REQUIRED = {"step": int, "config": dict, "G": dict, "D": dict, "opt_g": dict, "opt_d": dict, "rng": dict,
            "data": dict}
OPTIONAL = {"d_updates": int, "scaler": dict, "hooks": dict}
RNG_REQUIRED = {"torch": torch.Tensor, "data": torch.Tensor, "python": torch.Tensor, "numpy": torch.Tensor,
                "numpy_pos": int}


def _wrong_type(value: Any, kind: type) -> bool:
    return not isinstance(value, kind) or (kind is int and isinstance(value, bool))


def _problem(state: Any) -> Optional[str]:
    if not isinstance(state, dict):
        return f"it holds a {type(state).__name__}, not a checkpoint"
    for entries, where in ((REQUIRED, ""), (RNG_REQUIRED, "rng.")):
        holder = state if not where else state["rng"]
        for key, kind in entries.items():
            if key not in holder:
                return f"{where}{key} is missing"
            if _wrong_type(holder[key], kind):
                return f"{where}{key} is a {type(holder[key]).__name__}, not {kind.__name__}"
    for key, kind in OPTIONAL.items():
        if key in state and _wrong_type(state[key], kind):
            return f"{key} is a {type(state[key]).__name__}, not {kind.__name__}"
    if state["step"] < 0 or state.get("d_updates", 0) < 0:
        return f"a negative step count (step {state['step']}, d_updates {state.get('d_updates')})"
    if state.get("G_ema") is not None and not isinstance(state["G_ema"], dict):
        return f"G_ema is a {type(state['G_ema']).__name__}"
    perm, pos = state["data"].get("perm"), state["data"].get("pos")
    if (perm is not None and not isinstance(perm, torch.Tensor)) or not isinstance(pos, int) or pos < 0:
        return "the data order (data.perm, data.pos) is damaged"
    return None


def check_state(state: Any, path: Path) -> Dict[str, Any]:
    """The checkpoint, if it has every entry a resume needs with the right type; else one GankitError line."""
    problem = _problem(state)
    if problem:
        raise GankitError(f"checkpoint {path} is incomplete ({problem}); {recovery_hint(path)}")
    return state


def load(path: Path) -> Dict[str, Any]:
    """Read a checkpoint (weights_only: it cannot run code) and check its structure."""
    if not path.is_file():
        raise GankitError(f"no checkpoint at {path}; train first (without --resume) or pick the right run directory")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise GankitError(f"cannot read checkpoint {path} ({type(e).__name__}); it is damaged — "
                          f"{recovery_hint(path)}") from None
    return check_state(state, path)
