"""Mode metrics on constructed samples: PacGAN/VEEGAN 2-D protocol and Stacked MNIST counting."""
import numpy as np
import pytest
import torch

from gankit.config import DataConfig
from gankit.data import load_data
from gankit.metrics import evaluate
from gankit.metrics.modes import kl_to_uniform, mixture_modes, stacked_digits, stacked_modes


def draw(name: str, n: int = 2500, drop: int = 0, blur: float = 1.0, seed: int = 0) -> tuple:
    """n samples of ring-2d / grid-2d from all modes but the first `drop`, std scaled by `blur`."""
    data = load_data(DataConfig(name=name), verbose=False)
    g = torch.Generator().manual_seed(seed)
    keep = data.modes[drop:]
    which = torch.randint(len(keep), (n,), generator=g)
    x = keep[which] + blur * data.mode_std * torch.randn(n, 2, generator=g)
    return x.numpy(), data.modes.numpy(), data.mode_std


@pytest.mark.parametrize("name,total", [("ring-2d", 8), ("grid-2d", 25)])
def test_all_modes_found(name, total):
    x, modes, std = draw(name)
    r = mixture_modes(x, modes, std)
    assert (r["modes"], r["modes_total"]) == (total, total)
    assert r["hq"] == pytest.approx(1 - np.exp(-4.5), abs=0.01)   # within 3 std in 2-D: 98.9%
    assert r["rkl"] < 0.02


@pytest.mark.parametrize("name,expected", [("ring-2d", 6), ("grid-2d", 23)])
def test_two_modes_removed(name, expected):
    x, modes, std = draw(name, drop=2)
    r = mixture_modes(x, modes, std)
    assert r["modes"] == expected
    assert r["mode_hist"][0] == r["mode_hist"][1] == 0
    total = len(modes)
    assert r["rkl"] == pytest.approx(np.log(total / expected), abs=0.02)   # uniform over the rest


@pytest.mark.parametrize("name", ["ring-2d", "grid-2d"])
def test_blurred_samples_are_low_quality(name):
    x, modes, std = draw(name, blur=8.0)
    r = mixture_modes(x, modes, std)
    assert r["hq"] < 0.15                     # 1 - exp(-9 / (2 * 64)) = 6.8% expected
    sharp = mixture_modes(*draw(name)[:2], std)
    assert sharp["hq"] > 0.95


def test_collapse_to_one_mode():
    x, modes, std = draw("ring-2d")
    x = modes[3] + 0.5 * std * np.random.default_rng(0).standard_normal((500, 2))
    r = mixture_modes(x, modes, std)
    assert r["modes"] == 1 and r["rkl"] == pytest.approx(np.log(8))


def test_kl_to_uniform():
    assert kl_to_uniform(np.ones(10)) == pytest.approx(0.0)
    assert kl_to_uniform(np.array([5, 0, 0, 0])) == pytest.approx(np.log(4))
    assert kl_to_uniform(np.zeros(3)) == 0.0


def test_stacked_modes_counting():
    all_triples = np.array([[i // 100, i // 10 % 10, i % 10] for i in range(1000)] * 26)
    r = stacked_modes(all_triples)
    assert r["stacked_modes"] == 1000 and r["stacked_kl"] == pytest.approx(0.0, abs=1e-9)
    ten = all_triples[all_triples[:, 0] == all_triples[:, 1]]
    ten = ten[ten[:, 1] == ten[:, 2]]                                  # only 000, 111, ..., 999
    r = stacked_modes(ten)
    assert r["stacked_modes"] == 10 and r["stacked_kl"] == pytest.approx(np.log(100))


def test_stacked_digits_reads_channels_in_order():
    # a fake "classifier": the digit is the image's mean grey level / 10
    images = torch.tensor([[10, 20, 30], [90, 0, 50]], dtype=torch.uint8)[:, :, None, None].expand(-1, -1, 4, 4)

    def classify(batch):
        digit = batch.float().mean((1, 2, 3)).div(10).long()
        return torch.nn.functional.one_hot(digit, 10).float()
    np.testing.assert_array_equal(stacked_digits(images.contiguous(), classify, batch_size=1),
                                  [[1, 2, 3], [9, 0, 5]])


def test_evaluate_modes_on_arrays():
    x, _, _ = draw("grid-2d", drop=2)
    r = evaluate(x, data="grid-2d", verbose=False)
    assert r["modes"] == 23 and r["n"] == 2500
