"""ProGAN's sliced Wasserstein distance (gankit.metrics.swd): zero for a set against itself, small for two draws
of one distribution, large against noise, growing with blur, symmetric, deterministic, and one clear line for
images it cannot read."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gankit.cli import main
from gankit.errors import GankitError
from gankit.metrics import METRICS, Evaluator
from gankit.metrics.sources import Samples, from_array
from gankit.metrics.swd import SWDConfig, descriptors, laplacian_pyramid, resolutions, swd

FAST = SWDConfig(per_image=32, repeats=2)


def disks(n: int, seed: int, size: int = 32) -> torch.Tensor:
    """n uint8 images (n, 3, size, size): a flat background and three sharp-edged disks of random colours."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    img = torch.rand(n, 3, 1, 1, generator=g).expand(n, 3, size, size).clone()
    for _ in range(3):
        colour = torch.rand(n, 3, 1, 1, generator=g)
        cy, cx = (torch.rand(n, 1, 1, generator=g) * size for _ in range(2))
        r = size * (0.08 + 0.25 * torch.rand(n, 1, 1, generator=g))
        inside = (((yy - cy) ** 2 + (xx - cx) ** 2) < r ** 2).float()[:, None]   # (n, 1, size, size)
        img = img * (1 - inside) + colour * inside
    return (img * 255).round().to(torch.uint8)


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of uint8 images (separable, mirrored edges), rounded back to uint8."""
    if sigma == 0:
        return x
    r = int(3 * sigma)
    k = torch.exp(-torch.arange(-r, r + 1, dtype=torch.float32) ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    y = F.pad(x.float(), (r, r, r, r), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    y = F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return y.round().clamp(0, 255).to(torch.uint8)


@pytest.fixture(scope="module")
def sets():
    return disks(300, seed=1), disks(300, seed=2)


def test_a_set_against_itself_is_exactly_zero(sets):
    a, _ = sets
    out = swd(a, a.clone(), cfg=FAST)
    assert set(out) == {"swd", "swd_32", "swd_16"}
    assert all(v == 0.0 for v in out.values()), out


def test_two_draws_are_close_and_noise_is_far(sets):
    a, b = sets
    same = swd(a, b, cfg=FAST)["swd"]
    noise = swd(torch.randint(0, 256, a.shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0)),
                b, cfg=FAST)["swd"]
    assert 0 < same < 60 and noise > 8 * same, (same, noise)


def test_grows_with_blur(sets):
    a, b = sets
    values = [swd(blur(b, s), a, cfg=FAST) for s in (0, 1, 2)]
    assert values[0]["swd"] < values[1]["swd"] < values[2]["swd"], values
    assert values[0]["swd_32"] < values[1]["swd_32"] < values[2]["swd_32"], values   # the finest level most


def test_symmetric_and_deterministic(sets):
    a, b = sets
    ab, ba = swd(a, b, cfg=FAST), swd(b, a, cfg=FAST)
    assert ab == ba                                              # equal sizes: the same sorted differences
    uneven, uneven_back = swd(a[:150], b, cfg=FAST)["swd"], swd(b, a[:150], cfg=FAST)["swd"]
    assert uneven == pytest.approx(uneven_back, rel=1e-6)
    assert swd(a, b, seed=3, cfg=FAST) == swd(a, b, seed=3, cfg=FAST)
    assert swd(a, b, seed=3, cfg=FAST)["swd"] == pytest.approx(ab["swd"], rel=0.5)   # another draw, alike


def test_descriptors_are_normalised_per_channel_and_level(sets):
    a, _ = sets
    levels = descriptors(a[:50], cfg=FAST)
    assert [tuple(d.shape) for d in levels] == [(50 * 32, 3 * 49)] * 2
    per_channel = levels[0].reshape(-1, 7, 7, 3)
    assert torch.allclose(per_channel.mean(dim=(0, 1, 2)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(per_channel.std(dim=(0, 1, 2), unbiased=False), torch.ones(3), atol=1e-4)


def test_the_pyramid_adds_back_up_to_the_image():
    x = torch.rand(2, 3, 64, 64)
    levels = laplacian_pyramid(x, 3)
    assert [lv.shape[-1] for lv in levels] == [64, 32, 16]
    from gankit.metrics.swd import _blur
    rebuilt = levels[-1]
    for lv in reversed(levels[:-1]):
        up = torch.zeros(*rebuilt.shape[:2], rebuilt.shape[2] * 2, rebuilt.shape[3] * 2)
        up[:, :, ::2, ::2] = rebuilt
        rebuilt = lv + _blur(up, 4.0)
    assert torch.allclose(rebuilt, x, atol=1e-5)


def test_levels_and_small_images():
    assert resolutions(64) == [64, 32, 16] and resolutions(28) == [28] and resolutions(16) == [16]
    tiny = torch.zeros(4, 3, 8, 8, dtype=torch.uint8)
    with pytest.raises(GankitError, match="these images are 8 px") as e:
        swd(tiny, tiny)
    assert "\n" not in str(e.value)
    with pytest.raises(GankitError, match="one shape"):
        swd(tiny, torch.zeros(4, 1, 8, 8, dtype=torch.uint8))


def test_registered_needs_no_network_and_lower_is_better(sets):
    info = METRICS.info("swd")
    assert info.reference and not info.features
    assert {o.key: o.better for o in info.outputs}["swd"] == "lower"
    a, b = sets
    real = Samples(a, "real", key=None)
    ev = Evaluator(["swd"], real=real)
    first = ev(from_array(b, "generated"))
    assert first["swd"] == pytest.approx(swd(b, a)["swd"])
    assert ev(from_array(b, "generated")) == first                  # the reference's descriptors kept
    assert len(real.info["swd_descriptors"]) == 1
    with pytest.raises(GankitError, match="shape"):
        ev(from_array(b[:, :, :16, :16], "generated"))


def test_gankit_eval_swd_on_a_folder(tmp_path, capsys):
    from PIL import Image
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, im in enumerate(disks(40, seed=5)):
        Image.fromarray(im.permute(1, 2, 0).numpy()).save(folder / f"{i:03d}.png")
    samples = tmp_path / "s.npy"
    np.save(samples, disks(40, seed=6).numpy())
    assert main(["eval", "--samples", str(samples), "--data", str(folder), "--metrics", "swd", "--json"]) == 0
    import json
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 < out["swd"] < 200 and {"swd_32", "swd_16"} <= set(out) and "features" not in out
