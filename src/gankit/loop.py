"""The outer loop: progress bar, log rows, hooks, and a clean stop on Ctrl-C/SIGTERM."""
from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from typing import Any, Iterator

from tqdm import tqdm


@contextmanager
def stop_on_signals(trainer: Any) -> Iterator[None]:
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


def run_loop(trainer: Any) -> None:
    from .trainer import Interrupted
    cfg = trainer.cfg
    for h in trainer.hooks:
        h.on_start(trainer)
    bar = tqdm(total=trainer.total_steps, initial=trainer.step, desc=cfg.name, file=sys.stderr,
               disable=not (cfg.log.progress and trainer.dist.is_main), dynamic_ncols=True, unit="step")
    last_saved = trainer.step
    try:
        with stop_on_signals(trainer):
            while trainer.step < trainer.total_steps and not trainer.should_stop():  # agreed by all ranks
                trainer.train_step()
                bar.update(1)
                stats = {}
                if trainer.step % max(1, cfg.log.every) == 0 or trainer.step == trainer.total_steps:
                    stats = trainer.flush_stats()
                    trainer.log_row(stats)
                    bar.set_postfix(loss_d=f"{stats.get('loss_d', 0):.3f}", loss_g=f"{stats.get('loss_g', 0):.3f}",
                                    Dx=f"{stats.get('d_real', 0):.2f}", DGz=f"{stats.get('d_fake', 0):.2f}",
                                    epoch=trainer.epoch, refresh=False)
                for h in trainer.hooks:
                    h.on_step(trainer, stats)
                if trainer.step % trainer.steps_per_epoch == 0:
                    for h in trainer.hooks:
                        h.on_epoch(trainer)
                if trainer.step % max(1, cfg.checkpoint.every) == 0:
                    trainer.save_checkpoint()
                    last_saved = trainer.step
    finally:
        bar.close()
        if trainer.step != last_saved:
            trainer.save_checkpoint()
        for h in trainer.hooks:
            h.on_end(trainer)
    if trainer.stop_requested:
        raise Interrupted(f"stopped at step {trainer.step}; the checkpoint is saved — continue with --resume")
