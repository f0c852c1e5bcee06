"""The 1-D lesson (gaussian-1d preset): the elementwise generator, the set discriminator, and a short run."""
import torch

from gankit.config import ModelConfig, apply_overrides, load_config
from gankit.models import build_models, traits_of
from gankit.models.mlp import ElementwiseGenerator, SetDiscriminator
from gankit.train.trainer import Trainer


def test_elementwise_generator_shapes_and_independence():
    torch.manual_seed(0)
    G = ElementwiseGenerator(16)
    z = torch.rand(4, 30)
    x = G(z)
    assert x.shape == (4, 30)                       # (B, W) -> (B, W): one draw per noise value
    assert G(torch.rand(7, 1)).shape == (7, 1)      # (n, 1) -> (n, 1): how generate() samples it
    # elementwise (Conv1D with kernel 1): each output depends on its own noise value only
    assert torch.allclose(G(z[:, 5:6]), x[:, 5:6], atol=1e-6)
    assert torch.allclose(G(z.flip(1)), x.flip(1), atol=1e-6)


def test_sorted_set_discriminator_ignores_the_order_of_draws():
    torch.manual_seed(0)
    x = 4 + 1.25 * torch.randn(5, 20)                # 5 sets of 20 draws
    perm = torch.randperm(20)
    D = SetDiscriminator(20, [16, 16], sort=True)
    assert D(x).shape == (5,)
    assert torch.allclose(D(x), D(x[:, perm]), atol=1e-5)
    unsorted = SetDiscriminator(20, [16, 16], sort=False)  # the lesson's D sees positions: order matters
    assert not torch.allclose(unsorted(x), unsorted(x[:, perm]), atol=1e-5)


def test_toy_1d_builder_follows_the_config():
    G, D = build_models(ModelConfig(name="toy-1d", g_hidden=[8], d_hidden=[8, 8], d_sort=True, leak=0.0), (12,))
    assert isinstance(G, ElementwiseGenerator) and traits_of(G).elementwise
    assert isinstance(D, SetDiscriminator) and D.sort
    assert not any(isinstance(m, torch.nn.LeakyReLU) for m in D.modules())  # leak 0: the lesson's ReLU


def test_short_preset_run_moves_the_mean_towards_a_narrower_target(tmp_path):
    target = 2.0
    cfg = apply_overrides(load_config("gaussian-1d"), [
        "log.progress=false", f"data.mean={target}", "data.std=0.25", "data.dim=20", "train.batch_size=16",
        "train.steps=200", "train.seed=0"])
    t = Trainer(cfg, tmp_path / "run", hooks=[], verbose=False)
    before = float(t.generate(2000, ema=False).mean())   # about 0.45: G starts near a constant
    while t.step < t.total_steps:
        t.train_step()
    x = t.generate(2000, ema=False)
    assert x.shape == (2000, 1) and torch.isfinite(x).all()
    after = float(x.mean())
    assert abs(after - target) < 0.5 * abs(before - target), (before, after)
