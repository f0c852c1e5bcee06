"""The emoji source (data/emoji.py), offline: a fake npm package and tarball written here. Also the data options
that came with it: data.mirror (the dataset doubled by horizontal flips) and data.channels left unset (the
source's own channels; a grayscale folder stays grayscale)."""
from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gankit.data.emoji as emoji
from gankit.config import DataConfig
from gankit.data import data_shape, dataset_info, load_data
from gankit.data.base import ImageData
from gankit.errors import GankitError


def write_package(root: Path, n: int = 5) -> Path:
    """root/package/img/google/64/ with n RGBA emoji, one damaged PNG, and a sprite sheet to ignore."""
    d = root / "package" / emoji.PNG_DIR
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    half = np.zeros((64, 64, 4), np.uint8)
    half[:, 32:] = (255, 0, 0, 128)                       # left: transparent; right: red at half opacity
    Image.fromarray(half, "RGBA").save(d / "0000-half.png")
    for i in range(1, n):
        Image.fromarray(rng.integers(0, 256, (64, 64, 4), dtype=np.uint8), "RGBA").save(d / f"{i:04x}.png")
    (d / "ffff-broken.png").write_bytes(b"not a png")
    sheets = root / "package" / "img" / "google" / "sheets"
    sheets.mkdir(parents=True)
    Image.new("RGBA", (128, 128)).save(sheets / "sheet.png")
    return root / "package"


@pytest.fixture
def fake_npm(tmp_path, monkeypatch):
    """npm_pack returns a fresh copy of a fake package (the loader deletes what npm_pack unpacked)."""
    source = write_package(tmp_path / "source")
    calls = []

    def npm_pack(package, verbose):
        calls.append(package)
        tmp = tmp_path / f"npm-{len(calls)}"
        shutil.copytree(source, tmp / "package")
        return tmp / "package"
    monkeypatch.setattr(emoji, "npm_pack", npm_pack)
    return calls


def test_fetch_composites_over_white_and_caches(fake_npm, tmp_path, monkeypatch):
    data = load_data(DataConfig(name="emoji", resolution=64), verbose=False)
    assert fake_npm == [emoji.PACKAGE] and not (tmp_path / "npm-1").exists()   # unpacked package deleted
    assert data.images.shape == (5, 3, 64, 64) and data.images.dtype == torch.uint8  # the damaged PNG skipped
    first = data.images[0].int()
    assert (first[:, :, :32] == 255).all()                                   # transparent -> white
    assert (first[0, :, 32:] == 255).all() and ((first[1:, :, 32:] - 127).abs() <= 1).all()  # red over white
    monkeypatch.setattr(emoji, "npm_pack", lambda *a: pytest.fail("the cache should be used"))
    again = load_data(DataConfig(name="emoji", resolution=64), verbose=False)
    assert torch.equal(again.images, data.images)


def test_tarball_in_data_root(tmp_path, monkeypatch):
    monkeypatch.setattr(emoji, "npm_pack", lambda *a: pytest.fail("data.root holds the package"))
    pkg = write_package(tmp_path / "unpacked")
    root = tmp_path / "root"
    root.mkdir()
    with tarfile.open(root / emoji.TARBALL, "w:gz") as tar:
        tar.add(pkg, arcname="package")
    data = load_data(DataConfig(name="emoji", root=str(root), resolution=32), verbose=False)
    assert data.images.shape == (5, 3, 32, 32)                               # the sprite sheet is not an emoji
    unpacked = load_data(DataConfig(name="emoji", root=str(tmp_path / "unpacked"), resolution=32), verbose=False)
    assert torch.equal(unpacked.images, data.images)


def test_resolution_channels_and_descriptor(fake_npm):
    assert load_data(DataConfig(name="emoji", resolution=128), verbose=False).images.shape == (5, 3, 128, 128)
    assert load_data(DataConfig(name="emoji", resolution=32, channels=1), verbose=False).shape == (1, 32, 32)
    with pytest.raises(GankitError, match="8 to 128"):
        load_data(DataConfig(name="emoji", resolution=256), verbose=False)
    info = dataset_info(DataConfig(name="emoji"))
    assert info.kind == "image" and info.features == "inception" and info.metrics == ("kid", "fid", "memorisation")
    assert data_shape(DataConfig(name="emoji", resolution=64)) == (3, 64, 64)


def test_missing_package_is_one_line(monkeypatch):
    monkeypatch.setattr(emoji, "npm_pack", lambda *a: None)
    with pytest.raises(GankitError) as e:
        load_data(DataConfig(name="emoji", resolution=32), verbose=False)
    assert "npm pack emoji-datasource-google@16.0.0" in str(e.value) and "\n" not in str(e.value)


def test_mirror_doubles_the_dataset(fake_npm):
    data = load_data(DataConfig(name="emoji", resolution=32, mirror=True), verbose=False)
    n = data.images.shape[0]
    assert len(data) == 2 * n and data.shape == (3, 32, 32)
    x = data.batch(torch.arange(2 * n))                                      # one pass: each image, each way
    assert torch.equal(x[n:], x[:n].flip(-1)) and not torch.equal(x[n:], x[:n])
    assert torch.equal(data.batch(torch.tensor([1])), ImageData(data.images).batch(torch.tensor([1])))
    with pytest.raises(GankitError, match="data.mirror"):
        load_data(DataConfig(name="ring-2d", mirror=True), verbose=False)


def _folder(path: Path, modes) -> Path:
    path.mkdir()
    rng = np.random.default_rng(1)
    for i, mode in enumerate(modes):
        arr = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
        Image.fromarray(arr).convert(mode).save(path / f"{i:02d}.png")
    return path


def test_channels_follow_the_folder_unless_set(tmp_path, tiny_mnist):
    gray = _folder(tmp_path / "gray", ["L"] * 7 + ["LA"])
    Image.fromarray(np.full((8, 8), 7, np.uint8)).convert("P").save(gray / "palette.png")  # a palette of greys
    colour = _folder(tmp_path / "colour", ["L"] * 7 + ["RGB"])
    common = dict(name="folder", resolution=16)
    assert load_data(DataConfig(path=str(gray), **common), verbose=False).shape == (1, 16, 16)
    assert data_shape(DataConfig(path=str(gray), **common)) == (1, 16, 16)
    assert load_data(DataConfig(path=str(colour), **common), verbose=False).shape == (3, 16, 16)
    assert data_shape(DataConfig(path=str(colour), **common)) == (3, 16, 16)
    assert load_data(DataConfig(path=str(gray), channels=3, **common), verbose=False).shape == (3, 16, 16)
    assert load_data(DataConfig(name="mnist", root=str(tiny_mnist)), verbose=False).shape == (1, 28, 28)
    with pytest.raises(GankitError, match="data.channels"):
        data_shape(DataConfig(path=str(tmp_path / "gone"), **common))
