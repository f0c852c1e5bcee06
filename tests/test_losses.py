"""Losses on constructed logits (values and gradient signs), and R1 / gradient penalty against hand-derived
gradients."""
import math

import pytest
import torch
from torch import nn

from gankit.train.losses import LOSSES, gradient_penalty, r1_penalty

ALL = ["bce", "nonsaturating", "minimax", "hinge", "wgan", "lsgan"]


def grads(fn, *xs):
    xs = [x.clone().requires_grad_(True) for x in xs]
    fn(*xs).backward()
    return [x.grad for x in xs]


def softplus(v):
    return math.log1p(math.exp(v))


@pytest.mark.parametrize("name,real,fake,d_value", [
    ("bce", 2.0, -1.0, softplus(-2.0) + softplus(-1.0)),          # -log s(2) - log(1 - s(-1))
    ("nonsaturating", 0.0, 0.0, 2 * math.log(2)),
    ("minimax", 3.0, 3.0, softplus(-3.0) + softplus(3.0)),
    ("hinge", 0.5, -0.25, 0.5 + 0.75),                              # relu(1 - 0.5) + relu(1 - 0.25)
    ("hinge", 2.0, -3.0, 0.0),                                      # both beyond the margin
    ("wgan", 2.0, -1.0, -3.0),                                      # fake - real
    ("lsgan", 0.0, 1.0, 0.5 + 0.5),                                 # (0-1)^2/2 + 1^2/2
])
def test_d_loss_values(name, real, fake, d_value):
    loss = LOSSES.get(name)
    got = float(loss.d(torch.tensor([real]), torch.tensor([fake]), None, None))
    assert got == pytest.approx(d_value, abs=1e-6)


@pytest.mark.parametrize("name,fake,g_value", [
    ("bce", -1.0, softplus(1.0)),                 # -log s(-1)
    ("nonsaturating", 2.0, softplus(-2.0)),
    ("minimax", 0.0, -math.log(2)),               # log(1 - s(0))
    ("hinge", 1.5, -1.5),
    ("wgan", -2.0, 2.0),
    ("lsgan", 3.0, 2.0),                          # (3-1)^2/2
])
def test_g_loss_values(name, fake, g_value):
    assert float(LOSSES.get(name).g(torch.tensor([fake]))) == pytest.approx(g_value, abs=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_gradient_signs(name):
    """D's loss falls as real logits rise and fake logits fall; G's loss falls as fake logits rise."""
    loss = LOSSES.get(name)
    real, fake = torch.tensor([0.3, -0.2]), torch.tensor([0.1, 0.4])  # inside every margin (LSGAN: 0 < fake, real < 1)
    g_real, g_fake = grads(lambda r, f: loss.d(r, f, None, None), real, fake)
    assert (g_real < 0).all() and (g_fake > 0).all()
    (g_gen,) = grads(loss.g, fake)
    assert (g_gen < 0).all()


def test_minimax_saturates_where_nonsaturating_does_not():
    """Goodfellow 2014's reason for the non-saturating G loss: when D rejects fakes (logit -10), log(1 - D)
    gives G almost no gradient, -log D gives nearly a full one."""
    fake = torch.tensor([-10.0])
    (g_mm,) = grads(LOSSES.get("minimax").g, fake)
    (g_ns,) = grads(LOSSES.get("nonsaturating").g, fake)
    assert abs(float(g_mm)) < 1e-4 and abs(float(g_ns)) > 0.99


def test_hinge_has_no_gradient_beyond_the_margin():
    g_real, g_fake = grads(lambda r, f: LOSSES.get("hinge").d(r, f, None, None), torch.tensor([1.5]),
                           torch.tensor([-1.5]))
    assert float(g_real) == 0 and float(g_fake) == 0


def test_bce_targets_smooth_the_optimum():
    """With real targets 0.9 (one-sided label smoothing) D's loss is smallest at D(real) = 0.9, not 1."""
    loss = LOSSES.get("bce")
    t = torch.tensor([0.9])
    at = lambda p: float(loss.d(torch.logit(torch.tensor([p])), torch.tensor([-20.0]), t, None))  # noqa: E731
    assert at(0.9) < at(0.99) and at(0.9) < at(0.8)


class Linear(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.as_tensor(w, dtype=torch.float64))

    def forward(self, x):
        return x.flatten(1) @ self.w


class Quadratic(nn.Module):
    """D(x) = 0.5 * a * ||x||^2, so grad_x D = a * x."""

    def __init__(self, a=1.0):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a, dtype=torch.float64))

    def forward(self, x):
        return 0.5 * self.a * x.flatten(1).pow(2).sum(1)


def test_r1_matches_hand_gradient():
    x = torch.randn(6, 3, dtype=torch.float64)
    D = Quadratic(a=2.0)
    by_hand = (2.0 * x).pow(2).sum(1).mean()                # E ||a x||^2
    assert float(r1_penalty(D, x).detach()) == pytest.approx(float(by_hand), rel=1e-10)
    w = torch.tensor([3.0, -4.0], dtype=torch.float64)
    assert float(r1_penalty(Linear(w), torch.randn(5, 2, dtype=torch.float64)).detach()) == pytest.approx(25.0)


def test_r1_is_differentiable_in_d_weights():
    """R1 = E||a x||^2 = a^2 E||x||^2, so dR1/da = 2 a E||x||^2: the penalty trains D."""
    x = torch.randn(4, 5, dtype=torch.float64)
    D = Quadratic(a=0.7)
    r1_penalty(D, x).backward()
    assert float(D.a.grad) == pytest.approx(2 * 0.7 * float(x.pow(2).sum(1).mean()), rel=1e-10)


def test_gradient_penalty_matches_hand_gradient():
    real = torch.randn(8, 2, dtype=torch.float64)
    fake = torch.randn(8, 2, dtype=torch.float64)
    w = torch.tensor([0.6, 0.8], dtype=torch.float64)      # ||w|| = 1: a 1-Lipschitz linear critic, GP = 0
    assert float(gradient_penalty(Linear(w), real, fake).detach()) == pytest.approx(0.0, abs=1e-12)
    assert float(gradient_penalty(Linear(3 * w), real, fake).detach()) == pytest.approx(4.0)  # (3 - 1)^2
    # Quadratic critic: grad at x_hat = x_hat; the interpolation weights come from the same seeded generator.
    eps = torch.rand(8, 1, generator=torch.Generator().manual_seed(5)).double()
    x_hat = eps * real + (1 - eps) * fake
    by_hand = (x_hat.norm(dim=1) - 1).pow(2).mean()
    got = gradient_penalty(Quadratic(1.0), real, fake, generator=torch.Generator().manual_seed(5))
    assert float(got.detach()) == pytest.approx(float(by_hand), rel=1e-10)


def test_every_registered_loss_is_tested():
    """ALL drives the value and gradient-sign tests above: a loss registered but missing from it fails here."""
    assert sorted(LOSSES.names()) == sorted(ALL)
