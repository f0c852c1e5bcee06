"""The ranges and choices of every config value, checked when a config resolves (no registries needed: the
names of registered components are checked one layer up, in ``gankit.train.validate``).

Example:
    >>> check_ranges(apply_overrides(RunConfig(), ["train.batch_size=0"]))   # apply_overrides: gankit.config
    Traceback (most recent call last):
    gankit.errors.GankitError: train.batch_size must be an integer >= 1, got 0
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from .config import RunConfig, get_value
from .config import is_int as _is_int
from .errors import GankitError


@dataclass(frozen=True)
class Range:
    """The values a number may take: ``lo``/``hi`` bounds (None = none), open or closed; floats must be finite."""
    lo: Optional[float] = None
    hi: Optional[float] = None
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False
    text: str = ""                   # how to say the range when the bounds alone read badly

    def accepts(self, v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (self.integer and not isinstance(v, int)):
            return False
        if isinstance(v, float) and not math.isfinite(v):
            return False
        return ((self.lo is None or (v > self.lo if self.lo_open else v >= self.lo))
                and (self.hi is None or (v < self.hi if self.hi_open else v <= self.hi)))

    def describe(self) -> str:
        what = "an integer" if self.integer else "a finite number"
        if self.text:
            return f"{what} {self.text}"
        if self.lo is not None and self.hi is not None:
            return (f"{what} in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}"
                    f"{')' if self.hi_open else ']'}")
        if self.lo is not None:
            return f"{what} {'>' if self.lo_open else '>='} {self.lo:g}"
        return what


_POS_INT, _NONNEG_INT, _NONNEG = Range(1, integer=True), Range(0, integer=True), Range(0)
_POSITIVE, _UNIT, _UNIT_OPEN = Range(0, lo_open=True), Range(0, 1), Range(0, 1, hi_open=True)

# The range of every number in a RunConfig (tests check that none is missing).
RANGES: Dict[str, Range] = {
    "data.resolution": Range(4, integer=True), "data.limit": _NONNEG_INT, "data.min_images": _POS_INT,
    "data.mean": Range(), "data.std": _POSITIVE, "data.dim": _POS_INT, "data.epoch_size": _POS_INT,
    "model.latent_dim": _POS_INT, "model.g_channels": _POS_INT, "model.d_channels": _POS_INT,
    "model.leak": _UNIT_OPEN, "model.d_dropout": _UNIT_OPEN, "model.g_extra": _NONNEG_INT,
    "model.d_extra": _NONNEG_INT, "model.pack": _POS_INT, "model.max_channels": Range(8, integer=True),
    "model.min_channels": Range(1, 512, integer=True),
    "model.clusters": Range(0, 1000, integer=True),
    "loss.real_label": Range(0, 1, lo_open=True), "loss.label_noise": _UNIT, "loss.label_flip": _UNIT,
    "loss.instance_noise": _NONNEG, "loss.r1": _NONNEG, "loss.gp": _NONNEG, "loss.reg_every": _POS_INT,
    "train.steps": _NONNEG_INT, "train.epochs": _NONNEG_INT, "train.batch_size": _POS_INT,
    "train.seed": Range(0, 2 ** 63, hi_open=True, integer=True, text="in [0, 2**63)"),
    "train.lr_g": _POSITIVE, "train.lr_d": _POSITIVE, "train.beta1": _UNIT_OPEN, "train.beta2": _UNIT_OPEN,
    "train.rms_alpha": _UNIT_OPEN, "train.eps": _POSITIVE, "train.clip_value": _NONNEG, "train.lr_decay": _NONNEG,
    "train.d_steps": _POS_INT, "train.d_skip_below": Range(), "train.threads": _NONNEG_INT,
    "train.ema": _NONNEG, "train.ema_warmup": _NONNEG, "train.ada_target": Range(0, 1, hi_open=True),
    "train.ada_kimg": _POSITIVE, "train.ada_interval": _POS_INT,
    "train.pg_start": Range(4, integer=True), "train.pg_fade_kimg": _NONNEG, "train.pg_stable_kimg": _NONNEG,
    "sample.every": _NONNEG_INT, "sample.n": _POS_INT, "sample.gif_frames": _POS_INT,
    "checkpoint.every": _POS_INT, "checkpoint.keep": _POS_INT, "log.every": _POS_INT,
    "eval.every": _NONNEG_INT, "eval.n": Range(2, integer=True),
    "data.holdout": Range(0, 1, hi_open=True), "loss.l1": _NONNEG,
}
# Lists of numbers: the range of each entry.
ITEM_RANGES: Dict[str, Range] = {"model.g_hidden": _POS_INT, "model.d_hidden": _POS_INT, "data.classes": _NONNEG_INT}
CHOICES: Dict[str, tuple] = {
    "model.task": ("", "inpaint", "superres", "colorize"),
    "data.split": ("train", "test"), "data.channels": (1, 3, None), "model.noise": ("normal", "uniform"),
    "train.optimizer": ("adam", "rmsprop"), "train.precision": ("fp32", "bf16", "fp16"),
    "data.labels": ("", "folders"), "model.g_cond": ("embed", "cbn"),
    "model.g_upsample": ("nearest", "bilinear"),
}


def range_problems(cfg: RunConfig) -> List[str]:
    """One message per value outside its range or choices, and per pair of values that do not go together."""
    problems = []
    for key, rng in RANGES.items():
        v = get_value(cfg, key)
        if not rng.accepts(v):
            problems.append(f"{key} must be {rng.describe()}, got {v!r}")
    for key, rng in ITEM_RANGES.items():
        v = get_value(cfg, key)
        if not isinstance(v, list) or not all(rng.accepts(x) for x in v):
            problems.append(f"{key} must be a list of {rng.describe().replace('an integer', 'integers')}, got {v!r}")
    for key, choices in CHOICES.items():
        v = get_value(cfg, key)
        if v not in choices or isinstance(v, bool):
            close = difflib.get_close_matches(v, [str(c) for c in choices], n=1) if isinstance(v, str) else []
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"{key} must be {' or '.join(str(c) for c in choices if c is not None)}, "
                            f"got {v!r}{hint}")  # None in choices: the key may stay unset
    t = cfg.train
    if t.steps == 0 and t.epochs == 0:
        problems.append("train.steps and train.epochs are both 0, so nothing would train; "
                        "set train.steps=N (G updates) or train.epochs=N")
    if _is_int(t.batch_size) and _is_int(cfg.model.pack) and cfg.model.pack >= 1 and t.batch_size % cfg.model.pack:
        problems.append(f"train.batch_size={t.batch_size} must be a multiple of model.pack={cfg.model.pack} "
                        f"(the discriminator judges packs of {cfg.model.pack} samples)")
    if t.precision == "fp16" and t.device in ("cpu", "mps"):
        problems.append(f"train.precision=fp16 needs a CUDA GPU, but train.device={t.device}; use bf16 or fp32")
    return problems


def check_ranges(cfg: RunConfig) -> RunConfig:
    """Raise one GankitError line naming every value out of range (no registries needed); return cfg.

    Example:
        >>> check_ranges(apply_overrides(RunConfig(), ["train.batch_size=0"]))
        Traceback (most recent call last):
        gankit.errors.GankitError: train.batch_size must be an integer >= 1, got 0
    """
    raise_problems(range_problems(cfg))
    return cfg


def raise_problems(problems: List[str]) -> None:
    """A GankitError with every problem on one line (the first few, and how many more)."""
    if problems:
        more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise GankitError("; ".join(problems[:3]) + more)
