"""Hooks (unique state keys, all_ranks on the hook) and the TrainingContext's named actions, on real training."""
from __future__ import annotations

import copy

import pytest
import torch
from conftest import TINY
from torch import nn

from gankit import api
from gankit.api import resolve_config
from gankit.errors import GankitError
from gankit.train.checkpoint import load
from gankit.train.context import LIVE_OPTIONS
from gankit.train.hooks import Hook
from gankit.train.trainer import Trainer

SMALL = TINY + ["train.threads=1", "train.batch_size=16", "model.g_hidden=[16]", "model.d_hidden=[16]",
                "model.latent_dim=8", "log.every=1", "train.diagnose=false"]


def make_trainer(tiny_mnist, tmp_path, *extra, hooks=()):
    cfg = resolve_config("mnist-mlp", SMALL + [f"data.root={tiny_mnist}", *extra])
    return Trainer(cfg, tmp_path / "run", hooks=list(hooks), verbose=False)


def steps(t, n):
    for _ in range(n):
        t.train_step()


# ---- hooks --------------------------------------------------------------------------------------------------

class Counter(Hook):
    """Counts the steps it sees whose number is a multiple of ``every``; the count is its checkpointed state."""

    def __init__(self, name="", every=1):
        self.name, self.every, self.count = name, every, 0

    def on_step(self, ctx, stats):
        self.count += ctx.step % self.every == 0

    def state_dict(self):
        return {"count": self.count}

    def load_state_dict(self, state):
        self.count = state.get("count", 0)


def test_two_hooks_with_one_name_are_refused(tiny_mnist, tmp_path):
    with pytest.raises(ValueError, match="Counter"):
        make_trainer(tiny_mnist, tmp_path, hooks=[Counter(), Counter()])
    with pytest.raises(ValueError, match="'same'"):
        make_trainer(tiny_mnist, tmp_path, hooks=[Counter("same"), Counter("same", every=2)])
    make_trainer(tiny_mnist, tmp_path, hooks=[Counter("a"), Counter("b")])  # different names are fine


def test_hooks_of_one_class_keep_their_own_states_across_a_resume(tiny_mnist, tmp_path):
    opts = SMALL + [f"data.root={tiny_mnist}", "checkpoint.every=100"]
    run = api.train("mnist-mlp", opts + ["train.steps=4"], out=str(tmp_path / "r"),
                    hooks=[Counter("all"), Counter("even", every=2)], verbose=False)
    saved = load(run / "checkpoints" / "latest.pt")["hooks"]
    assert saved["all"] == {"count": 4} and saved["even"] == {"count": 2}
    a, b = Counter("all"), Counter("even", every=2)
    api.train(str(run), ["train.steps=7"], resume=True, hooks=[a, b], verbose=False)
    assert (a.count, b.count) == (7, 3)  # steps 1..7; even steps 2, 4, 6
    saved = load(run / "checkpoints" / "latest.pt")["hooks"]
    assert saved["all"] == {"count": 7} and saved["even"] == {"count": 3}


def test_all_ranks_belongs_to_the_diagnose_hook_class():
    from gankit.diagnose import DiagnoseHook
    assert DiagnoseHook.__dict__.get("all_ranks") is True        # declared on the class itself
    assert Hook.all_ranks is False
    cfg = resolve_config("mnist-mlp", ["train.diagnose=true"])
    hooks = [h for h in api.default_hooks(cfg) if isinstance(h, DiagnoseHook)]
    assert len(hooks) == 1 and "all_ranks" not in vars(hooks[0])  # nothing sets it from outside


class RankProbe(Hook):
    def __init__(self, name, all_ranks):
        self.name, self.all_ranks = name, all_ranks


def test_only_all_ranks_hooks_run_off_the_main_rank(tiny_mnist, tmp_path):
    """The trainer keeps a hook on a rank other than 0 only when the hook itself says all_ranks. (A process that
    is not the main one, without a process group: only which hooks it keeps is looked at.)"""
    from gankit.train import distributed
    cfg = resolve_config("mnist-mlp", SMALL + [f"data.root={tiny_mnist}"])
    every, main_only = RankProbe("every", True), RankProbe("main", False)
    not_main = distributed.Dist(rank=1, world=1)
    assert not not_main.is_main and not not_main.enabled
    t = Trainer(cfg, tmp_path / "r", hooks=[every, main_only], verbose=False, dist=not_main)
    assert t.hooks == [every]
    t0 = Trainer(cfg, tmp_path / "r0", hooks=[every, main_only], verbose=False, dist=distributed.Dist())
    assert t0.hooks == [every, main_only]


# ---- TrainingContext actions --------------------------------------------------------------------------------

def test_set_lr_changes_the_optimizer_and_the_decay_continues_from_it(tiny_mnist, tmp_path):
    decay = 0.5
    t = make_trainer(tiny_mnist, tmp_path, f"train.lr_decay={decay}")
    ctx = t.context
    steps(t, 2)
    ctx.set_lr("d", 1e-3)
    ctx.set_lr("g", 4e-3)
    assert ctx.lr("d") == pytest.approx(1e-3) and t.parts.opt_d.param_groups[0]["lr"] == pytest.approx(1e-3)
    assert ctx.lr("g") == pytest.approx(4e-3)
    used = []
    t.parts.opt_d.register_step_pre_hook(lambda o, a, k: used.append(o.param_groups[0]["lr"]))
    steps(t, 3)
    # the next update uses the rate set, then Keras' decay goes on from there: lr (1 + d t0) / (1 + d t)
    assert used == pytest.approx([1e-3 * (1 + decay * 2) / (1 + decay * u) for u in (2, 3, 4)], rel=1e-12)
    assert ctx.lr("d") == pytest.approx(1e-3 * (1 + decay * 2) / (1 + decay * 5), rel=1e-12)
    assert ctx.lr("g") == pytest.approx(4e-3 * (1 + decay * 2) / (1 + decay * 5), rel=1e-12)


