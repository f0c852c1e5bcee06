"""What a hook may read of a training run, and the named actions it may take.

Hooks never see the Trainer itself: its optimizers, schedulers and data order stay private, so exact resume
and the torchrun ranks cannot be broken by a hook reaching into them.

Read: ``step`` (G updates done), ``epoch``, ``total_steps``, ``steps_per_epoch``, ``images_seen``, ``cfg``
(the resolved RunConfig: it never changes while training), ``option(key)`` (a live option's value now),
``data`` (the dataset), ``run_dir``,
``device``, ``verbose``, ``is_main``, ``fixed_z`` (the noise of the sample grids), ``G``, ``D`` and
``ema_model`` (to probe; replace nothing), ``loss_uses_targets``, ``lr(which)``, ``beta1()``,
``dropout()``.

Act: ``log_row(row)``, ``event(kind, message, **info)``, ``generate(n, seed=, ema=, z=)``, ``noise(n, gen)``,
``set_lr(which, lr)``, ``set_beta1(value)``, ``set_dropout(p)``, ``set_option("loss.instance_noise", v)``
(the options in ``LIVE_OPTIONS``: ``train/live.py``, each value range-checked), ``snapshot()`` and
``rollback(snapshot)``.

Example:
    >>> def on_step(self, ctx, stats):
    ...     if stats and stats["loss_d"] < 0.01:
    ...         ctx.set_lr("d", ctx.lr("d") / 2)
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

import torch
from torch import nn

from ..config import RunConfig
from .live import KEYS as LIVE_OPTIONS

if TYPE_CHECKING:  # annotations only: the trainer imports this module, not the other way round
    from .trainer import Trainer

__all__ = ["LIVE_OPTIONS", "TrainingContext"]   # LIVE_OPTIONS: the options a hook may change (train/live.py)


class TrainingContext:
    """The narrow interface of a training run that hooks receive (see the module docstring)."""

    def __init__(self, trainer: "Trainer"):
        self._t = trainer

    # ---- read ---------------------------------------------------------------------------------------------
    @property
    def step(self) -> int:
        return self._t.step

    @property
    def epoch(self) -> int:
        return self._t.epoch

    @property
    def total_steps(self) -> int:
        return self._t.total_steps

    @property
    def steps_per_epoch(self) -> int:
        return self._t.steps_per_epoch

    @property
    def images_seen(self) -> int:
        return self._t.step * self._t.cfg.train.batch_size

    @property
    def cfg(self) -> RunConfig:
        return self._t.cfg

    @property
    def data(self) -> Any:
        return self._t.data

    @property
    def run_dir(self) -> Path:
        return self._t.run_dir

    @property
    def device(self) -> torch.device:
        return self._t.device

    @property
    def verbose(self) -> bool:
        return self._t.verbose

    @property
    def is_main(self) -> bool:
        return self._t.dist.is_main

    @property
    def fixed_z(self) -> torch.Tensor:
        return self._t.fixed_z

    @property
    def G(self) -> nn.Module:
        return self._t.G

    @property
    def D(self) -> nn.Module:
        return self._t.D

    @property
    def ema_model(self) -> Optional[nn.Module]:
        return None if self._t.ema is None else self._t.ema.model

    @property
    def loss_uses_targets(self) -> bool:
        return bool(self._t.loss.fn.uses_targets)

    def option(self, key: str) -> Any:
        """A live option's value now (``LIVE_OPTIONS``; it starts as the config has it)."""
        return self._t.loss.live.get(key)

    def lr(self, which: str) -> float:
        return self._t.optimizer(which).param_groups[0]["lr"]

    def beta1(self) -> Optional[float]:
        """Adam's beta1 (the larger of the two networks'); None when neither uses Adam."""
        betas = [g["betas"][0] for g in self._adam_groups()]
        return max(betas) if betas else None

    def dropout(self) -> Optional[float]:
        """D's dropout rate; None when D has no dropout layer."""
        layers = self._dropouts()
        return layers[0].p if layers else None

    # ---- act ----------------------------------------------------------------------------------------------
    def log_row(self, row: Dict[str, Any]) -> None:
        """Append a row (with step, epoch, time) to metrics.jsonl."""
        self._t.log_row(row)

    def event(self, kind: str, message: str, **info: Any) -> None:
        """A finding or remedy: a row in events.jsonl and one plain-words console line."""
        self._t.event(kind, message, **info)

    def generate(self, n: int, seed: Optional[int] = None, ema: bool = True, z: Optional[torch.Tensor] = None,
                 labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        """n samples in the data's scale from its own seeded noise (never the training stream); a conditional
        run draws class ``labels[i]`` (default: the classes in turn)."""
        return self._t.generate(n, seed=seed, ema=ema, z=z, labels=labels)

    def class_rows(self, n: int) -> Optional[Tuple[torch.Tensor, int]]:
        """A conditional run's grid labels, one row per class (see SamplerMixin.class_rows); None otherwise."""
        return self._t.class_rows(n)

    def noise(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        return self._t.noise(n, generator)

    def set_lr(self, which: str, lr: float) -> None:
        """Change G's ("g") or D's ("d") learning rate now; a learning-rate decay continues from it."""
        self._t.set_lr(which, lr)

    def set_beta1(self, value: float) -> None:
        """Lower (or set) Adam's beta1 of both networks; RMSprop runs are unchanged."""
        for g in self._adam_groups():
            g["betas"] = (value, g["betas"][1])

    def set_dropout(self, p: float) -> None:
        """Set the rate of every dropout layer in D."""
        for m in self._dropouts():
            m.p = p

    def set_option(self, key: str, value: Any) -> None:
        """Change one of LIVE_OPTIONS for the steps that follow (KeyError for another key, GankitError for a value
        out of its range); the config stays as resolved."""
        self._t.loss.set_option(key, value)

    def snapshot(self) -> Dict[str, Any]:
        """A copy of the weights (G, D, G's EMA) and the step they were taken at."""
        t = self._t
        state = {"step": t.step, "G": copy.deepcopy(t.G.state_dict()), "D": copy.deepcopy(t.D.state_dict())}
        if t.ema is not None:
            state["G_ema"] = copy.deepcopy(t.ema.state_dict())
        return state

    def rollback(self, state: Dict[str, Any]) -> None:
        """Load a snapshot's weights and start both optimizers afresh (their moments may hold the blow-up)."""
        t = self._t
        t.G.load_state_dict(state["G"])
        t.D.load_state_dict(state["D"])
        if t.ema is not None and state.get("G_ema") is not None:
            t.ema.load_state_dict(state["G_ema"])
        for which in ("g", "d"):
            t.optimizer(which).state.clear()
        t.loss.last_d_loss = float("inf")

    # ---- helpers ------------------------------------------------------------------------------------------
    def _adam_groups(self) -> List[Dict[str, Any]]:
        return [g for w in ("d", "g") for g in self._t.optimizer(w).param_groups if "betas" in g]

    def _dropouts(self) -> List[nn.Dropout]:
        return [m for m in self._t.D.modules() if isinstance(m, nn.Dropout)]
