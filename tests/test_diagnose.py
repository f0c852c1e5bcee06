"""The diagnoser: each detector fires on a constructed trace and stays silent on a healthy one; remedies change
what they say and survive a resume."""
import json
import math

import pytest
import torch
from conftest import TINY
from torch import nn

from gankit import api
from gankit.config import apply_overrides, load_config
from gankit.data.toy import ring_modes
from gankit.diagnose import DiagnoseHook, DiagnoseSettings
from gankit.diagnose.remedies import LADDERS
from gankit.train.trainer import Trainer

HEALTHY = {"loss_d": 1.2, "loss_g": 0.9, "d_real": 0.6, "d_fake": 0.4}
D_WINS = {"loss_d": 0.01, "loss_g": 6.0, "d_real": 0.995, "d_fake": 0.004}


def make_trainer(tmp_path, *overrides, settings=None, healthy_g=True):
    """A real Trainer on the ring with the hook started; by default G is swapped for a healthy mode sampler so
    that only the trace fed to the hook decides what the loss-based detectors see."""
    cfg = apply_overrides(load_config("ring-2d"), TINY + ["train.steps=1000", "log.every=10",
                                                           "model.g_hidden=[16]", "model.d_hidden=[16]",
                                                           *overrides])
    hook = DiagnoseHook(settings or DiagnoseSettings(window=100, check_every=50, warmup=100, n=256))
    trainer = Trainer(cfg, tmp_path / "run", hooks=[hook], verbose=False)
    trainer.run_dir.mkdir(parents=True, exist_ok=True)
    if healthy_g:
        trainer.parts.G = ModeSampler(8)
    hook.on_start(trainer.context)
    return trainer, hook


def events(trainer):
    path = trainer.run_dir / "events.jsonl"
    return [json.loads(l) for l in path.read_text().splitlines()] if path.is_file() else []


def feed(trainer, hook, rows, start=0, every=10):
    """Replay a trace: one log row every `every` steps."""
    for i, row in enumerate(rows):
        trainer.step = start + (i + 1) * every
        hook.on_step(trainer.context, dict(row))


class ModeSampler(nn.Module):
    """A 'generator' that outputs ring samples: k of the 8 modes (k=8: healthy; k=1: collapsed)."""

    def __init__(self, k):
        super().__init__()
        self.k, self.w = k, nn.Parameter(torch.zeros(1))

    def forward(self, z):
        idx = (z[:, 0].abs() * 1000).long() % self.k
        return ring_modes()[idx] + 0.01 * z[:, :2] + self.w


# ---- D overpowering ---------------------------------------------------------------------------------------
def test_d_wins_fires_on_a_low_loss_trace(tmp_path):
    trainer, hook = make_trainer(tmp_path)
    feed(trainer, hook, [HEALTHY] * 5 + [D_WINS] * 12)
    found = [e for e in events(trainer) if e["kind"] == "d_wins"]
    assert len(found) == 1 and found[0]["step"] == 110     # 6 of the 10 rows covering steps 11..110
    assert "discriminator is winning" in found[0]["message"]
    assert "below 0.05 for most of the last 100 steps (median 0.01)" in found[0]["message"]
    assert "Suggestion" in found[0]["message"]          # auto_remedy is off: advice only
    assert trainer.parts.opt_d.param_groups[0]["lr"] == trainer.cfg.train.lr_d


def test_advice_skips_what_the_run_already_does_and_moves_down_the_ladder(tmp_path):
    """Advice only (auto_remedy off): ring-2d already uses beta1 0.5, so the first suggestion is the next rung
    (lower D's lr), and a second finding suggests the rung after it; nothing is changed."""
    trainer, hook = make_trainer(tmp_path)
    assert trainer.parts.opt_d.param_groups[0]["betas"][0] <= 0.5
    for _ in range(30):
        feed(trainer, hook, [D_WINS], start=trainer.step)
    found = [e["message"] for e in events(trainer) if e["kind"] == "d_wins"]
    assert len(found) >= 2
    assert "beta1" not in found[0] and "train.lr_d" in found[0]
    half = f"{trainer.cfg.train.lr_d / 2:.3g}"                          # this run's own value, halved
    assert f"gankit train {trainer.run_dir} --resume --allow-change train.lr_d --set train.lr_d={half}" in found[0]
    assert "instance_noise" in found[1]
    assert trainer.parts.opt_d.param_groups[0]["lr"] == trainer.cfg.train.lr_d


