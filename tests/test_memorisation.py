"""The memorisation check (metrics/memorisation.py) on constructed sets: copies -> ~0, new images -> ~1."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from gankit.errors import GankitError
from gankit.metrics.evaluate import Evaluator
from gankit.metrics.memorisation import memorisation, nearest
from gankit.metrics.sources import Samples


def smooth_images(n: int, seed: int, c: int = 3, size: int = 32) -> torch.Tensor:
    """n uint8 images from one distribution: 6x6 Gaussian noise, bilinearly upsampled (blobs of colour)."""
    g = torch.Generator().manual_seed(seed)
    low = torch.randn(n, c, 6, 6, generator=g)
    x = F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)
    return ((x.tanh() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def test_exact_copies_score_near_zero(tmp_path):
    train = smooth_images(300, seed=0)
    copies = train[torch.randperm(300, generator=torch.Generator().manual_seed(1))[:100]]
    as_float = copies.float() / 127.5 - 1                               # G's scale, [-1, 1]
    r = memorisation(as_float, train, out_png=tmp_path / "memorisation.png")
    assert r["memorisation"] < 0.05 and r["nn_sample_median"] < 1e-6    # 0 up to float rounding
    assert r["n_samples"] == 100 and r["n_train"] == 300 and r["resolution"] == 32
    with Image.open(tmp_path / "memorisation.png") as img:            # 32 pairs, 4 (sample | nearest) a row
        panel = torch.from_numpy(np.array(img.convert("RGB")))
    assert panel.shape[:2] == (2 * (8 * 34 + 2), 2 * (4 * 66 + 2))   # 32-px images shown at 2x, 2-px gaps
    left, right = panel[4:68, 4:68], panel[4:68, 68:132]              # the first pair: a copy and its source
    assert torch.equal(left, right)


def test_held_out_images_score_near_one():
    train, held = smooth_images(400, seed=0), smooth_images(200, seed=1)
    r = memorisation(held, train)
    assert 0.7 < r["memorisation"] < 1.3
    assert 0 < r["nn_sample_median"] < 1


def test_near_copies_and_mirrors():
    train = smooth_images(300, seed=0)
    noisy = (train[:100].float() + torch.randn(100, 3, 32, 32, generator=torch.Generator().manual_seed(2)) * 4)
    r = memorisation(noisy.clamp(0, 255).to(torch.uint8), train)
    assert r["memorisation"] < 0.5                                     # pixel noise does not hide a copy
    flipped = train[:100].flip(-1)
    assert memorisation(flipped, train)["memorisation"] > 0.5          # mirrored copies look new ...
    assert memorisation(flipped, train, mirror=True)["memorisation"] < 0.05  # ... unless the mirrors count


def test_larger_images_are_compared_at_32_px():
    train = smooth_images(200, seed=0, size=64)
    r = memorisation(train[:50], train)
    assert r["resolution"] == 32 and r["memorisation"] == 0.0


def test_nearest_excludes_self():
    ref = torch.tensor([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    d, idx = nearest(ref, ref, exclude=torch.arange(3))
    assert idx.tolist() == [1, 0, 1] and d[0].item() == pytest.approx(1.0)


def test_mismatched_inputs_are_refused():
    with pytest.raises(GankitError, match="channel"):
        memorisation(smooth_images(10, 0, c=1), smooth_images(10, 1, c=3))
    with pytest.raises(GankitError, match="N, C, H, W"):
        memorisation(torch.zeros(10, 2), smooth_images(10, 1))


def test_registered_metric():
    train, held = smooth_images(300, seed=0), smooth_images(100, seed=1)
    ev = Evaluator(["memorisation"], real=Samples(train, "train"))
    assert ev(Samples(train[:50], "copies"))["memorisation"] < 0.05
    assert 0.7 < ev(Samples(held, "held-out"))["memorisation"] < 1.3
    with pytest.raises(GankitError, match="compare"):
        Evaluator(["memorisation"])                                    # needs the training images
