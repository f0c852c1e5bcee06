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
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from .config import RunConfig, from_dict, is_int
from .data import data_shape
from .device import pick_device
from .errors import GankitError
from .models import build_models
from .models.traits import traits_of
from .ranges import check_ranges
from .reporter import Reporter
from .rundir import LOGS, RunDir  # noqa: F401 (LOGS: the log names, for readers of runs)
from .train import checkpoint as ckpt
from .train import progressive
from .train.sampling import SamplerMixin

_report = Reporter(__name__)


def check_count(n: Any, what: str = "n") -> int:
    """A number of samples: a whole number of at least 1 (one GankitError line otherwise)."""
    if not is_int(n) or n < 1:
        raise GankitError(f"{what} must be a whole number of at least 1, got {n!r}")
    return n


SEEDS = (-(2 ** 63), 2 ** 64 - 1)  # what torch.Generator.manual_seed takes


def check_seed(seed: Any) -> int:
    """A noise seed torch can take: a whole number from -2**63 to 2**64 - 1."""
    if not is_int(seed) or not SEEDS[0] <= seed <= SEEDS[1]:
        raise GankitError(f"the seed must be a whole number from {SEEDS[0]} to {SEEDS[1]}, got {str(seed)[:40]}")
    return seed


def available_memory() -> Optional[int]:
    """Bytes of memory a new allocation can have (Linux: MemAvailable), or None when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_model_fits(cfg: RunConfig, shape: Tuple[int, ...], copies: int, where: str) -> None:
    """Count the parameters of the networks ``cfg.model`` describes without allocating them (PyTorch's meta
    device) and refuse, in one line, networks whose ``copies`` (weights, gradients, optimiser moments, EMA) would
    not fit in memory: that is the model's size, not a batch size, to lower."""
    free = available_memory()
    if free is None:
        return
    try:
        with torch.device("meta"):
            G, D = build_models(cfg.model, tuple(shape))
    except Exception:  # a builder that cannot run on the meta device: the real build will tell
        return
    params = sum(p.numel() for m in (G, D) for p in m.parameters())
    need = params * 4 * copies
    if need > 0.8 * free:
        raise GankitError(f"the networks {where} describes have {params:,} parameters: {need / 2**30:,.1f} GB "
                          f"of memory with what training keeps beside them, and {free / 2**30:,.1f} GB is free; "
                          "lower the model's sizes (model.latent_dim, g_hidden/d_hidden or the channel widths)")


def as_run_dir(config: Any) -> Optional[Path]:
    """The run directory when ``config`` names one (a folder with config.json), else None."""
    if isinstance(config, (str, Path)) and RunDir(config).is_run():
        return Path(config)
    return None


def read_config(run_dir: Union[str, Path]) -> RunConfig:
    """A run directory's config.json as a RunConfig. When config.json is damaged, the config saved in the latest
    checkpoint (every checkpoint holds it) is used, with a line saying so; a resume writes config.json again."""
    rd = RunDir(run_dir)
    path = rd.config
    if not path.is_file():
        raise GankitError(f"{run_dir} is not a gankit run directory (no config.json); give the --out of a "
                          "`gankit train` run")
    try:
        return _parse_config(path)
    except GankitError as damaged:
        latest = rd.latest
        saved = ckpt.load(latest).get("config") if latest.is_file() else None
        if not isinstance(saved, dict):
            raise damaged from None
        _report.warn(f"{damaged}; using the config saved in {latest} (gankit train {run_dir} --resume "
                     "writes config.json again)")
        return from_dict(saved)


def _parse_config(path: Path) -> RunConfig:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError too
        raise GankitError(f"{path} is damaged ({type(e).__name__}: {str(e)[:80]})") from None
    if not isinstance(raw, dict):
        raise GankitError(f"{path} is damaged (a JSON {type(raw).__name__}, not a run's config)")
    raw.setdefault("name", path.parent.name)
    try:
        return check_ranges(from_dict(raw))
    except GankitError as e:  # a value out of range (model.latent_dim: -5) would build no network
        raise GankitError(f"{path} is damaged ({str(e)[:160]})") from None


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
    rd = RunDir(run_dir)
    logs = {name: rd.read(name) for name in LOGS}
    for name, fields in REQUIRED.items():
        logs[name] = [r for r in logs[name] if all(_has_type(r.get(k), t) for k, t in fields.items())]
    for name, fields in OPTIONAL.items():
        for r in logs[name]:
            for k in [k for k, t in fields.items() if k in r and not _has_type(r[k], t)]:
                del r[k]
    return logs


def sample_frames(run_dir: Union[str, Path]) -> List[Tuple[int, Path]]:
    """(step, path) of the pictures in samples/step-XXXXXXX.png, by step."""
    return RunDir(run_dir).frames()


