"""Progressive growing (Karras et al. 2018, "Progressive Growing of GANs") as a training schedule on the
multi-scale family (``model.name=msg``): ``train.progressive=true``.

The schedule is a pure function of the images seen (``step * train.batch_size``), like ProGAN's
``TrainingSchedule``. Training starts at ``train.pg_start`` px and holds it for ``train.pg_stable_kimg`` thousand
images; then each next resolution fades in over ``train.pg_fade_kimg`` thousand images (alpha rising linearly
from 0 to 1) and is held for ``train.pg_stable_kimg``; the full size, once faded in, stays::

    kimg      0 ...... S ...... S+F ...... 2S+F ...... 2S+2F ...
    res       8 stable | 16 fade | 16 stable | 32 fade  | 32 stable ... R for good
    alpha     1        | 0 -> 1  | 1         | 0 -> 1   | 1

The networks take the position through ``set_lod(level, alpha)`` (models/msg.py says what it changes). Since
the position follows from the step, resume is exact mid-fade; the checkpoint also holds it (``progressive``:
images, level, resolution, alpha) for inspection and for a loaded run's samples, and every log row has
``pg_res`` and ``pg_alpha``.

Example:
    >>> schedule(12_000, start=8, final=64, fade_kimg=10, stable_kimg=10)   # 2 thousand images into 16's fade
    Position(level=2, alpha=0.2)
    >>> schedule(10 ** 9, 8, 64, 10, 10).resolution
    64
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional

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


def position_for(cfg: RunConfig, resolution: int, images: int) -> Position:
    """The schedule position of a run with this config and data size after ``images`` images."""
    t = cfg.train
    return schedule(images, t.pg_start, resolution, t.pg_fade_kimg, t.pg_stable_kimg)


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