def test_set_lr_without_decay_holds(tiny_mnist, tmp_path):
    t = make_trainer(tiny_mnist, tmp_path)
    t.context.set_lr("g", 5e-4)
    steps(t, 2)
    assert t.parts.opt_g.param_groups[0]["lr"] == 5e-4 and t.parts.opt_d.param_groups[0]["lr"] == 2e-4


def test_set_beta1_changes_adam_of_both_networks(tiny_mnist, tmp_path):
    t = make_trainer(tiny_mnist, tmp_path, "train.beta1=0.9", "train.beta2=0.99")
    ctx = t.context
    assert ctx.beta1() == 0.9
    ctx.set_beta1(0.5)
    for opt in (t.parts.opt_d, t.parts.opt_g):
        assert all(g["betas"] == (0.5, 0.99) for g in opt.param_groups)
    assert ctx.beta1() == 0.5
    steps(t, 1)  # the fused Adam steps with the changed betas
    assert t.parts.opt_d.param_groups[0]["betas"] == (0.5, 0.99)


def test_set_beta1_leaves_rmsprop_alone(tiny_mnist, tmp_path):
    t = make_trainer(tiny_mnist, tmp_path, "train.optimizer=rmsprop")
    assert t.context.beta1() is None
    t.context.set_beta1(0.5)
    assert all("betas" not in g for opt in (t.parts.opt_d, t.parts.opt_g) for g in opt.param_groups)


def test_set_dropout_changes_ds_dropout_layers(tiny_mnist, tmp_path):
    t = make_trainer(tiny_mnist, tmp_path, "model.d_dropout=0.3")
    ctx = t.context
    layers = [m for m in t.D.modules() if isinstance(m, nn.Dropout)]
    assert layers and ctx.dropout() == 0.3
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    t.D.train()
    assert not torch.equal(t.D(x), t.D(x))        # dropout on: two forwards differ
    ctx.set_dropout(0.0)
    assert all(m.p == 0.0 for m in layers) and ctx.dropout() == 0.0
    assert torch.equal(t.D(x), t.D(x))            # off: the same
    assert not any(isinstance(m, nn.Dropout) and m.p for m in t.G.modules())


def test_set_option_takes_live_options_only(tiny_mnist, tmp_path):
    t = make_trainer(tiny_mnist, tmp_path)
    ctx = t.context
    for key in ("train.lr_d", "model.d_dropout", "loss.name", "train.steps"):
        assert key not in LIVE_OPTIONS
        with pytest.raises(KeyError, match=key.replace(".", r"\.")):
            ctx.set_option(key, 1)
    assert t.cfg.train.lr_d == 2e-4
    x = torch.zeros(4, 1, 28, 28)
    assert torch.equal(t.loss.d_inputs(x), x)
    ctx.set_option("loss.instance_noise", 0.5)   # the loss reads it on the next D input
    assert ctx.option("loss.instance_noise") == 0.5 and t.cfg.loss.instance_noise == 0.0   # the config stays
    for key, bad in (("loss.label_flip", 1.5), ("loss.instance_noise", -1), ("loss.real_label", "x"),
                     ("train.augment", "translation,nope"), ("train.ada_target", float("nan"))):
        with pytest.raises(GankitError, match=key.replace(".", r"\.")):
            ctx.set_option(key, bad)
    assert ctx.option("loss.label_flip") == 0.0 and ctx.option("train.augment") == ""
    noisy = t.loss.d_inputs(x)
    assert 0.3 < float(noisy.std()) < 0.7
    ctx.set_option("train.d_skip_below", 1e9)
    d0 = copy.deepcopy(t.D.state_dict())
    steps(t, 1)
    assert all(torch.equal(v, d0[k]) for k, v in t.D.state_dict().items())  # D held back from now on


def test_snapshot_and_rollback_restore_weights_bit_for_bit(tiny_mnist, tmp_path):
    t = make_trainer(tiny_mnist, tmp_path, "train.ema=0.1")
    ctx = t.context
    steps(t, 2)
    want = {"G": copy.deepcopy(t.G.state_dict()), "D": copy.deepcopy(t.D.state_dict()),
            "G_ema": copy.deepcopy(t.ema.model.state_dict())}
    snap = ctx.snapshot()
    assert snap["step"] == 2
    steps(t, 3)
    for name, net in (("G", t.G), ("D", t.D), ("G_ema", t.ema.model)):
        assert any(not torch.equal(v, want[name][k]) for k, v in net.state_dict().items()), name
    assert len(t.parts.opt_d.state) > 0 and len(t.parts.opt_g.state) > 0
    ctx.rollback(snap)
    for name, net in (("G", t.G), ("D", t.D), ("G_ema", t.ema.model)):
        got = net.state_dict()
        assert got.keys() == want[name].keys()
        assert all(torch.equal(got[k], want[name][k]) for k in got), name
    assert len(t.parts.opt_d.state) == 0 and len(t.parts.opt_g.state) == 0
    steps(t, 1)  # training goes on from the restored weights with fresh optimizer moments
    assert {int(s["step"]) for s in t.parts.opt_d.state.values()} == {1}
    assert all(torch.isfinite(p).all() for p in t.G.parameters())
