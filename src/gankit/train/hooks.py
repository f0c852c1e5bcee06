"""Training hooks: side effects (sample grids, logging, evaluation, diagnosis) live here, not inside the loop.

A hook's methods receive a :class:`~gankit.train.context.TrainingContext`: the narrow view of a training run a
hook may use. It reads ``ctx.step``, ``ctx.epoch``, ``ctx.total_steps``, ``ctx.cfg``, ``ctx.data``,
``ctx.run_dir``, ``ctx.G``/``ctx.D`` (to probe, not to replace) and calls ``ctx.log_row``, ``ctx.event``,
``ctx.generate``; the named actions that change training are ``ctx.set_lr``, ``ctx.set_beta1``,
``ctx.set_dropout``, ``ctx.set_option``, ``ctx.snapshot`` / ``ctx.rollback`` (see that class for the list).

Under torchrun a hook runs on rank 0 only, unless it sets ``all_ranks = True``: a hook whose actions change
training (the diagnoser's remedies) must, so that every rank changes the same way at the same step.
A hook's state (``state_dict``) is saved in every checkpoint under the hook's ``name``; two hooks of a run must
have different names (the class name is the default).

Example:
    >>> class PrintEvery100(Hook):
    ...     def on_step(self, ctx, stats):
    ...         if ctx.step % 100 == 0:
    ...             print(ctx.step, stats.get("loss_d"))
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Sequence

if TYPE_CHECKING:  # for the annotations only; the context module imports nothing from here at run time
    from .context import TrainingContext


class Hook:
    """Base class; override what you need. Hooks with state save it in the checkpoint under ``name``."""

    name: str = ""            # the key of this hook's state in checkpoints ("" = the class name)
    all_ranks: bool = False   # run on every rank under torchrun (hooks that change training)

    @property
    def key(self) -> str:
        return self.name or type(self).__name__

    def on_start(self, ctx: "TrainingContext") -> None:
        """Before the first step (also after a resume)."""

    def on_step(self, ctx: "TrainingContext", stats: Dict[str, float]) -> None:
        """After each G update; ``stats`` holds interval means when a log row was just written, else {}."""

    def on_epoch(self, ctx: "TrainingContext") -> None:
        """After the last G update of an epoch."""

    def on_end(self, ctx: "TrainingContext") -> None:
        """After the last step, or when training is interrupted (Ctrl-C, SIGTERM, divergence)."""

    def state_dict(self) -> Dict[str, Any]:
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        pass


def check_unique(hooks: Sequence[Hook]) -> List[Hook]:
    """The hooks, after checking that no two share a state key (they would overwrite each other's state)."""
    seen: Dict[str, Hook] = {}
    for h in hooks:
        if not isinstance(h, Hook):
            raise TypeError(f"hooks must be gankit.train.hooks.Hook instances, got {type(h).__name__}")
        if h.key in seen:
            raise ValueError(f"two hooks are named {h.key!r}; give one of them another name (hook.name = ...) "
                             "so their checkpoint states stay apart")
        seen[h.key] = h
    return list(hooks)
