"""The builder: every component of a training run made from the config, in one place and one order.

The order matters for exact reproduction: the networks are initialised from torch's default generator right
after the data are loaded, so a preset trains the same weights whatever else changes around it.

Example:
    >>> parts = build(cfg, data_shape=(1, 28, 28), device=torch.device("cpu"))
    >>> parts.G, parts.D, parts.opt_d, parts.loss
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Optional, Tuple

import torch
from torch import nn

from ..config import RunConfig
from ..errors import GankitError
from ..models import build_models
from . import distributed
from .ema import EMA
from .fastpath import speed_up
from .gan_loss import GANLoss
from .optim import make_optimizer, make_scheduler
from .translate import TranslateLoss, is_translator

Scheduler = Optional[torch.optim.lr_scheduler.LRScheduler]


@dataclass
class Components:
    """What the Trainer orders: the networks (and their DDP wrappers), optimizers, schedulers, the AMP
    scaler, the EMA of G, and the loss object."""
    G: nn.Module
    D: nn.Module
    G_train: nn.Module          # DDP wrapper, called where G's gradients are wanted (G itself in one process)
    D_train: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    sched_g: Scheduler
    sched_d: Scheduler
    scaler: torch.amp.GradScaler
    ema: Optional[EMA]
    loss: GANLoss
    memory_format: torch.memory_format   # how real image batches should arrive (channels-last on the fast path)


def check_precision(precision: str, device: torch.device) -> None:
    if precision == "fp16" and device.type != "cuda":
        raise GankitError("train.precision=fp16 needs a CUDA GPU; on the CPU use bf16")


def build(cfg: RunConfig, data_shape: Tuple[int, ...], device: torch.device,
          dist: distributed.Dist = distributed.SINGLE,
          autocast: Callable[[], ContextManager[Any]] = contextlib.nullcontext, classes: int = 0) -> Components:
    """Networks for data of ``data_shape`` (and ``classes`` classes when model.conditional), on ``device``,
    wrapped for torchrun when ``dist`` has ranks."""
    t = cfg.train
    check_precision(t.precision, device)
    G, D = (distributed.sync_batchnorm(m, dist, device).to(device) for m in build_models(cfg.model, data_shape, classes))
    memory_format = speed_up(G, D, t.precision, device)  # bf16 CPU: see fastpath.py
    G_train, D_train = (distributed.wrap(m, dist, device, grows=t.progressive) for m in (G, D))
    opt_g = make_optimizer(G.parameters(), t, t.lr_g)
    opt_d = make_optimizer(D.parameters(), t, t.lr_d)
    return Components(
        G=G, D=D, G_train=G_train, D_train=D_train, opt_g=opt_g, opt_d=opt_d,
        sched_g=make_scheduler(opt_g, t), sched_d=make_scheduler(opt_d, t),
        scaler=torch.amp.GradScaler("cuda", enabled=t.precision == "fp16"),
        ema=EMA(G, t.ema, t.batch_size, t.ema_warmup) if t.ema > 0 else None,
        loss=(TranslateLoss if is_translator(cfg) else GANLoss)(  # pix2pix: train/translate.py
            cfg, G, D, device=device, G_train=G_train, D_train=D_train, dist=dist, autocast=autocast),
        memory_format=memory_format)
