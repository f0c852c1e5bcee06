"""Adaptive augmentation (ADA): the p update rule, and p across a resume."""
import pytest
import torch
from conftest import TINY

from gankit import api
from gankit.train.augment import AdaptiveAugment
from gankit.train.checkpoint import load
from gankit.train.hooks import Hook


def test_p_follows_the_sign_of_d_real_against_the_target():
    ada = AdaptiveAugment("translation", target=0.6, kimg=1.0, interval=4, batch_size=25)
    step = 25 * 4 / 1000                                   # images per update / (kimg * 1000) = 0.1
    for _ in range(3):                                     # r_t = 1 > 0.6: p rises once per 4 calls
        ada.observe(torch.ones(25))
    assert ada.p == 0.0
    ada.observe(torch.ones(25))
    assert ada.p == pytest.approx(step)
    for _ in range(8):                                     # r_t = 0.2 < 0.6: two updates down, clamped at 0
        ada.observe(torch.tensor([1.0] * 15 + [-1.0] * 10))
    assert ada.p == 0.0
    for _ in range(4 * 20):                                # 20 updates up: clamped at 1
        ada.observe(torch.ones(25))
    assert ada.p == 1.0


def test_p_gates_each_image():
    torch.manual_seed(0)
    x = torch.rand(2000, 3, 8, 8)
    ada = AdaptiveAugment("cutout", target=0.6, kimg=1.0, interval=1, batch_size=1)
    assert torch.equal(ada(x), x)                          # p = 0: nothing changes
    ada.p = 0.3
    changed = (ada(x) != x).flatten(1).any(1).float().mean()
    assert 0.25 < float(changed) < 0.35                    # about p of the images are cut out


def _train(tmp_path, name, steps, resume=False):
    return api.train("folder-stable", TINY + [
        f"train.steps={steps}", f"data.path={tmp_path / 'imgs'}", "train.batch_size=4", "sample.n=4",
        "train.diagnose=false", "train.precision=fp32", "train.threads=1", "checkpoint.every=3",
        "train.ada_target=0.01", "train.ada_kimg=0.05", "train.ada_interval=1"],
        out=str(tmp_path / name), resume=resume, verbose=False, hooks=[])


def test_p_is_saved_and_a_resumed_run_continues_exactly(tmp_path):
    from test_data import _write_mixed_folder
    _write_mixed_folder(tmp_path / "imgs")
    straight = load(_train(tmp_path, "straight", 6) / "checkpoints" / "latest.pt")
    _train(tmp_path, "split", 3)
    half = load(tmp_path / "split" / "checkpoints" / "latest.pt")
    assert half["loss"]["ada"]["p"] > 0                    # p moved in the first half and was saved
    resumed = load(_train(tmp_path, "split", 6, resume=True) / "checkpoints" / "latest.pt")
    assert resumed["loss"]["ada"] == straight["loss"]["ada"]
    assert all(torch.equal(resumed["G"][k], straight["G"][k]) for k in straight["G"])
    assert all(torch.equal(resumed["D"][k], straight["D"][k]) for k in straight["D"])


class SwitchOn(Hook):
    """Switches adaptive augmentation on after step ``at`` (as the diagnoser's remedy does), and again after a
    resume (as the remedy's reapply does); its state says whether it did."""
    name = "switch"

    def __init__(self, at):
        self.at, self.on = at, False

    def on_start(self, ctx):
        if self.on:
            ctx.set_option("train.ada_target", 0.01)

    def on_step(self, ctx, stats):
        if ctx.step == self.at and not self.on:
            ctx.set_option("train.ada_target", 0.01)
            self.on = True

    def state_dict(self):
        return {"on": self.on}

    def load_state_dict(self, state):
        self.on = state["on"]


def _live(tmp_path, name, steps, resume=False):
    return api.train("folder-stable", TINY + [
        f"train.steps={steps}", f"data.path={tmp_path / 'imgs'}", "train.batch_size=4", "sample.n=4",
        "train.diagnose=false", "train.precision=fp32", "train.threads=1", "checkpoint.every=4",
        "train.augment=translation,color", "train.ada_kimg=0.05", "train.ada_interval=1"],
        out=str(tmp_path / name), resume=resume, verbose=False, hooks=[SwitchOn(at=2)])


def test_ada_switched_on_mid_run_is_checkpointed_and_resumes_exactly(tmp_path):
    from test_data import _write_mixed_folder
    _write_mixed_folder(tmp_path / "imgs")
    straight = load(_live(tmp_path, "straight", 8) / "checkpoints" / "latest.pt")
    _live(tmp_path, "split", 4)
    half = load(tmp_path / "split" / "checkpoints" / "latest.pt")
    ada = half["loss"]["ada"]
    assert ada is not None and ada["calls"] == 2            # made at step 2; the D steps of steps 3 and 4 seen
    assert ada["p"] in (0.0, pytest.approx(0.08), pytest.approx(0.16))   # from 0, 0.08 per D step at most
    resumed = load(_live(tmp_path, "split", 8, resume=True) / "checkpoints" / "latest.pt")
    assert resumed["loss"]["ada"] == straight["loss"]["ada"] and resumed["loss"]["ada"]["calls"] == 6
    assert all(torch.equal(resumed["G"][k], straight["G"][k]) for k in straight["G"])
    assert all(torch.equal(resumed["D"][k], straight["D"][k]) for k in straight["D"])


def test_ada_starts_at_zero_and_can_be_switched_off_live(tmp_path):
    from test_data import _write_mixed_folder

    from gankit.api import resolve_config
    from gankit.train.trainer import Trainer
    _write_mixed_folder(tmp_path / "imgs")
    cfg = resolve_config("folder-stable", TINY + [f"data.path={tmp_path / 'imgs'}", "train.batch_size=4",
                                                  "train.diagnose=false", "train.threads=1",
                                                  "train.ada_target=0.6"])
    t = Trainer(cfg, tmp_path / "run", hooks=[], verbose=False)
    assert t.loss.ada is not None and t.loss.ada.p == 0.0
    t.train_step()
    t.context.set_option("train.ada_target", 0.0)           # switched off live: no ADA, no ADA state saved
    assert t.loss.ada is None and t.loss.state_dict()["ada"] is None and cfg.train.ada_target == 0.6
