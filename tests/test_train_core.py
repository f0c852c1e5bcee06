"""The training core's arithmetic, each against a reference computed apart from it: the EMA of G and its ramp-up,
Keras' time-based learning-rate decay, gradient clipping by value, RMSprop, k D steps per G step, skip-D, and the
real+fake concatenation in one D forward."""
from __future__ import annotations

import copy

import pytest
import torch
from conftest import TINY
from torch import nn

from gankit.api import resolve_config
from gankit.config import RunConfig, TrainConfig
from gankit.models import build_models
from gankit.train.builder import build
from gankit.train.ema import EMA
from gankit.train.gan_loss import GANLoss
from gankit.train.optim import make_optimizer
from gankit.train.trainer import Trainer

CPU = torch.device("cpu")
SMALL = TINY + ["train.threads=1", "train.batch_size=16", "model.g_hidden=[16]", "model.d_hidden=[16]",
                "model.latent_dim=8", "log.every=1"]


def make_trainer(tiny_mnist, tmp_path, *extra, preset="mnist-mlp"):
    cfg = resolve_config(preset, SMALL + [f"data.root={tiny_mnist}", *extra])
    return Trainer(cfg, tmp_path / "run", hooks=[], verbose=False)


def params(module):
    return [p.detach().clone() for p in module.parameters()]


def state_copy(module):
    return copy.deepcopy(module.state_dict())


def assert_state_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# ---- EMA ----------------------------------------------------------------------------------------------------

def _net():
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def test_ema_towards_fixed_weights_follows_the_closed_form():
    """With G's weights held at w1 from a start w0, k updates give beta^k w0 + (1 - beta^k) w1, where
    beta = 0.5 ** (batch / (kimg * 1000)); after kimg*1000/batch updates the EMA is exactly half way."""
    G = _net()
    ema = EMA(G, kimg=0.16, batch_size=16)           # half-life 160 images = 10 updates
    w0 = params(G)
    with torch.no_grad():
        for i, p in enumerate(G.parameters()):
            p.add_(torch.linspace(-1, 2, p.numel()).reshape(p.shape) + i)
    w1 = params(G)
    beta = 0.5 ** (16 / 160)
    for k in range(1, 11):
        ema.update(G, images_seen=16 * k)
        for e, a, b in zip(ema.model.parameters(), w0, w1):
            assert torch.allclose(e, beta ** k * a + (1 - beta ** k) * b, atol=1e-6), k
    for e, a, b in zip(ema.model.parameters(), w0, w1):  # the half-life: 10 updates of 16 images = 0.16 kimg
        assert torch.allclose(e, (a + b) / 2, atol=1e-6)


def test_ema_of_changing_weights_is_the_recursive_average():
    G = _net()
    ema = EMA(G, kimg=0.05, batch_size=8)
    beta = 0.5 ** (8 / 50)
    ref = [p.double() for p in params(G)]
    gen = torch.Generator().manual_seed(3)
    for k in range(5):
        with torch.no_grad():
            for p in G.parameters():
                p.add_(torch.randn(p.shape, generator=gen))
        ema.update(G, images_seen=8 * (k + 1))
        ref = [beta * r + (1 - beta) * p.detach().double() for r, p in zip(ref, G.parameters())]
    for e, r in zip(ema.model.parameters(), ref):
        assert torch.allclose(e.double(), r, atol=1e-6)


def test_ema_copies_buffers_instead_of_averaging_them():
    G = _net()
    ema = EMA(G, kimg=10, batch_size=4)
    G.train()
    G(torch.randn(32, 3) * 3 + 1)                     # moves BatchNorm's running statistics
    assert not torch.equal(G[1].running_mean, ema.model[1].running_mean)
    ema.update(G, images_seen=4)
    for eb, gb in zip(ema.model.buffers(), G.buffers()):
        assert torch.equal(eb, gb)


