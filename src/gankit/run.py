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
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from torch import nn

from .config import RunConfig, from_dict
from .data import data_shape
from .device import pick_device
from .errors import GankitError
from .models import build_models
from .train import checkpoint as ckpt
from .train import progressive
from .train.sampling import SamplerMixin


def as_run_dir(config: Any) -> Optional[Path]:
    """The run directory when ``config`` names one (a folder with config.json), else None."""
    if isinstance(config, (str, Path)) and (Path(config) / "config.json").is_file():
        return Path(config)
    return None


def read_jsonl(path: Path) -> List[Dict[str, Any]]:
    """Rows of a JSONL file; a last row cut short by a hard kill is skipped."""
    if not path.is_file():
        return []
    return parse_jsonl(path.read_text(encoding="utf-8", errors="replace"))


def parse_jsonl(text: str) -> List[Dict[str, Any]]:
    """The JSON objects of a JSONL text, one per line; lines that are not one (cut short, or garbage) are skipped."""
    rows = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


# The logs a run directory holds (each optional): what the loop, the diagnoser and the report hook append.
LOGS = {"metrics": "metrics.jsonl", "events": "events.jsonl", "sessions": "sessions.jsonl",
        "gradients": "gradients.jsonl"}


def read_config(run_dir: Union[str, Path]) -> RunConfig:
    """A run directory's config.json as a RunConfig, without reading a checkpoint."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise GankitError(f"{run_dir} is not a gankit run directory (no config.json); give the --out of a "
                          "`gankit train` run")
    return from_dict(json.loads(path.read_text()))


def read_logs(run_dir: Union[str, Path]) -> Dict[str, List[Dict[str, Any]]]:
    """Every JSONL log of a run directory by name (see LOGS); a missing log is an empty list."""
    return {name: read_jsonl(Path(run_dir) / file) for name, file in LOGS.items()}


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
        if not (self.run_dir / "config.json").is_file():
            raise GankitError(f"{run_dir} is not a gankit run directory (no config.json); give the --out of a "
                              "`gankit train` run")
        self.cfg: RunConfig = from_dict(json.loads((self.run_dir / "config.json").read_text()))
        self.device = pick_device(device, key="device")
        state = ckpt.load(self.checkpoint_path(step))
        saved_shape = state.get("data_shape")
        self.data_shape = tuple(int(d) for d in saved_shape) if saved_shape else data_shape(self.cfg.data)
        self.step = state["step"]
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
        G, _ = build_models(self.cfg.model, self.data_shape)
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
