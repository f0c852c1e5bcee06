"""How long a run will take on this machine, measured before it starts (``gankit train --dry-run``).

A few G steps of the configured networks are timed on random data of the run's shape (no dataset is read): at
the schedule's first and last resolution when the run grows progressively, else once. A large batch of large
images is timed at a smaller batch (at most ``PIXEL_BUDGET`` pixels) and scaled to the configured one. The run's
length follows from the per-step seconds by the same cost model the progress bar uses (progress.StepClock), so
the dry run and the bar agree. Hooks (samples, periodic evaluation, checkpoints) are not included.

Example:
    >>> seconds, timed = estimate_run_seconds(load_config("ring-2d"), 3000)
    >>> timed                                    # {level: seconds per step}
    {0: 0.004}
"""
from __future__ import annotations

import dataclasses
import tempfile
import time
from typing import Dict, Tuple

import torch

from ..config import RunConfig
from ..data import dataset_info, load_data
from ..data.base import ImageData
from .progress import StepClock, step_levels

TIMED_STEPS = 3        # per resolution, after one untimed step
PIXEL_BUDGET = 1 << 19  # batch x height x width timed at most (folder-64's batch of 16 at 64 px is timed whole)


def _random_data(cfg: RunConfig) -> object:
    """Data of the run's shape without reading the dataset: random uint8 images, or the toy source itself."""
    info = dataset_info(cfg.data)
    if info.kind == "vector":
        return load_data(cfg.data, False)               # toy distributions are drawn, not read
    channels = cfg.data.channels or (info.native[0] if info.native else 3)
    n = max(2 * cfg.train.batch_size, 8, cfg.model.clusters)  # model.clusters groups at least that many
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, channels, cfg.data.resolution, cfg.data.resolution), dtype=torch.uint8,
                           generator=g)
    classes = list(info.classes) or (["0", "1"] if cfg.model.conditional else [])  # a folder's: its subfolders
    labels = torch.randint(0, len(classes), (n,), generator=g) if classes else None
    return ImageData(images, labels, "random", class_names=classes)


def timed_batch(cfg: RunConfig) -> int:
    """The batch size timed: the configured one, or fewer images (a multiple of the PacGAN pack) when the batch
    holds more than PIXEL_BUDGET pixels."""
    t, pack = cfg.train, max(1, cfg.model.pack)
    if dataset_info(cfg.data).kind == "vector" or t.batch_size * cfg.data.resolution ** 2 <= PIXEL_BUDGET:
        return t.batch_size
    return max(pack, PIXEL_BUDGET // cfg.data.resolution ** 2 // pack * pack)


def time_steps(cfg: RunConfig, total: int) -> Dict[int, float]:
    """Seconds per G step at the first and the last schedule level of a ``total``-step run (one level when it
    does not grow), measured here on random data and scaled to the configured batch."""
    from .trainer import Trainer  # the trainer imports this package's other modules
    batch = timed_batch(cfg)
    scale = cfg.train.batch_size / batch
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, batch_size=batch))
    data = _random_data(cfg)
    shape = tuple(getattr(data, "shape"))
    levels = step_levels(cfg, shape[-1], max(1, total))
    out: Dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, tmp, data=data, hooks=[], verbose=False)
        for level in sorted({levels[0], levels[-1]}):
            trainer.step = levels.index(level)          # the schedule follows the step
            trainer.train_step()                        # allocation, first-call costs
            t0 = time.perf_counter()
            for _ in range(TIMED_STEPS):
                trainer.train_step()
            out[level] = (time.perf_counter() - t0) / TIMED_STEPS * scale
    return out


def estimate_run_seconds(cfg: RunConfig, total: int) -> Tuple[float, Dict[int, float]]:
    """(seconds for the whole run, the measured seconds per step by level)."""
    timed = time_steps(cfg, total)
    shape_res = cfg.data.resolution if dataset_info(cfg.data).kind == "image" else 1
    clock = StepClock(step_levels(cfg, shape_res, total), 0)
    return sum(StepClock.estimate(lv, timed) * (end - first) for lv, (first, end) in clock.ranges.items()), timed
