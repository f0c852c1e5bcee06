"""Cheap measurements the diagnoser takes during training (see gankit.diagnose).

* ``Diversity``: how spread out and how well covered a fixed-noise batch of generated samples is, against a
  fixed batch of real data of the same size: mean pairwise distance (pixels, or the 2-D coordinates) as a
  ratio to the real batch's, and the share of modes / classes the real batch shows that the samples show too
  (ring and grid modes; MNIST and Fashion classes and Stacked MNIST digit triples with the evaluation's
  classifier, when its weights are installed).
* ``grad_norms``: the L2 norms of G's and D's last gradients; ``finite``: no NaN/inf in a module's weights.

Example:
    >>> div = Diversity(ctx, n=512)              # draws its real batch and fixed noise once
    >>> div.measure(ctx)                          # {"spread": 0.93, "coverage": 1.0, "covered": 8, ...}
"""
from __future__ import annotations

from typing import Callable, Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..data import DatasetInfo, dataset_info
from ..train.context import TrainingContext

SEED = 9137  # the diagnoser's own random stream (real batch, noise): training's stream is never touched


def mean_pairwise_distance(x: torch.Tensor) -> float:
    """Mean Euclidean distance between distinct rows of x (N, D)."""
    x = x.double()
    d = torch.cdist(x, x)
    n = len(x)
    return float(d.sum() / max(n * (n - 1), 1))


def _classifier(info: DatasetInfo) -> Optional[Callable[[torch.Tensor], torch.Tensor]]:
    """A function images in [-1, 1] (N, C, H, W) -> class ids (N,) or (N, 3) for Stacked MNIST, or None
    (the dataset's descriptor names no classifier, or its weights are not installed)."""
    weights = info.classifier
    if weights is None or info.kind != "image":
        return None
    try:
        from ..metrics.classifier import load_classifier, weights_path
    except ImportError:
        return None
    if not weights_path(weights).is_file():
        return None
    net = load_classifier(weights)

    @torch.no_grad()
    def classify(x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        flat = x.float().reshape(n * c, 1, *x.shape[2:])                 # each channel is one digit
        if flat.shape[-1] != 28:
            flat = F.interpolate(flat, size=(28, 28), mode="bilinear", antialias=True, align_corners=False)
        ids = torch.cat([net(part).argmax(1) for part in flat.split(512)]).view(n, c)
        return ids[:, 0] if c == 1 else ids[:, 0] * 100 + ids[:, 1] * 10 + ids[:, 2]
    return classify


class Diversity:
    """Spread and coverage of G's samples from fixed noise, relative to a fixed real batch."""

    def __init__(self, ctx: TrainingContext, n: int):
        data, info = ctx.data, dataset_info(ctx.cfg.data)
        gen = torch.Generator().manual_seed(SEED)
        if info.kind == "image":
            idx = torch.randperm(len(data), generator=gen)[:n]
            self.real = data.batch(idx)                                   # (n, C, H, W) in [-1, 1]
        else:
            self.real = data.sample(n, gen).float()                       # (n, D)
        self.n = len(self.real)
        self.z = ctx.noise(self.n, torch.Generator(ctx.device).manual_seed(SEED))
        self.modes = getattr(data, "modes", None)
        self.mode_std = float(getattr(data, "mode_std", 0.0) or 0.0)
        self.classify = _classifier(info)
        self.real_spread = mean_pairwise_distance(self._features(self.real))
        self.real_covered = self._covered(self.real)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4 and x.shape[-1] > 16:
            x = F.avg_pool2d(x, 2)  # (N, C, H/2, W/2): pixel distances, less sensitive to one-pixel shifts
        return x.flatten(1)

    def _covered(self, x: torch.Tensor) -> Optional[int]:
        """Modes (2-D mixtures), classes or digit triples holding at least a quarter of their fair share of x."""
        if self.modes is not None and self.mode_std > 0 and x.dim() == 2:
            # nearest mode, however far: this measures how samples spread over the modes (collapse), not
            # how close they sit to them (quality, which the evaluation's high-quality share measures)
            ids, k = torch.cdist(x.double(), self.modes.double()).argmin(1), len(self.modes)
        elif self.classify is not None and x.dim() == 4:
            ids = self.classify(x)
            k = 1000 if x.shape[1] == 3 else 10
        else:
            return None
        counts = torch.bincount(ids, minlength=k)
        if k == 1000:  # a few hundred samples cannot fill 1 000 modes: count triples seen at all
            return int((counts > 0).sum())
        return int((counts >= max(1.0, len(x) / k / 4)).sum())

    @torch.no_grad()
    def measure(self, ctx: TrainingContext) -> Dict[str, float]:
        """{"spread": ratio to real, "coverage": ratio to real (when known), "covered", "real_covered"}."""
        x = ctx.generate(self.n, z=self.z, ema=False)
        if not torch.isfinite(x).all():
            return {"spread": float("nan")}
        out = {"spread": mean_pairwise_distance(self._features(x)) / max(self.real_spread, 1e-12)}
        covered = self._covered(x)
        if covered is not None and self.real_covered:
            out.update(coverage=covered / self.real_covered, covered=covered, real_covered=self.real_covered)
        return out


def grad_norms(ctx: TrainingContext) -> Dict[str, float]:
    """L2 norms of the gradients G and D received in their last update (NaN/inf when they were)."""
    out = {}
    for key, model in (("grad_g", ctx.G), ("grad_d", ctx.D)):
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        if grads:
            out[key] = float(torch.stack(torch._foreach_norm(grads)).float().norm())
    return out


def finite(*modules: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for m in modules for p in m.parameters())