def test_d_wins_fires_on_saturated_outputs_with_label_smoothing(tmp_path):
    """Label smoothing keeps BCE's loss above 0.05; D(real) - D(fake) near the label gap still gives it away."""
    trainer, hook = make_trainer(tmp_path, "loss.real_label=0.9")
    feed(trainer, hook, [{"loss_d": 0.35, "loss_g": 5.0, "d_real": 0.9, "d_fake": 0.01}] * 12)
    assert [e["kind"] for e in events(trainer)] == ["d_wins"]


@pytest.mark.parametrize("trace", [[HEALTHY] * 40, [HEALTHY, D_WINS] * 20, [D_WINS] * 4 + [HEALTHY] * 30])
def test_d_wins_silent_on_healthy_or_brief_dips(tmp_path, trace):
    trainer, hook = make_trainer(tmp_path)
    feed(trainer, hook, trace)
    assert not [e for e in events(trainer) if e["kind"] == "d_wins"]


def test_d_wins_remedy_ladder_and_result(tmp_path):
    trainer, hook = make_trainer(tmp_path, "train.auto_remedy=true")
    lr = trainer.parts.opt_d.param_groups[0]["lr"]
    feed(trainer, hook, [D_WINS] * 10 + [HEALTHY] * 10)
    ev = events(trainer)
    assert [e["kind"] for e in ev] == ["d_wins", "remedy", "remedy_result"]
    assert ev[1]["remedy"] == "lower_lr_d" and trainer.parts.opt_d.param_groups[0]["lr"] == pytest.approx(lr / 2)
    assert ev[2]["helped"] is True and ev[2]["after"]["loss_d"] == pytest.approx(1.2)
    for _ in range(12):                                               # again: the next rung, noise
        feed(trainer, hook, [D_WINS], start=trainer.step)
        if events(trainer)[-1]["kind"] == "remedy":
            break
    ev = events(trainer)
    assert ev[-1]["kind"] == "remedy" and ev[-1]["remedy"] == "noise"
    assert trainer.context.option("loss.instance_noise") > 0 and trainer.context.option("loss.label_noise") == pytest.approx(0.1)
    feed(trainer, hook, [HEALTHY] * 60, start=trainer.step)           # the noise fades back to the run's own
    assert trainer.context.option("loss.instance_noise") == 0 and trainer.context.option("loss.label_noise") == 0


# ---- collapse ---------------------------------------------------------------------------------------------
def test_collapse_fires_when_samples_sit_on_one_mode(tmp_path):
    trainer, hook = make_trainer(tmp_path)
    trainer.parts.G = ModeSampler(1)
    feed(trainer, hook, [HEALTHY] * 25)
    found = [e for e in events(trainer) if e["kind"] == "collapse"]
    assert found and found[0]["step"] == 150 and found[0]["covered"] == 1
    assert "cover 1 of the 8 modes" in found[0]["message"]


def test_collapse_silent_when_samples_cover_the_modes(tmp_path):
    trainer, hook = make_trainer(tmp_path)
    trainer.parts.G = ModeSampler(8)
    feed(trainer, hook, [HEALTHY] * 40)
    assert not events(trainer)
    assert hook.history[-1]["covered"] == 8 and 0.8 < hook.history[-1]["spread"] < 1.2


