"""DiffAugment: shapes kept, differentiable, per-sample draws, each op doing what it says."""
import pytest
import torch
from conftest import TINY

from gankit import api
from gankit.errors import GankitError
from gankit.train.augment import brightness, contrast, cutout, diff_augment, saturation, translation

POLICIES = ["color", "translation", "cutout", "color,translation,cutout", "translation,cutout"]


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("shape", [(5, 1, 28, 28), (4, 3, 32, 32), (2, 3, 17, 9)])
def test_shape_and_dtype_kept(policy, shape):
    x = torch.rand(shape) * 2 - 1
    y = diff_augment(x, policy)
    assert y.shape == x.shape and y.dtype == x.dtype


@pytest.mark.parametrize("policy", POLICIES)
def test_differentiable(policy):
    """G's gradient flows through the augmentation (the point of *Diff*Augment)."""
    x = (torch.rand(4, 3, 16, 16) * 2 - 1).requires_grad_(True)
    w = torch.randn(4, 3, 16, 16)
    (diff_augment(x, policy) * w).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_color_ops_are_affine_per_sample():
    """Each colour op is x -> a*x + b per sample, so its Jacobian matches a finite-difference check."""
    x = torch.rand(2, 3, 4, 4, dtype=torch.float64)
    def seeded(op):
        def f(t):
            torch.manual_seed(0)  # the same random draw on every call gradcheck makes
            return op(t)
        return f
    for op in (brightness, saturation, contrast):
        assert torch.autograd.gradcheck(seeded(op), (x.clone().requires_grad_(True),))


def test_each_sample_gets_its_own_draw():
    x = torch.zeros(64, 1, 8, 8)
    shifted = brightness(x)[:, 0, 0, 0]
    assert shifted.unique().numel() == 64 and shifted.abs().max() <= 0.5


def test_saturation_is_identity_on_grayscale():
    x = torch.rand(4, 1, 8, 8)
    assert torch.allclose(saturation(x), x)


def test_translation_moves_content_and_pads_zeros():
    torch.manual_seed(0)
    x = torch.zeros(200, 1, 16, 16)
    x[:, :, 7, 7] = 1.0                                 # one bright pixel
    y = translation(x)                                 # shifts of up to 2 pixels each way
    assert torch.allclose(y.sum((1, 2, 3)), torch.ones(200))   # the pixel is moved, never lost or doubled
    pos = y[:, 0].flatten(1).argmax(1)
    rows, cols = pos // 16, pos % 16
    assert rows.min() == 5 and rows.max() == 9 and cols.min() == 5 and cols.max() == 9
    edge = translation(torch.ones(200, 1, 16, 16))     # shifted-in border is zero
    assert (edge == 0).any() and set(edge.unique().tolist()) <= {0.0, 1.0}


def test_cutout_zeros_at_most_a_quarter():
    torch.manual_seed(0)
    y = cutout(torch.ones(100, 3, 32, 32))
    zeros = (y == 0).float().mean((1, 2, 3))
    assert (zeros > 0).all() and (zeros <= 0.25 + 1e-6).all()
    assert torch.equal(y[:, 0], y[:, 1])               # the same hole in every channel


def test_seeded_and_reproducible():
    x = torch.rand(6, 3, 16, 16)
    torch.manual_seed(3)
    a = diff_augment(x, "color,translation,cutout")
    torch.manual_seed(3)
    b = diff_augment(x, "color,translation,cutout")
    assert torch.equal(a, b)


def test_unknown_policy_and_vector_data_are_clear_errors():
    with pytest.raises(GankitError, match="did you mean 'cutout'"):
        diff_augment(torch.zeros(2, 1, 8, 8), "cutuot")
    with pytest.raises(GankitError, match="images"):
        diff_augment(torch.zeros(2, 2), "color")
    assert diff_augment(torch.zeros(2, 2), "") is not None


def test_training_with_diffaugment(tiny_mnist, tmp_path):
    run = api.train("mnist-demo", TINY + ["train.steps=2", "train.batch_size=8", f"data.root={tiny_mnist}",
                                          "train.augment=color,translation,cutout", "train.precision=fp32"],
                    out=str(tmp_path / "aug"), verbose=False)
    assert (run / "checkpoints" / "latest.pt").is_file()
