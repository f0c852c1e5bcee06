"""Training hooks: side effects (sample grids, logging, checkpoints, evaluation, diagnosis) live here,
not inside the loop.

A hook sees the Trainer: ``trainer.G``, ``trainer.D``, ``trainer.step`` (G updates done), ``trainer.epoch``,
``trainer.cfg`` (RunConfig), ``trainer.data``, ``trainer.run_dir``, ``trainer.log_row(dict)`` (append to
metrics.jsonl), ``trainer.event(kind, message, **info)`` (events.jsonl + a console line) and
``trainer.generate(n, seed)`` (samples in the data's scale, EMA weights when present).

Example:
    >>> class PrintEvery100(Hook):
    ...     def on_step(self, trainer, stats):
    ...         if trainer.step % 100 == 0:
    ...             print(trainer.step, stats.get("loss_d"))
"""
from __future__ import annotations

from typing import Any, Dict


class Hook:
    """Base class; override what you need. Hooks with state save it in the checkpoint."""

    def on_start(self, trainer: Any) -> None:
        """Before the first step (also after a resume)."""

    def on_step(self, trainer: Any, stats: Dict[str, float]) -> None:
        """After each G update; ``stats`` holds interval means when a log row was just written, else {}."""

    def on_epoch(self, trainer: Any) -> None:
        """After the last G update of an epoch."""

    def on_end(self, trainer: Any) -> None:
        """After the last step, or when training is interrupted."""

    def state_dict(self) -> Dict[str, Any]:
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        pass