@pytest.mark.parametrize("images_seen", [16, 640, 6400, 10 ** 6])
def test_ema_rampup_shortens_the_horizon_early(images_seen):
    """StyleGAN2-ADA's ramp-up: horizon = min(kimg * 1000, images_seen * rampup) images."""
    G = _net()
    kimg, batch, rampup = 2.0, 16, 0.5
    ema = EMA(G, kimg=kimg, batch_size=batch, rampup=rampup)
    horizon = min(kimg * 1000, images_seen * rampup)
    beta = 0.5 ** (batch / horizon)
    assert ema.beta(images_seen) == pytest.approx(beta, rel=1e-12)
    if images_seen * rampup >= kimg * 1000:           # late: the ramp no longer matters
        assert ema.beta(images_seen) == pytest.approx(EMA(G, kimg, batch).beta(images_seen), rel=1e-12)
    w0 = params(G)
    with torch.no_grad():
        for p in G.parameters():
            p.add_(1.0)
    ema.update(G, images_seen)
    for e, a, b in zip(ema.model.parameters(), w0, G.parameters()):
        assert torch.allclose(e, beta * a + (1 - beta) * b.detach(), atol=1e-6)


def test_trainer_updates_the_ema_after_each_g_step_with_the_images_seen(tiny_mnist, tmp_path):
    """Step s averages G's new weights in with beta(s * batch): here horizon min(50, 0.5 * 16 s)."""
    t = make_trainer(tiny_mnist, tmp_path, "train.ema=0.05", "train.ema_warmup=0.5", "model.g_batchnorm=true")
    ref = [p.double() for p in params(t.G)]           # the EMA starts as a copy of G
    for s in (1, 2, 3):
        t.train_step()
        beta = 0.5 ** (16 / min(50.0, 0.5 * 16 * s))
        ref = [beta * r + (1 - beta) * p.detach().double() for r, p in zip(ref, t.G.parameters())]
        for e, r in zip(t.ema.model.parameters(), ref):
            assert torch.allclose(e.double(), r, atol=1e-6), s
    bufs = list(t.G.buffers())
    assert bufs and all(torch.equal(e, g) for e, g in zip(t.ema.model.buffers(), bufs))


# ---- learning rates, clipping, optimizers -------------------------------------------------------------------

def _record_lrs(opt):
    seen = []
    opt.register_step_pre_hook(lambda o, args, kwargs: seen.append(o.param_groups[0]["lr"]))
    return seen


def test_time_based_lr_decay_for_both_networks(tiny_mnist, tmp_path):
    """Keras' decay: the u-th update (u = 0, 1, ...) of each optimizer uses lr / (1 + decay * u); with 2 D steps
    per G step D's optimizer counts twice as many updates."""
    decay, lr_d, lr_g, steps = 0.25, 1e-3, 2e-3, 3
    t = make_trainer(tiny_mnist, tmp_path, f"train.lr_decay={decay}", "train.d_steps=2", f"train.lr_d={lr_d}",
                     f"train.lr_g={lr_g}")
    used_d, used_g = _record_lrs(t.parts.opt_d), _record_lrs(t.parts.opt_g)
    for _ in range(steps):
        t.train_step()
    assert used_d == pytest.approx([lr_d / (1 + decay * u) for u in range(2 * steps)], rel=1e-12)
    assert used_g == pytest.approx([lr_g / (1 + decay * u) for u in range(steps)], rel=1e-12)
    assert t.parts.opt_d.param_groups[0]["lr"] == pytest.approx(lr_d / (1 + decay * 2 * steps), rel=1e-12)
    assert t.parts.opt_g.param_groups[0]["lr"] == pytest.approx(lr_g / (1 + decay * steps), rel=1e-12)


def test_without_decay_the_lr_stays(tiny_mnist, tmp_path):
    t = make_trainer(tiny_mnist, tmp_path, "train.lr_d=3e-4")
    assert t.parts.sched_d is None and t.parts.sched_g is None
    for _ in range(2):
        t.train_step()
    assert t.parts.opt_d.param_groups[0]["lr"] == 3e-4


def test_clip_value_clips_every_gradient_element_before_the_step(tiny_mnist, tmp_path):
    """The gradient each optimizer steps with is the back-propagated one clamped to [-c, c]."""
    c = 1e-3
    t = make_trainer(tiny_mnist, tmp_path, f"train.clip_value={c}")
    raw, at_step = {}, {}
    for name, net in (("D", t.D), ("G", t.G)):
        for i, p in enumerate(net.parameters()):  # the gradient as back-propagated, before any clipping
            p.register_hook(lambda g, key=(name, i): raw.__setitem__(key, g.detach().clone()))
    for name, net, opt in (("D", t.D, t.parts.opt_d), ("G", t.G, t.parts.opt_g)):
        opt.register_step_pre_hook(
            lambda o, a, k, name=name, net=net: at_step.__setitem__(name, [p.grad.clone() for p in net.parameters()]))
    t.train_step()
    for name, net in (("D", t.D), ("G", t.G)):
        grads = at_step[name]
        assert len(grads) == len(list(net.parameters()))
        for i, g in enumerate(grads):
            assert torch.equal(g, raw[(name, i)].clamp(-c, c)), (name, i)
        assert any((raw[(name, i)].abs() > c).any() for i in range(len(grads))), "nothing was large enough to clip"


