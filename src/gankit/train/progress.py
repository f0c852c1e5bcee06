"""The training progress display and its time estimate.

On a terminal it is a tqdm bar; when stderr is a file or a pipe (a log, CI, ``nohup``) it prints one plain line
every ``EVERY_PERCENT`` per cent instead of a bar redrawn many times a second (56 KB for 1 000 steps before).

The time left counts what each remaining step will cost. A run that grows progressively (progressive.py) gets
dearer per step as its resolution doubles, so the estimate keeps the measured seconds per step of every
resolution it has trained; a resolution not reached yet is extrapolated from the measured ones (a line through
seconds against pixels once two are measured, else the pixel ratio to the one measured, which errs long).

Example:
    >>> clock = StepClock(levels=[3, 3, 4, 4], start=0)         # 2 steps at 32 px, then 2 at 64 px
    >>> clock.tick(1, 0.5); clock.tick(2, 0.5)                  # 0.5 s a step at 32 px
    >>> clock.remaining(2)                                      # 2 steps at 64 px: 4x the pixels
    4.0
    >>> clock.remaining(0)                                      # 2 at 32 px measured, 2 at 64 px estimated
    5.0
"""
from __future__ import annotations

import sys
import time
from typing import IO, Dict, List, Optional, Sequence, Tuple

import numpy as np
from tqdm import tqdm

from ..config import RunConfig
from . import progressive

EVERY_PERCENT = 5      # a plain line per this many per cent of the run when not on a terminal
WARMUP_STEPS = 2       # the first steps of a resolution pay for allocation and are not counted


def step_levels(cfg: RunConfig, resolution: int, total: int,
                lengths: Optional[Tuple[float, float]] = None) -> List[int]:
    """The schedule level of each G step 0 .. total-1 (one level for a run that does not grow), growing by the
    (fade, hold) ``lengths`` the run uses (None: ``progressive.lengths``, fitted to ``total`` steps)."""
    if not cfg.train.progressive or total <= 0:
        return [0] * max(0, total)
    t = cfg.train
    images = np.arange(total, dtype=np.int64) * t.batch_size
    first, last = progressive.level_of(t.pg_start), progressive.level_of(resolution)
    fade, stable = lengths or progressive.lengths(cfg, resolution, total)   # as the trainer grows
    hold, cycle = stable * 1000.0, (fade + stable) * 1000.0
    if cycle <= 0:
        return [last] * total
    level = first + 1 + np.floor((images - hold) / cycle)
    level = np.where(images < hold, first, np.minimum(level, last))
    return level.astype(int).tolist()


class StepClock:
    """Seconds per step measured per level, and the time left for the steps from ``step`` on."""

    def __init__(self, levels: Sequence[int], start: int):
        self.levels = np.asarray(levels, dtype=np.int64)
        found, first = np.unique(self.levels, return_index=True)
        self.ranges = {int(lv): (int(i), int(np.searchsorted(self.levels, lv, side="right")))
                       for lv, i in zip(found, first)}      # level -> (first step, last step + 1); levels only grow
        self.start = start
        self.all: Dict[int, List[float]] = {}    # level -> [seconds, steps] of every step timed
        self.warm: Dict[int, List[float]] = {}   # the same after a level's first WARMUP_STEPS (allocation, caches)

    def tick(self, step: int, seconds: float) -> None:
        """Step ``step`` (1-based, as the trainer counts) took ``seconds``."""
        if 0 < step <= len(self.levels):
            lv = int(self.levels[step - 1])
            acc = self.all.setdefault(lv, [0.0, 0])
            if acc[1] >= WARMUP_STEPS:
                warm = self.warm.setdefault(lv, [0.0, 0])
                warm[0], warm[1] = warm[0] + seconds, warm[1] + 1
            acc[0], acc[1] = acc[0] + seconds, acc[1] + 1

    def per_step(self) -> Dict[int, float]:
        """Mean seconds per step of each level trained, after its warm-up when there is an after (hooks such as
        periodic evaluation included: they are part of the run's time)."""
        return {lv: (self.warm.get(lv) or acc)[0] / (self.warm.get(lv) or acc)[1] for lv, acc in self.all.items()}

    @staticmethod
    def estimate(level: int, measured: Dict[int, float]) -> float:
        """Seconds per step at ``level``: measured, or extrapolated in pixels from the levels measured."""
        if level in measured:
            return measured[level]
        if len(measured) >= 2:
            slope, icpt = np.polyfit([4.0 ** lv for lv in measured], list(measured.values()), 1)
            return max(float(slope * 4.0 ** level + icpt), min(measured.values()))
        (lv, s), = measured.items()
        return s * 4.0 ** (level - lv)

    def remaining(self, step: int) -> Optional[float]:
        """Seconds for the steps after ``step`` (None before anything was measured)."""
        measured = self.per_step()
        if not measured:
            return None
        return sum(max(0, end - max(step, first)) * self.estimate(lv, measured)
                   for lv, (first, end) in self.ranges.items() if end > step)


def clock_text(seconds: Optional[float]) -> str:
    if seconds is None:
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


class Progress:
    """What the loop calls: ``update(1)`` after each step, ``set_postfix(**stats)``, ``close()``."""

    def __init__(self, total: int, initial: int, desc: str, enabled: bool, levels: Sequence[int],
                 file: Optional[IO[str]] = None, terminal: Optional[bool] = None):
        file = file if file is not None else sys.stderr     # looked up now: a caller may have redirected it
        self.total, self.step, self.desc, self.enabled, self.file = total, initial, desc, enabled, file
        self.terminal = file.isatty() if terminal is None else terminal
        self.clock = StepClock(levels, initial)
        self.postfix: Dict[str, object] = {}
        self._last = time.perf_counter()
        self._t0 = self._last
        self._next_line = self._line_after(initial)
        self.bar = tqdm(total=total, initial=initial, desc=desc, file=file, dynamic_ncols=True, unit="step",
                        disable=not (enabled and self.terminal),
                        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{postfix}]")

    def _line_after(self, step: int) -> int:
        every = max(1, self.total * EVERY_PERCENT // 100)
        return (step // every + 1) * every

    def update(self, n: int = 1) -> None:
        now = time.perf_counter()
        self.step += n
        self.clock.tick(self.step, now - self._last)
        self._last = now
        left = clock_text(self.clock.remaining(self.step))
        if self.bar.disable:
            if self.enabled and (self.step >= self._next_line or self.step == self.total):
                self._plain_line(left, now)
                self._next_line = self._line_after(self.step)
            return
        stats = ", ".join(f"{k}={v}" for k, v in self.postfix.items())
        self.bar.set_postfix_str(f"{left} left" + (f", {stats}" if stats else ""), refresh=False)
        self.bar.update(n)

    def _plain_line(self, left: str, now: float) -> None:
        stats = " ".join(f"{k}={v}" for k, v in self.postfix.items())
        pct = 100 * self.step // max(1, self.total)
        self.file.write(f"{self.desc}: step {self.step}/{self.total} ({pct}%), {clock_text(now - self._t0)} "
                        f"elapsed, {left} left" + (f", {stats}" if stats else "") + "\n")
        self.file.flush()

    def set_postfix(self, refresh: bool = False, **stats: object) -> None:
        self.postfix = stats

    def close(self) -> None:
        self.bar.close()
