"""Adaptive augmentation (ADA): the p update rule, and p across a resume."""
import pytest
import torch

from gankit import api
from gankit.train.augment import AdaptiveAugment
from gankit.train.checkpoint import load
from conftest import TINY


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
