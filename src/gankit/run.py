"""A run directory, read back: its config, its checkpoints, its logs, and its generator for sampling.

This layer sits above training (it builds the networks a run was trained with) and below the metrics and the
API, which both read runs through it.

Example:
    >>> run = load_run("runs/ring")
    >>> run.cfg.name, run.step
    ('ring-2d', 3000)
    >>> x = run.generate(1000, seed=0)          # (1000, 2)
    >>> rows = run.metrics()                     # metrics.jsonl as a list of dicts
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from torch import nn

from .config import RunConfig, from_dict
from .data import data_shape
from .device import pick_device
from .errors import GankitError
from .jsonl import read_jsonl
from .models import build_models
from .train import checkpoint as ckpt
from .train import progressive
from .train.sampling import SamplerMixin


def as_run_dir(config: Any) -> Optional[Path]:
    """The run directory when ``config`` names one (a folder with config.json), else None."""
    if isinstance(config, (str, Path)) and (Path(config) / "config.json").is_file():
        return Path(config)
    return None


# The logs a run directory holds (each optional): what the loop, the diagnoser and the report hook append.
LOGS = {"metrics": "metrics.jsonl", "events": "events.jsonl", "sessions": "sessions.jsonl",
        "gradients": "gradients.jsonl"}


def read_config(run_dir: Union[str, Path]) -> RunConfig:
    """A run directory's config.json as a RunConfig. When config.json is damaged, the config saved in the latest
    checkpoint (every checkpoint holds it) is used, with a line saying so; a resume writes config.json again."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise GankitError(f"{run_dir} is not a gankit run directory (no config.json); give the --out of a "
                          "`gankit train` run")
    try:
        return _parse_config(path)
    except GankitError as damaged:
        latest = Path(run_dir) / "checkpoints" / ckpt.LATEST
        saved = ckpt.load(latest).get("config") if latest.is_file() else None
        if not isinstance(saved, dict):
            raise damaged from None
        print(f"[gankit] {damaged}; using the config saved in {latest} (gankit train {run_dir} --resume "
              "writes config.json again)", file=sys.stderr, flush=True)
        return from_dict(saved)


def _parse_config(path: Path) -> RunConfig:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError too
        raise GankitError(f"{path} is damaged ({type(e).__name__}: {str(e)[:80]})") from None
    if not isinstance(raw, dict):
        raise GankitError(f"{path} is damaged (a JSON {type(raw).__name__}, not a run's config)")
    raw.setdefault("name", path.parent.name)
    return from_dict(raw)


# The fields the readers of a log rely on, with their types. A row without a required field (written by hand, or
# damaged) is skipped and an optional field of another type dropped, so a report of a damaged run shows what is
# intact. "number": a finite int or float.
REQUIRED = {"events": {"step": int, "kind": str, "message": str}, "sessions": {"step": int, "event": str}}
OPTIONAL = {"sessions": {"session": (str, int), "wall_s": "number", "total_steps": int, "world": int,
                         "interrupted": bool, "threads": (int, str), "device": str, "torch": str, "started": str}}


def _has_type(value: Any, t: Any) -> bool:
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return isinstance(value, t) and (t is bool or not isinstance(value, bool))


def read_logs(run_dir: Union[str, Path]) -> Dict[str, List[Dict[str, Any]]]:
    """Every JSONL log of a run directory by name (see LOGS); a missing log is an empty list."""
    logs = {name: read_jsonl(Path(run_dir) / file) for name, file in LOGS.items()}
    for name, fields in REQUIRED.items():
        logs[name] = [r for r in logs[name] if all(_has_type(r.get(k), t) for k, t in fields.items())]
    for name, fields in OPTIONAL.items():
        for r in logs[name]:
            for k in [k for k, t in fields.items() if k in r and not _has_type(r[k], t)]:
                del r[k]
    return logs


def sample_frames(run_dir: Union[str, Path]) -> List[Tuple[int, Path]]:
    """(step, path) of the pictures in samples/step-XXXXXXX.png, by step."""
    frames = []
    for p in (Path(run_dir) / "samples").glob("step-*.png"):
        try:
            frames.append((int(p.stem.split("-")[1]), p))
        except (IndexError, ValueError):
            continue
    return sorted(frames)


class Run(SamplerMixin):
    """A trained run loaded for sampling and reading: ``Run(run_dir).generate(n, seed)``."""

    def __init__(self, run_dir: Union[str, Path], device: str = "auto", step: Optional[int] = None):
        self.run_dir = Path(run_dir)
        self.cfg: RunConfig = read_config(self.run_dir)
        self.device = pick_device(device, key="device")
        state = ckpt.load(self.checkpoint_path(step))
        saved_shape = state.get("data_shape")
        self.data_shape = tuple(int(d) for d in saved_shape) if saved_shape else data_shape(self.cfg.data)
        self.step = state["step"]
        self.classes = [str(c) for c in state.get("classes") or []]  # a class-conditional run's class names
        self.G = self._generator(state["G"])
        self.G_ema = self._generator(state["G_ema"]) if state.get("G_ema") is not None else None
        # progressive growing: the saved schedule position, so samples are what the trainer drew at this step
        self.pg = progressive.restore(state.get("progressive"), self.G, self.G_ema)

    def checkpoint_path(self, step: Optional[int] = None) -> Path:
        """latest.pt, or the step file of an earlier checkpoint still kept."""
        d = self.run_dir / "checkpoints"
        if step is None:
            return d / ckpt.LATEST
        path = d / f"step-{step:07d}.pt"
        if not path.is_file():
            kept = ", ".join(str(int(p.stem.split("-")[1])) for p in ckpt.step_files(d)) or "none"
            raise GankitError(f"{self.run_dir} has no checkpoint at step {step}; kept steps: {kept}")
        return path

    def _generator(self, weights: Dict[str, Any]) -> nn.Module:
        G, _ = build_models(self.cfg.model, self.data_shape, len(self.classes))
        G.load_state_dict(weights)
        return G.to(self.device).eval()

    def sampling_model(self, ema: bool = True) -> nn.Module:
        return self.G_ema if (ema and self.G_ema is not None) else self.G

    def metrics(self) -> List[Dict[str, Any]]:
        """metrics.jsonl: one dict per logged step (losses, D scores, learning rates, evaluations)."""
        return read_jsonl(self.run_dir / "metrics.jsonl")

    def events(self) -> List[Dict[str, Any]]:
        """events.jsonl: the diagnoser's findings and remedies."""
        return read_jsonl(self.run_dir / "events.jsonl")


def load_run(run_dir: Union[str, Path], device: str = "auto", step: Optional[int] = None) -> Run:
    """Read a run directory (latest checkpoint, or ``step``)."""
    return Run(run_dir, device=device, step=step)