def test_collapse_rollback_goes_to_the_last_diverse_weights(tmp_path):
    trainer, hook = make_trainer(tmp_path, "train.auto_remedy=true")
    trainer.parts.G = ModeSampler(8)
    feed(trainer, hook, [HEALTHY] * 20)                  # healthy until step 200: the last diverse weights
    trainer.G.k = 1
    hook.rungs["collapse"] = LADDERS["collapse"].index("rollback")
    with torch.no_grad():
        trainer.G.w.fill_(5.0)                           # weights to be undone
    feed(trainer, hook, [HEALTHY] * 10, start=200)
    rem = [e for e in events(trainer) if e["kind"] == "remedy"]
    assert rem and rem[0]["remedy"] == "rollback" and rem[0]["changes"]["rolled_back_to"] == 200
    assert float(trainer.G.w.detach()) == 0.0
    assert hook.kept["step"] == 200 and hook.kept["diverse"]  # the collapsed checks did not replace it


def test_the_diagnoser_keeps_one_snapshot_in_a_checkpoint(tmp_path):
    """Its rollback state is one copy of G, D and G's EMA, not three (a checkpoint held the weights four times)."""
    from gankit.train.checkpoint import state_bytes
    settings = DiagnoseSettings(window=20, check_every=10, warmup=20, n=128)
    run = api.train("ring-2d", TINY + ["train.steps=80", "model.g_hidden=[64, 64]", "model.d_hidden=[64, 64]",
                                       "train.ema=1"], out=str(tmp_path / "r"), hooks=[DiagnoseHook(settings)],
                    verbose=False)
    state = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    weights = state_bytes([state["G"], state["D"], state["G_ema"]])
    hook_state = state["hooks"]["DiagnoseHook"]
    assert set(hook_state["kept"]) == {"step", "G", "D", "G_ema", "diverse"} and hook_state["kept"]["step"] > 0
    assert weights < state_bytes(hook_state) < 1.1 * weights
    assert not {"good", "candidate", "best"} & set(hook_state)


def test_a_checkpoint_with_the_three_old_snapshots_resumes(tmp_path):
    hook = DiagnoseHook()
    snap = {0: {"step": 0, "G": {}}, 50: {"step": 50, "G": {}}, 100: {"step": 100, "G": {}, "score": [1, 1]}}
    old = {**hook.state_dict(), "good": snap[0], "candidate": snap[50], "best": snap[100]}
    del old["kept"]
    hook.load_state_dict(old)
    assert hook.kept["step"] == 100 and hook.kept["diverse"]       # the most diverse one: collapse can use it
    hook.load_state_dict({**old, "best": None})
    assert hook.kept["step"] == 0 and not hook.kept["diverse"]      # else the older healthy one
    assert hook.rollback_target("collapse") is None and hook.rollback_target("diverged") is hook.kept


def test_rollback_advice_names_the_checkpoint_and_the_halved_rates(tmp_path):
    """Advice only: the command copies the newest kept checkpoint at or before the last diverse check and
    resumes it with both of this run's learning rates halved."""
    trainer, hook = make_trainer(tmp_path)
    trainer.parts.G = ModeSampler(8)
    feed(trainer, hook, [HEALTHY] * 20)                  # diverse until step 200
    ck = trainer.run_dir / "checkpoints"
    ck.mkdir()
    for step in (100, 150, 250):
        (ck / f"step-{step:07d}.pt").write_bytes(b"")
    trainer.G.k = 1
    hook.rungs["collapse"] = LADDERS["collapse"].index("rollback")
    feed(trainer, hook, [HEALTHY] * 10, start=200)
    msg = [e["message"] for e in events(trainer) if e["kind"] == "collapse"][0]
    lr_d, lr_g = (f"{getattr(trainer.cfg.train, k) / 2:.3g}" for k in ("lr_d", "lr_g"))
    assert "go back to step 150 (the newest checkpoint from when samples were last diverse, at step 200)" in msg
    assert (f"cp {ck}/step-0000150.pt {ck}/latest.pt && gankit train "
            f"{trainer.run_dir} --resume --allow-change train.lr_d train.lr_g --set train.lr_d={lr_d} "
            f"train.lr_g={lr_g}") in msg, msg
    assert float(trainer.G.w.detach()) == 0.0 and trainer.parts.opt_d.param_groups[0]["lr"] == trainer.cfg.train.lr_d