def test_without_clip_value_gradients_are_untouched(tiny_mnist, tmp_path):
    t = make_trainer(tiny_mnist, tmp_path)
    raw, at_step = {}, {}
    for i, p in enumerate(t.D.parameters()):
        p.register_hook(lambda g, i=i: raw.__setitem__(i, g.detach().clone()))
    t.parts.opt_d.register_step_pre_hook(lambda o, a, k: at_step.update(enumerate(p.grad.clone() for p in t.D.parameters())))
    t.train_step()
    assert all(torch.equal(at_step[i], raw[i]) for i in raw)
    assert any((g.abs() > 1e-3).any() for g in raw.values())


def test_keras_frog_preset_builds_rmsprop_with_keras_settings():
    """Lesson 004: RMSprop(lr=4e-4, rho=0.9, epsilon=1e-7 (Keras' default), clipvalue=1.0, decay=1e-8)."""
    cfg = resolve_config("cifar10-frog-dcgan")
    parts = build(cfg, (3, 32, 32), CPU)
    for opt, sched in ((parts.opt_d, parts.sched_d), (parts.opt_g, parts.sched_g)):
        assert type(opt) is torch.optim.RMSprop
        g = opt.param_groups[0]
        assert (g["lr"], g["alpha"], g["eps"], g["momentum"], g["centered"]) == (4e-4, 0.9, 1e-7, 0, False)
        assert sched is not None  # decay=1e-8
    assert cfg.train.clip_value == 1.0


def test_rmsprop_steps_like_keras():
    """v = rho v + (1 - rho) g^2;  w -= lr g / (sqrt(v) + eps): two steps by hand, float64."""
    rho, eps, lr = 0.9, 1e-7, 0.1
    w = nn.Parameter(torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64))
    opt = make_optimizer([w], TrainConfig(optimizer="rmsprop", rms_alpha=rho, eps=eps), lr)
    ref, v = w.detach().clone(), torch.zeros(3, dtype=torch.float64)
    for g in (torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64), torch.tensor([-0.3, 0.1, 4.0], dtype=torch.float64)):
        w.grad = g.clone()
        opt.step()
        v = rho * v + (1 - rho) * g * g
        ref = ref - lr * g / (v.sqrt() + eps)
        assert torch.allclose(w.detach(), ref, rtol=0, atol=1e-12)


def test_adam_gets_the_configured_betas_and_eps(tiny_mnist, tmp_path):
    t = make_trainer(tiny_mnist, tmp_path, "train.beta1=0.5", "train.beta2=0.99", "train.eps=1e-6")
    for opt in (t.parts.opt_d, t.parts.opt_g):
        assert type(opt) is torch.optim.Adam
        assert opt.param_groups[0]["betas"] == (0.5, 0.99) and opt.param_groups[0]["eps"] == 1e-6


# ---- the order of the steps ---------------------------------------------------------------------------------

def _adam_steps(opt):
    return {int(s["step"]) for s in opt.state.values()}


def test_d_steps_updates_d_k_times_and_reads_k_batches(tiny_mnist, tmp_path):
    k, steps = 3, 2
    t = make_trainer(tiny_mnist, tmp_path, f"train.d_steps={k}")
    for _ in range(steps):
        t.train_step()
    assert t.step == steps and t.d_updates == k * steps
    assert _adam_steps(t.parts.opt_d) == {k * steps} and _adam_steps(t.parts.opt_g) == {steps}
    # 64 images in batches of 16: k * steps = 6 batches are 1.5 passes, so the position is 2 batches into a pass
    per_pass = 64 // 16
    assert t.pos == ((k * steps - 1) % per_pass + 1) * 16
    assert t.steps_per_epoch == per_pass // k
    # the same data order as a run with one D step per G step after k * steps steps
    one = make_trainer(tiny_mnist, tmp_path / "one")
    for _ in range(k * steps):
        one.train_step()
    assert one.pos == t.pos and torch.equal(one.perm, t.perm)


