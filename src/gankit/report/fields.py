"""What D thinks, for the lessons' pictures: D(x) along the line (1-D) and over the plane (2-D), and the
gradient of G's loss at G's samples (the arrows of GAN Lab's view: where D pushes each generated point).

The 1-D lesson's D judges a *set* of draws at once (``SetDiscriminator``), so D has no value at a single x.
What is drawn instead is how D judges a set of G's own draws when one of them is moved to x: the mean logit
over 16 such sets, through the sigmoid. Its slope at a generated value is exactly the push D gives that draw,
so the curve rises where moving a draw makes the set look more real — Goodfellow's D(x), in this D's terms.

A packing D (PacGAN, ``model.pack`` > 1) judges packs of samples: the 2-D heat map puts each point x in packs
whose other members are real samples (the mean over 4 such packs); the arrows use packs of generated points,
as in training.

Example:
    >>> xs, d = d_curve_1d(trainer, x)                     # x: (n, 1) generated values
    >>> field = d_field_2d(trainer, x, span=2.0)            # heat (64, 64), arrows at 256 generated points
"""
from __future__ import annotations

import contextlib
from typing import Any, Dict, Iterator, Tuple

import numpy as np
import torch
from torch import nn

from ..train.context import TrainingContext
from ..train.losses import LOSSES


@contextlib.contextmanager
def evaluating(D: nn.Module) -> Iterator[nn.Module]:
    """D in eval mode (no dropout) for the duration; its training mode is restored after."""
    was = D.training
    D.eval()
    try:
        yield D
    finally:
        D.train(was)


def _device(D: nn.Module) -> torch.device:
    return next(D.parameters()).device


def d_curve_1d(ctx: TrainingContext, x: np.ndarray, points: int = 200, sets: int = 16) -> Tuple[np.ndarray, np.ndarray]:
    """(xs, D(xs)) over mean +- 5 std of the target for a set discriminator (see the module docstring)."""
    D, width = ctx.D, int(ctx.cfg.data.dim)
    mean, std = ctx.data.target["mean"], ctx.data.target["std"]
    xs = np.linspace(mean - 5 * std, mean + 5 * std, points)
    draws = torch.as_tensor(np.asarray(x, dtype=np.float32).ravel())
    if draws.numel() < sets * width:
        draws = draws.repeat(sets * width // max(1, draws.numel()) + 1)
    base = draws[:sets * width].view(sets, width)  # (S, W): sets of G's draws
    gen = torch.Generator().manual_seed(0)
    slot = torch.randint(width, (sets,), generator=gen)  # which draw of each set moves to x
    batch = base.unsqueeze(0).repeat(points, 1, 1)  # (X, S, W)
    batch[:, torch.arange(sets), slot] = torch.as_tensor(xs, dtype=torch.float32)[:, None]
    with torch.no_grad(), evaluating(D):
        logits = D(batch.view(-1, width).to(_device(D))).float().view(points, sets)
    return xs, torch.sigmoid(logits.mean(1)).cpu().numpy()


def _pack_partners(data: Any, n: int, pack: int, gen: torch.Generator) -> torch.Tensor:
    return data.sample(n * (pack - 1), gen).view(n, pack - 1, -1)  # (n, pack-1, 2) real partners


def d_field_2d(ctx: TrainingContext, x: np.ndarray, span: float, res: int = 64, arrows: int = 256,
               partners: int = 4) -> Dict[str, Any]:
    """D's sigmoid over [-span, span]^2 (heat, res x res, rows = y), real samples, and the arrows
    -d loss_G / dx at `arrows` generated points (their positions `at` and vectors `uv`)."""
    D, cfg = ctx.D, ctx.cfg
    pack = max(1, int(cfg.model.pack))
    dev = _device(D)
    gen = torch.Generator().manual_seed(0)
    ticks = torch.linspace(-span, span, res)
    gy, gx = torch.meshgrid(ticks, ticks, indexing="ij")
    pts = torch.stack([gx.ravel(), gy.ravel()], 1)  # (res*res, 2), row-major in y
    with torch.no_grad(), evaluating(D):
        if pack == 1:
            heat = torch.sigmoid(D(pts.to(dev)).float()).cpu()
        else:
            probs = []
            for _ in range(partners):
                packs = torch.cat([pts[:, None], _pack_partners(ctx.data, len(pts), pack, gen)], 1)
                probs.append(torch.sigmoid(D(packs.reshape(-1, 2).to(dev)).float()).cpu())
            heat = torch.stack(probs).mean(0)
    n = (min(arrows, len(x)) // pack) * pack
    fake = torch.as_tensor(np.asarray(x[:n], dtype=np.float32)).to(dev).requires_grad_(True)
    with evaluating(D):
        loss = LOSSES.get(cfg.loss.name).g(D(fake).float())
        (grad,) = torch.autograd.grad(loss, fake)  # wrt the points only: D's own .grad stays as training left it
    real = ctx.data.sample(1000, gen).numpy()
    return {"heat": heat.view(res, res).numpy(), "extent": (-span, span, -span, span), "real": real,
            "at": fake.detach().cpu().numpy(), "uv": (-grad).cpu().numpy()}
