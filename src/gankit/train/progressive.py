"""Progressive growing (Karras et al. 2018, "Progressive Growing of GANs") as a training schedule on the
multi-scale family (``model.name=msg``): ``train.progressive=true``.

The schedule is a pure function of the images seen (``step * train.batch_size``), like ProGAN's
``TrainingSchedule``. Training starts at ``train.pg_start`` px and holds it for ``train.pg_stable_kimg`` thousand
images; then each next resolution fades in over ``train.pg_fade_kimg`` thousand images (alpha rising linearly
from 0 to 1) and is held for ``train.pg_stable_kimg``; the full size, once faded in, stays::

    kimg      0 ...... S ...... S+F ...... 2S+F ...... 2S+2F ...
    res       8 stable | 16 fade | 16 stable | 32 fade  | 32 stable ... R for good
    alpha     1        | 0 -> 1  | 1         | 0 -> 1   | 1

A run too short to reach full size with these lengths (``train.pg_fit``, on by default) scales both down by one
factor so that full size has faded in after 60% of its images (``lengths``): a 1 000-step run of folder-64
grows 8 -> 64 px within its first 600 steps instead of ending at 16 px. Runs long enough for the configured
schedule are unchanged. The run says at its start which sizes it passes and when (``plan_line``).

The networks take the position through ``set_lod(level, alpha)`` (models/msg.py says what it changes). Since
the position follows from the step, resume is exact mid-fade; the checkpoint also holds it (``progressive``:
images, level, resolution, alpha) for inspection and for a loaded run's samples, and every log row has
``pg_res`` and ``pg_alpha``.

Example:
    >>> schedule(12_000, start=8, final=64, fade_kimg=10, stable_kimg=10)   # 2 thousand images into 16's fade
    Position(level=2, alpha=0.2)
    >>> schedule(10 ** 9, 8, 64, 10, 10).resolution
    64
    >>> lengths(load_config("folder-64"), 64, total_steps=1000)    # 16 thousand images: 9.6 for the growth
    (1.6, 1.6)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

from torch import nn

from ..config import RunConfig
from ..errors import GankitError
from ..models.registry import MODELS


def growing_models() -> List[str]:
    """Model families whose G and D take a schedule position (``set_lod``): ``ModelInfo.grows``."""
    return [m for m in MODELS.names() if MODELS.info(m).grows]


@dataclass(frozen=True)
class Position:
    """Where the schedule is: the finest level trained (0 = 4x4, 1 = 8x8, ...) and its fade-in weight."""
    level: int
    alpha: float

    @property
    def resolution(self) -> int:
        return 4 << self.level

    def state_dict(self) -> Dict[str, Any]:
        return {"level": self.level, "resolution": self.resolution, "alpha": self.alpha}


def level_of(resolution: int) -> int:
    """4 -> 0, 8 -> 1, 16 -> 2, ... (a power of two >= 4)."""
    return resolution.bit_length() - 3


def schedule(images: int, start: int, final: int, fade_kimg: float, stable_kimg: float) -> Position:
    """The position after ``images`` images: ``start`` px held for ``stable_kimg`` thousand images, then per
    doubling a fade over ``fade_kimg`` and a hold over ``stable_kimg``, up to ``final`` px (see the module
    docstring). A fade of 0 switches at once; both 0 start at ``final``."""
    first, last = level_of(start), level_of(final)
    fade, hold = fade_kimg * 1000.0, stable_kimg * 1000.0   # in images
    if images < hold:
        return Position(first, 1.0)
    cycle = fade + hold                        # one fade and one hold per doubling
    if cycle <= 0:
        return Position(last, 1.0)
    t = images - hold                          # images since the first hold ended
    done = math.floor(t / cycle)               # full cycles behind
    level = first + 1 + done
    if level > last:
        return Position(last, 1.0)
    into = t - done * cycle
    return Position(level, into / fade if into < fade else 1.0)


def full_size_kimg(start: int, final: int, fade_kimg: float, stable_kimg: float) -> float:
    """Thousands of images until ``final`` px has faded in completely (the schedule's last change)."""
    return (level_of(final) - level_of(start)) * (fade_kimg + stable_kimg)  # first hold, the fades and holds, last fade


GROWTH_SHARE = 0.6   # a run too short for its schedule (train.pg_fit) reaches full size within this share of it


def lengths(cfg: RunConfig, resolution: int, total_steps: int) -> Tuple[float, float]:
    """The (fade, hold) lengths in thousands of images that a run of ``total_steps`` steps uses: as configured,
    or, with ``train.pg_fit`` when the configured schedule would not reach full size within ``GROWTH_SHARE`` of
    the run's images, both scaled down by one factor so that it does (the rest of the run trains at full size)."""
    t = cfg.train
    need = full_size_kimg(t.pg_start, resolution, t.pg_fade_kimg, t.pg_stable_kimg)
    room = GROWTH_SHARE * total_steps * t.batch_size / 1000.0
    if not t.pg_fit or need <= room or total_steps <= 0:
        return t.pg_fade_kimg, t.pg_stable_kimg
    scale = room / need
    return t.pg_fade_kimg * scale, t.pg_stable_kimg * scale


def position_for(cfg: RunConfig, resolution: int, images: int,
                 lengths: Optional[Tuple[float, float]] = None) -> Position:
    """The schedule position of a run with this config and data size after ``images`` images, with the (fade,
    hold) ``lengths`` the run uses (``lengths(...)``; None: as configured)."""
    t = cfg.train
    fade, hold = lengths if lengths is not None else (t.pg_fade_kimg, t.pg_stable_kimg)
    return schedule(images, t.pg_start, resolution, fade, hold)


def lengths_state(used: Optional[Tuple[float, float]]) -> Dict[str, float]:
    """The lengths a run grows by, for its checkpoint (a resume that changes train.steps keeps them)."""
    return {} if used is None else {"fade_kimg": float(used[0]), "stable_kimg": float(used[1])}


def saved_lengths(saved: Any, cfg: RunConfig,
                  current: Optional[Tuple[float, float]]) -> Optional[Tuple[float, float]]:
    """The lengths a checkpoint's run grew by: its saved ones; the configured ones for a checkpoint written
    before they were saved (it grew by those); ``current`` when it holds no position at all."""
    if not isinstance(saved, Mapping):
        return current
    fade, hold = saved.get("fade_kimg"), saved.get("stable_kimg")
    if isinstance(fade, (int, float)) and isinstance(hold, (int, float)):
        return float(fade), float(hold)
    return cfg.train.pg_fade_kimg, cfg.train.pg_stable_kimg


def plan_line(cfg: RunConfig, resolution: int, total_steps: int,
              used: Optional[Tuple[float, float]] = None) -> str:
    """What the run will grow through, said at its start: the sizes, the step at which full size has faded in,
    and whether the schedule was shortened to fit the run (or, with train.pg_fit=false, the size it ends at).
    ``used``: the (fade, hold) lengths the run grows by (None: ``lengths``)."""
    t = cfg.train
    fade, hold = used or lengths(cfg, resolution, total_steps)
    full_images = full_size_kimg(t.pg_start, resolution, fade, hold) * 1000.0
    full_step = math.ceil(round(full_images / t.batch_size, 6))   # (the scaled lengths carry float error)
    line = f"progressive growing {t.pg_start} -> {resolution} px"
    if (fade, hold) != (t.pg_fade_kimg, t.pg_stable_kimg):
        return (f"{line}: this run's {total_steps} steps are too short for the configured {t.pg_fade_kimg:g} + "
                f"{t.pg_stable_kimg:g} thousand images per doubling, so each fade and hold is {fade:.3g} + "
                f"{hold:.3g} thousand: full size from step {full_step} (train.pg_fit=false keeps the configured "
                "lengths)")
    if full_step > total_steps:
        end = schedule(total_steps * t.batch_size, t.pg_start, resolution, fade, hold)
        return (f"{line}: full size only from step {full_step}, so this run of {total_steps} steps ends at "
                f"{end.resolution} px (its samples are upsampled to {resolution}); train.pg_fit=true fits the "
                "schedule to the run")
    return f"{line}: full size from step {full_step} of {total_steps}"


def apply(position: Position, *nets: Optional[nn.Module]) -> None:
    """Put every network given (G, D, the EMA copy of G; None is skipped) at ``position``."""
    for net in nets:
        if net is not None:
            net.set_lod(position.level, position.alpha)


def restore(saved: Any, *nets: Optional[nn.Module]) -> Optional[Position]:
    """The position a checkpoint saved (its ``progressive`` entry), applied to ``nets``; None when it has none."""
    if saved is None:
        return None
    if not isinstance(saved, Mapping) or not isinstance(saved.get("level"), int) \
            or not isinstance(saved.get("alpha"), (int, float)):
        raise GankitError(f"the checkpoint's progressive-growing position is damaged ({saved!r}); it needs an "
                          "integer level and a number alpha")
    position = Position(int(saved["level"]), float(saved["alpha"]))
    apply(position, *nets)
    return position


def config_problems(cfg: RunConfig) -> List[str]:
    """What keeps train.progressive=true from running with this config (empty when it is off or fits)."""
    t = cfg.train
    if not t.progressive:
        return []
    if cfg.model.name not in growing_models():
        return [f"train.progressive=true grows a multi-scale network, and model.name={cfg.model.name} is not one; "
                f"use model.name={' or '.join(growing_models())}, or train.progressive=false"]
    r, s = cfg.data.resolution, t.pg_start
    if isinstance(s, int) and isinstance(r, int) and (s & (s - 1) or s > r):
        return [f"train.pg_start must be a power of two from 4 up to data.resolution ({r}), got {s}"]
    return []