# ---- divergence -------------------------------------------------------------------------------------------
def test_divergence_fires_on_nan_and_rolls_back(tmp_path):
    trainer, hook = make_trainer(tmp_path, "train.auto_remedy=true", healthy_g=False)
    weights = {0: [p.detach().clone() for p in trainer.G.parameters()]}
    for _ in range(60):                                  # real training: snapshots are taken at checks
        trainer.train_step()
        hook.on_step(trainer.context, trainer.flush_stats() if trainer.step % 10 == 0 else {})
        weights[trainer.step] = [p.detach().clone() for p in trainer.G.parameters()]
    lr = trainer.parts.opt_g.param_groups[0]["lr"]
    with torch.no_grad():
        next(trainer.G.parameters()).fill_(float("nan"))
    hook.on_step(trainer.context, {**HEALTHY, "loss_g": float("nan")})
    ev = events(trainer)
    assert ev[-2]["kind"] == "diverged" and "generator's loss is nan" in ev[-2]["message"]
    to = ev[-1]["changes"]["rolled_back_to"]
    assert ev[-1]["remedy"] == "rollback" and to in (0, 50)
    # the weights are those of the healthy check it names, bit for bit (not the NaN ones, not the latest)
    assert all(torch.equal(p, w) for p, w in zip(trainer.G.parameters(), weights[to]))
    assert not all(torch.equal(p, w) for p, w in zip(trainer.G.parameters(), weights[60]))
    assert trainer.parts.opt_g.param_groups[0]["lr"] == pytest.approx(lr / 2)
    assert not trainer.parts.opt_g.state                       # Adam's moments start afresh


def test_divergence_fires_on_exploding_gradients(tmp_path):
    trainer, hook = make_trainer(tmp_path)
    p = next(trainer.D.parameters())
    for i in range(15):
        p.grad = torch.full_like(p, 0.01)
        feed(trainer, hook, [HEALTHY], start=i * 10)
    assert not events(trainer)
    p.grad = torch.full_like(p, 10.0)                    # 1000x the usual norm
    feed(trainer, hook, [HEALTHY], start=150)
    ev = events(trainer)
    assert ev and ev[0]["kind"] == "diverged" and "discriminator's gradient norm jumped" in ev[0]["message"]


def test_divergence_silent_on_a_healthy_run(tmp_path):
    trainer, hook = make_trainer(tmp_path, healthy_g=False)
    for _ in range(40):
        trainer.train_step()
        hook.on_step(trainer.context, trainer.flush_stats() if trainer.step % 10 == 0 else {})
    assert not [e for e in events(trainer) if e["kind"] == "diverged"]


# ---- remedies survive a resume ----------------------------------------------------------------------------
def test_remedies_survive_a_resume(tmp_path):
    """A run whose remedies fire, stopped and resumed, ends exactly where the uninterrupted run ends."""
    settings = DiagnoseSettings(window=20, check_every=10, warmup=20, n=128, d_loss_floor=100.0)  # always "low"
    base = TINY + ["train.auto_remedy=true", "model.g_hidden=[16]", "model.d_hidden=[16]", "log.every=5",
                   "checkpoint.every=1000", "train.batch_size=32"]
    whole = api.train("ring-2d", base + ["train.steps=90"], out=str(tmp_path / "whole"),
                      hooks=[DiagnoseHook(settings)], verbose=False)
    api.train("ring-2d", base + ["train.steps=50"], out=str(tmp_path / "part"), hooks=[DiagnoseHook(settings)],
              verbose=False)
    part = api.train("ring-2d", base + ["train.steps=90"], out=str(tmp_path / "part"), resume=True,
                     hooks=[DiagnoseHook(settings)], verbose=False)
    a = torch.load(whole / "checkpoints" / "latest.pt", weights_only=True)
    b = torch.load(part / "checkpoints" / "latest.pt", weights_only=True)
    for k in a["G"]:
        assert torch.equal(a["G"][k], b["G"][k]), k
    assert a["opt_d"]["param_groups"][0]["lr"] == b["opt_d"]["param_groups"][0]["lr"] < 1e-4
    assert a["hooks"]["DiagnoseHook"]["remedies"] == b["hooks"]["DiagnoseHook"]["remedies"]
    ev_a = (whole / "events.jsonl").read_text().splitlines()
    ev_b = (part / "events.jsonl").read_text().splitlines()
    assert ev_a == ev_b and any('"remedy": "noise"' in e for e in ev_a)


