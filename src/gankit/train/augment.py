"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

D sees augmented real *and* augmented fake images, each sample with its own random draw, by the same policy.
Every operation is differentiable in its input, so G's gradient flows back through the augmentation in the G
step; that is what keeps the augmentations from leaking into the generated images (the paper's point: augment
reals only and G learns to make augmented images).

Policies are comma-separated names: ``color`` (brightness, saturation, contrast), ``translation`` (shift by up
to 1/8 of the size, zero padding) and ``cutout`` (a zero square of half the size). The paper uses
``color,translation,cutout`` for small data sets and ``translation,cutout`` on CIFAR-10 at 100%.

Randomness comes from torch's global generator, which checkpoints save and restore, so a resumed run draws
the same augmentations.

Example:
    >>> x = torch.rand(8, 3, 32, 32) * 2 - 1
    >>> diff_augment(x, "color,translation,cutout").shape
    torch.Size([8, 3, 32, 32])
"""
from __future__ import annotations

from typing import Callable, List

import torch

from ..errors import GankitError
from ..registry import Expects, Registry

T = torch.Tensor
AUGMENTS = Registry("DiffAugment policy", expects=Expects(
    lambda o: isinstance(o, list) and bool(o) and all(map(callable, o)), "a non-empty list of functions"))


def _uniform(x: T) -> T:
    """One U(0, 1) draw per sample, shaped to broadcast over (C, H, W): (B, 1, 1, 1)."""
    return torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device)


def brightness(x: T) -> T:
    """Add U(-0.5, 0.5) to every pixel of a sample."""
    return x + (_uniform(x) - 0.5)


def saturation(x: T) -> T:
    """Scale each pixel's deviation from its channel mean by U(0, 2) (no-op on 1-channel images)."""
    mean = x.mean(dim=1, keepdim=True)           # (B, 1, H, W)
    return (x - mean) * (_uniform(x) * 2) + mean


def contrast(x: T) -> T:
    """Scale each sample's deviation from its overall mean by U(0.5, 1.5)."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)   # (B, 1, 1, 1)
    return (x - mean) * (_uniform(x) + 0.5) + mean


def translation(x: T, ratio: float = 0.125) -> T:
    """Shift each sample by an integer offset in [-ratio*H, ratio*H] x [-ratio*W, ratio*W]; zeros move in."""
    b, c, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device)
    dx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device)
    # Rows/columns of the zero-padded image (pad 1) each output pixel reads; index 0 / h+1 are the zero border.
    rows = (torch.arange(h, device=x.device).view(1, h, 1) + dy + 1).clamp(0, h + 1)   # (B, H, 1)
    cols = (torch.arange(w, device=x.device).view(1, 1, w) + dx + 1).clamp(0, w + 1)   # (B, 1, W)
    padded = torch.nn.functional.pad(x, [1, 1, 1, 1])                                   # (B, C, H+2, W+2)
    flat = (rows * (w + 2) + cols).reshape(b, 1, h * w).expand(b, c, h * w)            # (B, C, H*W)
    return padded.flatten(2).gather(2, flat).view(b, c, h, w)


def cutout(x: T, ratio: float = 0.5) -> T:
    """Zero a (ratio*H, ratio*W) rectangle centred at a random place in each sample (it may cross the edge)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    y0, x0 = cy - ch // 2, cx - cw // 2                                                # (B, 1, 1) corners
    inside = (ys >= y0) & (ys < y0 + ch) & (xs >= x0) & (xs < x0 + cw)                 # (B, H, W)
    return x * (~inside).unsqueeze(1).to(x.dtype)


AUGMENTS.register("color")([brightness, saturation, contrast])
AUGMENTS.register("translation")([translation])
AUGMENTS.register("cutout")([cutout])


def parse_policy(policy: str) -> List[Callable[[T], T]]:
    """'color,translation' -> the list of operations, in order; an unknown name gets a did-you-mean."""
    ops: List[Callable[[T], T]] = []
    for name in (p.strip() for p in policy.split(",")):
        if name:
            ops += AUGMENTS.get(name)
    return ops


def diff_augment(x: T, policy: str) -> T:
    """Apply a DiffAugment policy to images (B, C, H, W); each sample gets its own random draw."""
    if not policy:
        return x
    if x.dim() != 4:
        raise GankitError(f"train.augment (DiffAugment) works on images (B, C, H, W); this data has shape "
                          f"{tuple(x.shape[1:])} — remove train.augment for vector data")
    for op in parse_policy(policy):
        x = op(x)
    return x.contiguous()


class AdaptiveAugment:
    """ADA (Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data"): each operation
    of the policy applies to each image with probability ``p``, and ``p`` follows the overfitting heuristic
    r_t = E[sign(D(real))]: every ``interval`` D steps, p moves by sign(r_t - target) * (images in those steps)
    / (kimg * 1000), so it can go from 0 to 1 in ``kimg`` thousand images (the paper's target 0.6, 500 kimg).

    p, and the signs gathered since its last update, are part of the loss object's state in every checkpoint,
    so a resumed run continues with the p it had.

    Example:
        >>> ada = AdaptiveAugment("translation,color", target=0.6, kimg=500, interval=4, batch_size=32)
        >>> x = ada(x)                    # (B, C, H, W): each op on a random share p of the images
        >>> ada.observe(real_logits)      # after each D step; p moves every `interval` calls
    """

    def __init__(self, policy: str, target: float, kimg: float, interval: int, batch_size: int):
        self.policy, self.ops = policy, parse_policy(policy)
        self.target, self.kimg, self.interval, self.batch_size = target, kimg, max(1, interval), batch_size
        self.p = 0.0
        self.signs, self.count, self.calls = 0.0, 0, 0

    def set_policy(self, policy: str, target: float) -> None:
        """A live change of the operations or the target; p and the gathered signs carry on."""
        self.policy, self.ops, self.target = policy, parse_policy(policy), target

    def __call__(self, x: T) -> T:
        if self.p <= 0 or not self.ops:
            return x
        if x.dim() != 4:
            raise GankitError("train.ada_target (adaptive augmentation) works on images (B, C, H, W); set it to 0")
        for op in self.ops:
            apply = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < self.p   # (B, 1, 1, 1) which images
            x = torch.where(apply, op(x), x)
        return x.contiguous()

    def observe(self, real_logits: T, reduce=None) -> None:
        """Gather sign(D(real)); every ``interval`` calls, update p (``reduce`` sums over ranks under torchrun)."""
        self.signs += float(torch.sign(real_logits.detach().float()).sum())
        self.count += int(real_logits.numel())
        self.calls += 1
        if self.calls % self.interval:
            return
        signs, count = (self.signs, self.count) if reduce is None else reduce(self.signs, self.count)
        r_t = signs / max(count, 1)
        step = self.batch_size * self.interval / (self.kimg * 1000)
        self.p = min(1.0, max(0.0, self.p + (step if r_t > self.target else -step if r_t < self.target else 0.0)))
        self.signs, self.count = 0.0, 0

    @property
    def r_t(self) -> float:
        return self.signs / self.count if self.count else float("nan")

    def state_dict(self) -> dict:
        return {"p": self.p, "signs": self.signs, "count": self.count, "calls": self.calls}

    def load_state_dict(self, state: dict) -> None:
        self.p, self.signs = float(state.get("p", 0.0)), float(state.get("signs", 0.0))
        self.count, self.calls = int(state.get("count", 0)), int(state.get("calls", 0))


__all__ = ["AUGMENTS", "AdaptiveAugment", "diff_augment", "parse_policy", "brightness", "saturation", "contrast", "translation",
           "cutout"]
