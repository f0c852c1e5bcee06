"""Shared fixtures: tiny real-format data files written by the tests themselves (no network, no user cache)."""
from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own empty data cache, so nothing reads or writes the user's."""
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def digit_images(n: int, seed: int = 0) -> np.ndarray:
    """n 28x28 uint8 images: a bright bar at a random place on black (cheap, but not constant)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):
        r, c = rng.integers(4, 20, size=2)
        x[i, r:r + 6, c:c + 3] = 255
    return x


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)


@pytest.fixture
def tiny_mnist(tmp_path) -> Path:
    """A folder with the four MNIST idx files (64 train, 32 test images)."""
    root = tmp_path / "mnist-root"
    root.mkdir()
    for split, n in (("train", 64), ("t10k", 32)):
        write_idx(root / f"{split}-images-idx3-ubyte", digit_images(n, seed=n), compress=(split == "train"))
        write_idx(root / f"{split}-labels-idx1-ubyte", np.arange(n) % 10)
    return root


@pytest.fixture
def tiny_cifar(tmp_path) -> Path:
    """CIFAR-10 python batches in the official format (20 images per batch)."""
    return write_cifar(tmp_path / "cifar-root")


def write_cifar(root: Path, rng=None) -> Path:
    """root/cifar-10-batches-py with the six batches of the official format, 20 random images each (from ``rng``,
    default a fresh generator seeded 0)."""
    batches = root / "cifar-10-batches-py"
    batches.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0) if rng is None else rng
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8),
                 b"labels": [int(v) for v in rng.integers(0, 10, 20)]}
        with open(batches / name, "wb") as f:
            pickle.dump(batch, f)
    return root


TINY = ["log.progress=false", "checkpoint.every=1000", "sample.every=0"]