def test_dropout_remedy_is_reapplied_on_resume(tmp_path):
    trainer, hook = make_trainer(tmp_path, "train.auto_remedy=true", "model.d_dropout=0.1")
    hook.rungs["d_wins"] = LADDERS["d_wins"].index("dropout")
    feed(trainer, hook, [D_WINS] * 12)
    drops = [m for m in trainer.D.modules() if isinstance(m, nn.Dropout)]
    assert drops and all(math.isclose(m.p, 0.3) for m in drops)
    state = hook.state_dict()
    trainer2, hook2 = make_trainer(tmp_path / "again", "train.auto_remedy=true", "model.d_dropout=0.1")
    hook2.load_state_dict(state)
    hook2.on_start(trainer2.context)
    assert all(math.isclose(m.p, 0.3) for m in trainer2.D.modules() if isinstance(m, nn.Dropout))


def test_lower_momentum_remedy_for_adam_beta1_0_9(tmp_path):
    """Lesson 001 uses torch's Adam default beta1 = 0.9; the first rung sets 0.5 (DCGAN) for both networks."""
    trainer, hook = make_trainer(tmp_path, "train.auto_remedy=true", "train.beta1=0.9")
    feed(trainer, hook, [D_WINS] * 10)
    ev = events(trainer)
    assert ev[-1]["remedy"] == "lower_momentum" and ev[-1]["changes"]["beta1"] == [0.9, 0.5]
    assert all(g["betas"][0] == 0.5 for opt in (trainer.parts.opt_d, trainer.parts.opt_g) for g in opt.param_groups)
    assert trainer.parts.opt_d.state_dict()["param_groups"][0]["betas"][0] == 0.5   # saved with the optimizer


def test_the_advice_names_a_stable_preset_that_exists_for_the_data():
    from gankit.config import preset_names
    from gankit.diagnose import stable_advice
    for preset, want in (("mnist-mlp", "mnist-stable"), ("ring-2d", "ring-2d-stable"), ("grid-2d", "grid-2d-stable")):
        advice = stable_advice(load_config(preset))
        assert f"the stable preset {want} " in advice and want in preset_names()
    folder = apply_overrides(load_config("folder-dcgan"), ["data.path=/some/photos"])
    assert "--set data.path=/some/photos" in stable_advice(folder)


@pytest.mark.parametrize("loss,label", [("bce", True), ("hinge", False)])
def test_noise_advice_is_the_noise_this_loss_uses(tmp_path, loss, label):
    """Label noise moves a target; hinge has none, so it is told of instance noise only."""
    from gankit.diagnose.remedies import REMEDIES
    trainer, hook = make_trainer(tmp_path, f"loss.name={loss}")
    hint = REMEDIES["noise"].hint(trainer.context, hook, "collapse")
    assert "--set loss.instance_noise=" in hint and ("loss.label_noise=0.1" in hint) == label, hint


# ---- augmentation, for small image sets ---------------------------------------------------------------------
def make_image_trainer(tmp_path, root, *overrides):
    """A real DCGAN Trainer on tiny MNIST-format digits (a small image set: augmentation applies)."""
    cfg = apply_overrides(load_config("mnist-dcgan"), TINY + [f"data.root={root}", "train.batch_size=8",
                                                              "train.steps=1000", "log.every=10", *overrides])
    hook = DiagnoseHook(DiagnoseSettings(window=100, check_every=50, warmup=100, n=32))
    trainer = Trainer(cfg, tmp_path / "run", hooks=[hook], verbose=False)
    trainer.run_dir.mkdir(parents=True, exist_ok=True)
    hook.on_start(trainer.context)
    return trainer, hook


