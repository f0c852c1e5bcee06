"""The outer loop: progress bar, log rows, hooks, checkpoints, and clean stops.

Stops: Ctrl-C or SIGTERM asks the loop to stop at the next step boundary, where a checkpoint is exact; a second
Ctrl-C stops at once and saves nothing (the step in flight is dropped, the last checkpoint stands). Training
whose weights go non-finite stops with ``Diverged`` and never writes them over a finite checkpoint.
"""
from __future__ import annotations

import math
import signal
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Dict, Iterator

import torch

from ..errors import Diverged, Interrupted
from ..reporter import Reporter
from . import progressive
from .progress import Progress, step_levels

_report = Reporter(__name__)

if TYPE_CHECKING:  # annotations only: the trainer imports this module
    from .trainer import Trainer


@contextmanager
def stop_on_signals(trainer: "Trainer") -> Iterator[None]:
    """Ctrl-C and SIGTERM ask the loop to stop at the next step boundary (so the checkpoint is exact)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if trainer.stop_requested:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        trainer.stop_requested = True

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def call_hooks(trainer: "Trainer", method: str, *args: Any) -> None:
    """Run one hook method on every hook with the global random state forked: whatever a hook draws (a model it
    builds, a batch it samples) never shifts the training stream, so hooks cannot break exact resume."""
    devices = [trainer.device] if trainer.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        for h in trainer.hooks:
            getattr(h, method)(trainer.context, *args)


def _log(trainer: "Trainer", bar: Progress) -> Dict[str, float]:
    stats = trainer.flush_stats()
    trainer.log_row(stats)
    bar.set_postfix(loss_d=f"{stats.get('loss_d', 0):.3f}", loss_g=f"{stats.get('loss_g', 0):.3f}",
                    Dx=f"{stats.get('d_real', 0):.2f}", DGz=f"{stats.get('d_fake', 0):.2f}",
                    epoch=trainer.epoch, refresh=False)
    return stats


def _one_step(trainer: "Trainer", bar: Progress, state: Dict[str, Any]) -> None:
    """A step, its log row and hooks, then (at the interval) a checkpoint."""
    cfg = trainer.cfg
    trainer.train_step()
    bar.update(1)
    stats: Dict[str, float] = {}
    if trainer.step % max(1, cfg.log.every) == 0 or trainer.step == trainer.total_steps:
        stats = _log(trainer, bar)
    call_hooks(trainer, "on_step", stats)  # the diagnoser may roll non-finite weights back here
    if stats:
        if all(math.isfinite(v) for v in stats.values()) and trainer.weights_finite():
            state["finite_at"] = trainer.step
        elif not trainer.weights_finite():
            raise trainer.diverged(since=state["finite_at"])
    if trainer.step % trainer.steps_per_epoch == 0:
        call_hooks(trainer, "on_epoch")
    if trainer.step % max(1, cfg.checkpoint.every) == 0:
        trainer.save_checkpoint()
        state["saved"] = trainer.step


def run_loop(trainer: "Trainer") -> None:
    cfg = trainer.cfg
    if cfg.train.progressive:   # which sizes the run passes, and when (fitted to short runs)
        _report.result(progressive.plan_line(cfg, trainer.data_shape[-1], trainer.total_steps, trainer.pg_lengths),
                       trainer.verbose)
    call_hooks(trainer, "on_start")
    # a bar on a terminal, a line every few per cent in a log; the time left follows the growth schedule
    bar = Progress(trainer.total_steps, trainer.step, cfg.name, bool(cfg.log.progress and trainer.dist.is_main),
                   step_levels(cfg, trainer.data_shape[-1], trainer.total_steps, trainer.pg_lengths))
    state: Dict[str, Any] = {"saved": trainer.step, "finite_at": trainer.step}
    try:
        with stop_on_signals(trainer):
            while trainer.step < trainer.total_steps and not trainer.should_stop():  # agreed by all ranks
                _one_step(trainer, bar, state)
    except KeyboardInterrupt:
        bar.close()  # a second Ctrl-C: stop now, write nothing (a step may be half done)
        raise Interrupted(f"stopped at once during step {trainer.step + 1}; that step is dropped and nothing was "
                          f"saved — continue from the last checkpoint (step {state['saved']}): "
                          f"gankit train {trainer.run_dir} --resume") from None
    except Diverged:
        bar.close()
        call_hooks(trainer, "on_end")
        raise
    except Exception:
        bar.close()  # out of memory, a full disk, ...: the error's one line starts on a line of its own
        raise
    bar.close()
    if trainer.step != state["saved"]:
        trainer.save_checkpoint()
    call_hooks(trainer, "on_end")
    if trainer.stop_requested:
        raise Interrupted(f"stopped at step {trainer.step}; the checkpoint is saved — continue with: "
                          f"gankit train {trainer.run_dir} --resume")
