"""The outer loop: progress bar, log rows, hooks, and a clean stop on Ctrl-C/SIGTERM."""
from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from typing import Any, Iterator

import torch
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


def call_hooks(trainer: Any, method: str, *args: Any) -> None:
    """Run one hook method on every hook with the global random state forked: whatever a hook draws (a model it
    builds, a batch it samples) never shifts the training stream, so hooks cannot break exact resume."""
    devices = [trainer.device] if trainer.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        for h in trainer.hooks:
            getattr(h, method)(trainer, *args)


def run_loop(trainer: Any) -> None:
    from .trainer import Interrupted
    cfg = trainer.cfg
    call_hooks(trainer, "on_start")
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
                call_hooks(trainer, "on_step", stats)
                if trainer.step % trainer.steps_per_epoch == 0:
                    call_hooks(trainer, "on_epoch")
                if trainer.step % max(1, cfg.checkpoint.every) == 0:
                    trainer.save_checkpoint()
                    last_saved = trainer.step
    finally:
        bar.close()
        if trainer.step != last_saved:
            trainer.save_checkpoint()
        call_hooks(trainer, "on_end")
    if trainer.stop_requested:
        raise Interrupted(f"stopped at step {trainer.step}; the checkpoint is saved — continue with: "
                          f"gankit train {trainer.run_dir} --resume")
