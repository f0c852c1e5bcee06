"""Adversarial losses as functions of D's logits, and regularisers as separate terms.

Each loss has ``d(real_logits, fake_logits, real_target, fake_target)`` and ``g(fake_logits)``. Targets
(label smoothing, noise, flipping) only mean something for the BCE family; the others ignore them.

Example:
    >>> loss = LOSSES.get("hinge")
    >>> float(loss.d(torch.tensor([2.0]), torch.tensor([-2.0]), None, None))
    0.0
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from ..registry import Registry, subclass_of

T = torch.Tensor


class Loss:
    uses_targets = False

    @staticmethod
    def d(real: T, fake: T, t_real: Optional[T], t_fake: Optional[T]) -> T:
        raise NotImplementedError

    @staticmethod
    def g(fake: T) -> T:
        raise NotImplementedError


LOSSES = Registry("loss", expects=subclass_of(Loss))


@LOSSES.register("bce")
class BCE(Loss):
    """The lessons' loss (Goodfellow 2014, non-saturating G): D minimises BCE(real, 1) + BCE(fake, 0),
    G minimises BCE(D(G(z)), 1). BCE on logits equals the lessons' Sigmoid + BCELoss."""
    uses_targets = True

    @staticmethod
    def d(real, fake, t_real, t_fake):
        t_real = torch.ones_like(real) if t_real is None else t_real
        t_fake = torch.zeros_like(fake) if t_fake is None else t_fake
        return F.binary_cross_entropy_with_logits(real, t_real) + F.binary_cross_entropy_with_logits(fake, t_fake)

    @staticmethod
    def g(fake):
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))


@LOSSES.register("nonsaturating")
class NonSaturating(BCE):
    """Alias of bce under its name in the literature."""


@LOSSES.register("minimax")
class Minimax(BCE):
    """The original saturating objective: G minimises log(1 - D(G(z))) = -softplus(logit)."""

    @staticmethod
    def g(fake):
        return -F.softplus(fake).mean()


@LOSSES.register("hinge")
class Hinge(Loss):
    """Hinge loss (Lim & Ye 2017; SNGAN): D: relu(1 - real) + relu(1 + fake); G: -fake."""

    @staticmethod
    def d(real, fake, t_real, t_fake):
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()

    @staticmethod
    def g(fake):
        return -fake.mean()


@LOSSES.register("wgan")
class Wasserstein(Loss):
    """Wasserstein critic loss (Arjovsky 2017); pair with a gradient penalty (loss.gp=10, Gulrajani 2017)."""

    @staticmethod
    def d(real, fake, t_real, t_fake):
        return fake.mean() - real.mean()

    @staticmethod
    def g(fake):
        return -fake.mean()


@LOSSES.register("lsgan")
class LeastSquares(Loss):
    """Least squares GAN (Mao 2017), targets a=0, b=c=1: D: (real-1)^2/2 + fake^2/2; G: (fake-1)^2/2."""
    uses_targets = True

    @staticmethod
    def d(real, fake, t_real, t_fake):
        t_real = torch.ones_like(real) if t_real is None else t_real
        t_fake = torch.zeros_like(fake) if t_fake is None else t_fake
        return 0.5 * ((real - t_real) ** 2).mean() + 0.5 * ((fake - t_fake) ** 2).mean()

    @staticmethod
    def g(fake):
        return 0.5 * ((fake - 1) ** 2).mean()


def _leaves(x) -> list:
    """Tensors that need an input gradient: one batch, or every scale of a pyramid."""
    return [v.detach().requires_grad_(True) for v in x] if isinstance(x, (list, tuple)) else x.detach().requires_grad_(True)


def _sq_norm(grads) -> T:
    """Per-sample squared L2 norm of the gradient with respect to all of D's inputs (B,)."""
    grads = grads if isinstance(grads, (list, tuple)) else [grads]
    total = grads[0].pow(2).flatten(1).sum(1)
    for g in grads[1:]:
        total = total + g.pow(2).flatten(1).sum(1)
    return total


def r1_penalty(D, real) -> T:
    """R1 (Mescheder et al. 2018): E ||grad_x D(x)||^2 on real data; multiply by gamma/2. ``real`` is a batch
    or a multi-scale D's list of scales (the norm runs over all of them)."""
    real = _leaves(real)
    inputs = real if isinstance(real, list) else [real]
    grads = torch.autograd.grad(D(real).sum(), inputs, create_graph=True)
    return _sq_norm(list(grads)).mean()


def gradient_penalty(D, real, fake, generator: Optional[torch.Generator] = None) -> T:
    """WGAN-GP (Gulrajani et al. 2017): E (||grad D(x_hat)|| - 1)^2 at random interpolates x_hat (one mixing
    weight per sample, shared by every scale of a pyramid)."""
    ref = real[-1] if isinstance(real, (list, tuple)) else real
    eps = torch.rand((ref.shape[0],), device=ref.device, generator=generator)

    def mix(r: T, f: T) -> T:
        e = eps.view((-1,) + (1,) * (r.dim() - 1))
        return (e * r.detach() + (1 - e) * f.detach()).requires_grad_(True)

    x_hat = [mix(r, f) for r, f in zip(real, fake)] if isinstance(real, (list, tuple)) else mix(real, fake)
    if not isinstance(x_hat, list):
        (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
        return (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()
    grads = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
    return (_sq_norm(list(grads)).sqrt() - 1).pow(2).mean()
