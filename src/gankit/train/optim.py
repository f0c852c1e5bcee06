"""Optimizers and learning-rate schedules built from TrainConfig."""
from __future__ import annotations

from typing import Iterable, Optional

import torch

from ..config import TrainConfig
from ..errors import GankitError


def make_optimizer(params: Iterable[torch.nn.Parameter], t: TrainConfig, lr: float) -> torch.optim.Optimizer:
    """Adam (beta1, beta2) or RMSprop (Keras' rho is rms_alpha). Adam uses the fused kernel on CPU/CUDA (one
    pass over each tensor, ~2.5x faster than foreach on the lesson-001 MLP here); RMSprop multi-tensor (foreach)."""
    params = list(params)
    if t.optimizer == "adam":
        fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
        return torch.optim.Adam(params, lr=lr, betas=(t.beta1, t.beta2), eps=t.eps,
                                **({"fused": True} if fused else {"foreach": True}))
    if t.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=t.rms_alpha, eps=t.eps, foreach=True)
    raise GankitError(f"train.optimizer must be adam or rmsprop, got {t.optimizer!r}")


def make_scheduler(opt: torch.optim.Optimizer, t: TrainConfig) -> Optional[torch.optim.lr_scheduler.LRScheduler]:
    """Keras' time-based decay: lr_t = lr / (1 + decay * t), stepped after every update."""
    if t.lr_decay <= 0:
        return None
    decay = t.lr_decay
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda it: 1.0 / (1.0 + decay * it))