def test_d_skip_below_holds_d_back_inside_the_trainer(tiny_mnist, tmp_path):
    t = make_trainer(tiny_mnist, tmp_path, "train.d_skip_below=1e9")  # above any BCE loss of a step
    d0, g0 = state_copy(t.D), state_copy(t.G)
    for _ in range(2):
        t.train_step()
    assert_state_equal(state_copy(t.D), d0)
    assert t.d_updates == 0 and len(t.parts.opt_d.state) == 0
    assert any(not torch.equal(v, g0[k]) for k, v in t.G.state_dict().items())  # G still trains
    stats = t.flush_stats()
    assert stats["d_skipped"] == 1.0 and stats["loss_d"] < 1e9


def test_d_skip_below_zero_never_skips(tiny_mnist, tmp_path):
    t = make_trainer(tiny_mnist, tmp_path, "train.d_skip_below=0")
    d0 = state_copy(t.D)
    for _ in range(2):
        t.train_step()
    assert all(not torch.equal(v, d0[k]) for k, v in t.D.state_dict().items())
    assert t.d_updates == 2 and t.flush_stats().get("d_skipped", 0.0) == 0.0


# ---- one D forward over real and fake -----------------------------------------------------------------------

def _loss_for(model, shape, **model_opts):
    cfg = RunConfig()
    cfg.model.name, cfg.model.latent_dim = model, 8
    for k, v in model_opts.items():
        setattr(cfg.model, k, v)
    torch.manual_seed(0)
    G, D = build_models(cfg.model, shape)
    return GANLoss(cfg, G, D, device=CPU), G, D


@pytest.mark.parametrize("model,shape,opts", [
    ("mlp", (1, 28, 28), {"g_hidden": [16], "d_hidden": [32, 16], "d_dropout": 0.0}),
    ("resnet", (1, 28, 28), {"g_channels": 8, "d_channels": 8}),
    ("toy-mlp", (2,), {"g_hidden": [16], "d_hidden": [16]}),
])
def test_concatenated_d_forward_equals_separate_forwards(model, shape, opts):
    loss, G, D = _loss_for(model, shape, **opts)
    assert loss.concat  # no BatchNorm in these Ds: one forward over both
    real = torch.rand(6, *shape) * 2 - 1
    with torch.no_grad():
        fake = G(torch.randn(6, 8))
        lr_cat, lf_cat = loss.d_logits(real, fake)
        loss.concat = False
        lr_sep, lf_sep = loss.d_logits(real, fake)
    assert lr_cat.shape == lf_cat.shape == (6,)
    assert torch.allclose(lr_cat, lr_sep, atol=1e-6, rtol=1e-5) and torch.allclose(lf_cat, lf_sep, atol=1e-6, rtol=1e-5)
    assert not torch.allclose(lr_cat, lf_cat)  # and the two halves are not mixed up
    assert torch.allclose(lr_cat, D(real), atol=1e-6, rtol=1e-5)


class BatchNormD(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.LeakyReLU(0.2), nn.Linear(8, 1))

    def forward(self, x):
        return self.main(x).squeeze(1)


@pytest.mark.parametrize("which", ["mbstd", "batchnorm"])
def test_a_batch_dependent_d_gets_separate_forwards(which):
    """Minibatch stddev or BatchNorm in D mixes the batch: one forward over real+fake would give other logits,
    so the loss keeps them apart."""
    if which == "mbstd":
        loss, G, D = _loss_for("dcgan", (1, 16, 16), g_channels=8, d_channels=8, mbstd=True)
        shape = (1, 16, 16)
    else:
        cfg = RunConfig()
        cfg.model.latent_dim = 8
        torch.manual_seed(0)
        G, D = nn.Sequential(nn.Linear(8, 2)), BatchNormD()
        loss, shape = GANLoss(cfg, G, D, device=CPU), (2,)
    assert not loss.concat
    real = torch.rand(6, *shape) * 2 - 1
    with torch.no_grad():
        fake = G(torch.randn(6, 8))
        sep = loss.d_logits(real, fake)
        joint = D(torch.cat([real, fake])).chunk(2)
        alone = D(real), D(fake)
    assert torch.allclose(sep[0], alone[0], atol=1e-6) and torch.allclose(sep[1], alone[1], atol=1e-6)
    assert not torch.allclose(sep[0], joint[0], rtol=1e-3, atol=0), (sep[0], joint[0])