def test_augment_remedy_turns_on_diffaugment_for_a_small_image_set(tmp_path, tiny_mnist):
    from gankit.diagnose.remedies import AUGMENT
    trainer, hook = make_image_trainer(tmp_path, tiny_mnist, "train.auto_remedy=true")
    assert trainer.context.option("train.augment") == "" and trainer.cfg.train.beta1 <= 0.5   # lower_momentum has nothing to do
    for _ in range(30):                       # D wins on and on: lower_lr_d, then augment
        feed(trainer, hook, [D_WINS], start=trainer.step)
        if [e["remedy"] for e in events(trainer) if e["kind"] == "remedy"] == ["lower_lr_d", "augment"]:
            break
    done = [e for e in events(trainer) if e["kind"] == "remedy"]
    assert [e["remedy"] for e in done] == ["lower_lr_d", "augment"], done
    n = trainer.data.images.shape[0]
    assert f"the {n} training images" in done[-1]["message"] and trainer.context.option("train.augment") == AUGMENT
    torch.manual_seed(0)
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    assert not torch.equal(trainer.loss.d_inputs(x), x)      # D now sees augmented images
    state = hook.state_dict()                                # and a resumed run augments again
    trainer2, hook2 = make_image_trainer(tmp_path / "again", tiny_mnist, "train.auto_remedy=true")
    hook2.load_state_dict(state)
    hook2.on_start(trainer2.context)
    assert trainer2.context.option("train.augment") == AUGMENT


def test_augment_advice_names_diffaugment_then_ada_with_the_resume_command(tmp_path, tiny_mnist):
    from gankit.diagnose.remedies import REMEDIES
    trainer, hook = make_image_trainer(tmp_path / "a", tiny_mnist)
    hint = REMEDIES["augment"].hint(trainer.context, hook, "collapse")
    assert "--allow-change train.augment --set train.augment=translation,color" in hint, hint
    trainer, hook = make_image_trainer(tmp_path / "b", tiny_mnist, "train.augment=translation")
    hint = REMEDIES["augment"].hint(trainer.context, hook, "collapse")
    assert "--allow-change train.ada_target --set train.ada_target=0.6" in hint, hint
    assert REMEDIES["augment"].fn(hook.remedies, hook, trainer.context, "collapse") is None  # ADA: advice only
    assert trainer.context.option("train.ada_target") == 0 and hook.remedies.cfg == {}
    trainer, hook = make_image_trainer(tmp_path / "c", tiny_mnist, "train.augment=translation", "train.ada_target=0.6")
    assert not REMEDIES["augment"].applies(trainer.context)       # adaptive already: the next rung instead
    ring, ring_hook = make_trainer(tmp_path / "ring")
    assert not REMEDIES["augment"].applies(ring.context)          # points, not images


@pytest.mark.parametrize("change", [["train.augment=translation,color"], ["train.ada_target=0.6"]])
def test_the_augment_advice_resumes(tmp_path, tiny_mnist, change):
    """What the advice tells a user to type works: a short run resumed with augmentation (or ADA) on."""
    base = TINY + [f"data.root={tiny_mnist}", "train.batch_size=8", "train.diagnose=false",
                   "train.augment=translation" if "ada" in change[0] else "train.augment="]
    run = api.train("mnist-dcgan", base + ["train.steps=2"], out=str(tmp_path / "r"), hooks=[], verbose=False)
    key = change[0].split("=")[0]
    api.train("mnist-dcgan", base + ["train.steps=4"] + change, out=str(run), resume=True, allow_change=[key],
              hooks=[], verbose=False)
    saved = json.loads((run / "config.json").read_text())
    section, name = key.split(".")
    assert str(saved[section][name]) == change[0].split("=")[1]
    assert torch.load(run / "checkpoints" / "latest.pt", weights_only=True)["step"] == 4