class Run(SamplerMixin):
    """A trained run loaded for sampling and reading: ``Run(run_dir).generate(n, seed)``."""

    def __init__(self, run_dir: Union[str, Path], device: str = "auto", step: Optional[int] = None):
        if not isinstance(run_dir, (str, Path)):
            raise GankitError(f"a run directory is a path, got {type(run_dir).__name__}")
        if step is not None and (not is_int(step) or step < 0):
            raise GankitError(f"step must be a whole number >= 0 (a kept checkpoint's step), got {step!r}")
        self.run_dir = Path(run_dir).expanduser()
        self.cfg: RunConfig = read_config(self.run_dir)
        self.device = pick_device(device, key="device")
        path = self.checkpoint_path(step)
        state = ckpt.load(path)
        # what the checkpoint was trained with builds and samples it: config.json may be newer (a resume with
        # --allow-change model.noise rewrites it before its first checkpoint)
        self.cfg = _with_saved_model(self.cfg, state.get("config"))
        saved_shape = state.get("data_shape")
        self.data_shape = tuple(int(d) for d in saved_shape) if saved_shape else data_shape(self.cfg.data)
        self.step = state["step"]
        self.classes = [str(c) for c in state.get("classes") or []]  # a class-conditional run's class names
        self.G = self._generator(state["G"], path)
        self.G_ema = self._generator(state["G_ema"], path) if state.get("G_ema") is not None else None
        # progressive growing: the saved schedule position, so samples are what the trainer drew at this step
        self.pg = progressive.restore(state.get("progressive"), self.G, self.G_ema)

    def checkpoint_path(self, step: Optional[int] = None) -> Path:
        """latest.pt, or the step file of an earlier checkpoint still kept."""
        rd = RunDir(self.run_dir)
        if step is None:
            return rd.latest
        path = rd.checkpoint(step)
        if not path.is_file():
            kept = ", ".join(map(str, rd.kept_steps())) or "none"
            raise GankitError(f"{self.run_dir} has no checkpoint at step {step}; kept steps: {kept}")
        return path

    def _generator(self, weights: Dict[str, Any], path: Path) -> nn.Module:
        G, _ = build_models(self.cfg.model, self.data_shape, len(self.classes))
        try:
            G.load_state_dict(weights)
        except (RuntimeError, KeyError, TypeError) as e:
            first = str(e).strip().splitlines()[-1].strip()[:120] if str(e).strip() else type(e).__name__
            raise GankitError(f"{path} does not fit the generator its config describes ({first}); the run "
                              "directory is damaged") from None
        return G.to(self.device).eval()

    def sampling_model(self, ema: bool = True) -> nn.Module:
        return self.G_ema if (ema and self.G_ema is not None) else self.G

    @property
    def sample_shape(self) -> Tuple[int, ...]:
        """The shape of one sample as generate() returns it: data_shape, or (1,) for an element-wise G."""
        return (1,) if traits_of(self.sampling_model()).elementwise else tuple(self.data_shape)

    def generate(self, n: int, seed: Optional[int] = None, ema: bool = True, z: Optional[torch.Tensor] = None,
                 batch: int = 1000, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        """n samples in the data's scale (see SamplerMixin.generate); n and seed are checked first."""
        check_count(n, "n")
        if seed is not None:
            check_seed(seed)
        return super().generate(n, seed=seed, ema=ema, z=z, batch=batch, labels=labels)

    def metrics(self) -> List[Dict[str, Any]]:
        """metrics.jsonl: one dict per logged step (losses, D scores, learning rates, evaluations)."""
        return RunDir(self.run_dir).read("metrics")

    def events(self) -> List[Dict[str, Any]]:
        """events.jsonl: the diagnoser's findings and remedies."""
        return RunDir(self.run_dir).read("events")


def check_not_the_runs_own(out: Path, run_dir: Path, also: Sequence[Path] = ()) -> None:
    """--out (and files written beside it) may go inside a run directory, but not over its own files."""
    rd = RunDir(run_dir)
    for path in (out, *also):
        if rd.owns(path):
            raise GankitError(f"--out {path} would overwrite the files of the run {run_dir} itself; write it "
                              "elsewhere (e.g. --out samples.png, or a new file in the run directory)")


def _with_saved_model(cfg: RunConfig, saved: Any) -> RunConfig:
    """cfg with the model and train sections of the checkpoint's own config (when it still reads)."""
    try:
        own = check_ranges(from_dict(saved)) if isinstance(saved, dict) else None
    except GankitError:
        own = None  # written by another version: config.json's sections (the weights still have to fit)
    if own is not None:
        cfg = from_dict(cfg.to_dict())
        cfg.model, cfg.train = own.model, own.train
    return cfg


def load_run(run_dir: Union[str, Path], device: str = "auto", step: Optional[int] = None) -> Run:
    """Read a run directory (latest checkpoint, or ``step``)."""
    return Run(run_dir, device=device, step=step)
