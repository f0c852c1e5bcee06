"""Dataset descriptors: every source has one, its shape agrees with what the loader returns on tiny data, and
the rest of gankit (evaluation defaults, pictures, reports, the diagnoser's classifier, the benchmark) follows it."""
import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from gankit import api
from gankit.artifacts import PICTURES, REPORTS, save_picture
from gankit.bench import mode_metrics
from gankit.config import DataConfig, load_config
from gankit.data import SOURCES, DatasetInfo, ToyData, data_shape, dataset_info, dataset_name, load_data
from gankit.data.info import PICTURES as PICTURE_KINDS
from gankit.diagnose.probes import _classifier
from gankit.errors import GankitError
from gankit.metrics import EXTRACTORS, METRICS, default_features, default_metrics, evaluate
from gankit.metrics.classifier import weights_path
from gankit.metrics.sources import data_config


def write_folder(path, n=3):
    path.mkdir()
    for i in range(n):
        Image.fromarray(np.full((20 + i, 24, 3), 40 * i, np.uint8)).save(path / f"{i}.png")
    return path


def write_emoji(tmp_path, n=3):
    """An unpacked emoji package holding n 64x64 RGBA PNGs."""
    d = tmp_path / "emoji-root" / "package" / "img" / "google" / "64"
    d.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.full((64, 64, 4), 60 * i, np.uint8)).save(d / f"{i}.png")
    return tmp_path / "emoji-root"


def root_for(name, tmp_path, tiny_mnist, tiny_cifar):
    """The tiny data folder a source with files reads (data.root)."""
    return str({"cifar10": lambda: tiny_cifar, "emoji": lambda: write_emoji(tmp_path)}.get(name, lambda: tiny_mnist)())


# One tiny-data case per registered source: a function (tmp_path, tiny_mnist, tiny_cifar) -> DataConfigs.
CASES = {
    "mnist": lambda t, m, c: [DataConfig(name="mnist", root=str(m), channels=1, resolution=28),
                              DataConfig(name="mnist", root=str(m), channels=3, resolution=32)],
    "fashion": lambda t, m, c: [DataConfig(name="fashion", root=str(m), channels=1, resolution=32)],  # same idx format
    "stacked-mnist": lambda t, m, c: [DataConfig(name="stacked-mnist", root=str(m), channels=3, resolution=28)],
    "cifar10": lambda t, m, c: [DataConfig(name="cifar10", root=str(c), channels=3, resolution=32),
                                DataConfig(name="cifar10", root=str(c), channels=1, resolution=28)],
    "folder": lambda t, m, c: [DataConfig(name="folder", path=str(write_folder(t / "pics")), channels=3,
                                          resolution=32, min_images=1)],
    "emoji": lambda t, m, c: [DataConfig(name="emoji", root=str(write_emoji(t)), channels=3, resolution=32)],
    "gaussian-1d": lambda t, m, c: [DataConfig(name="gaussian-1d", dim=7), DataConfig(name="gaussian-1d", dim=1)],
    "ring-2d": lambda t, m, c: [DataConfig(name="ring-2d")],
    "grid-2d": lambda t, m, c: [DataConfig(name="grid-2d")],
}


def item_shape(data, info):
    if info.kind == "image":
        return tuple(data.batch(torch.arange(2)).shape[1:])
    return tuple(data.sample(3, torch.Generator().manual_seed(0)).shape[1:])


@pytest.mark.parametrize("name", SOURCES.names())
def test_each_source_shape_agrees_with_its_loader(name, tmp_path, tiny_mnist, tiny_cifar):
    if name not in CASES:
        pytest.fail(f"source {name!r} has no tiny-data case in CASES: add one")
    info = SOURCES.info(name)
    for cfg in CASES[name](tmp_path, tiny_mnist, tiny_cifar):
        data = load_data(cfg, verbose=False)
        assert data.kind == info.kind
        assert info.shape(cfg) == data_shape(cfg) == tuple(data.shape) == item_shape(data, info)


@pytest.mark.parametrize("name", [n for n in SOURCES.names() if SOURCES.info(n).native])
def test_native_shape_is_what_a_dataset_spec_loads(name, tmp_path, tiny_mnist, tiny_cifar):
    cfg = data_config(name, "test")
    cfg.root = root_for(name, tmp_path, tiny_mnist, tiny_cifar)
    assert tuple(load_data(cfg, verbose=False).shape) == SOURCES.info(name).native


@pytest.mark.parametrize("name", SOURCES.names())
def test_each_descriptor_names_registered_parts(name):
    info = SOURCES.info(name)
    assert set(info.metrics) <= set(METRICS.names()), info.metrics
    assert info.features in EXTRACTORS
    assert PICTURES.get(info.picture)
    assert not info.report or REPORTS.get(info.report)
    if info.classifier:
        assert info.classifier in EXTRACTORS and weights_path(info.classifier).is_file()
    if info.modes:
        assert set(info.metrics) & {"modes", "stacked"}, "a mode benchmark is scored by a mode metric"


def test_exactly_one_folder_source_and_path_selects_it():
    assert [n for n in SOURCES.names() if SOURCES.info(n).folder] == ["folder"]
    assert dataset_name(DataConfig(name="cifar10", path="x")) == "folder"
    assert dataset_name(DataConfig(name="ring-2d", path="x")) == "ring-2d"        # toy data ignore data.path
    assert dataset_info(DataConfig(name="mnist", path="x")).features == "inception"
    with pytest.raises(GankitError, match="did you mean 'mnist'"):
        dataset_info(DataConfig(name="mnsit"))


def test_descriptor_rejects_unknown_kinds():
    with pytest.raises(ValueError, match="kind"):
        DatasetInfo(kind="audio", shape=lambda c: (1,), picture="grid", features="identity", metrics=("fid",))
    with pytest.raises(ValueError, match="picture"):
        DatasetInfo(kind="image", shape=lambda c: (1,), picture="movie", features="identity", metrics=("fid",))
    with pytest.raises(TypeError, match="metrics"):
        DatasetInfo(kind="image", shape=lambda c: (1,), picture="grid", features="identity", metrics=["fid"])


@pytest.mark.parametrize("name", SOURCES.names())
def test_evaluation_defaults_are_the_descriptors(name):
    info = SOURCES.info(name)
    assert default_metrics(name, info.kind) == list(info.metrics)
    assert default_features(name, info.kind) == info.features


def test_evaluate_follows_a_changed_descriptor(monkeypatch):
    """evaluate() with no metrics named computes what the descriptor says, not what the name suggests."""
    ring = load_data(DataConfig(name="ring-2d"), verbose=False).sample(600, torch.Generator().manual_seed(1))
    assert "modes" in evaluate(ring, data="ring-2d", verbose=False)
    changed = dataclasses.replace(SOURCES.info("ring-2d"), metrics=("fid",))
    monkeypatch.setitem(SOURCES._infos, "ring-2d", changed)
    out = evaluate(ring, data="ring-2d", verbose=False)
    assert "modes" not in out and out["fid_identity"] < 0.05 and out["features"] == "identity"


def test_a_new_dataset_is_one_registration(monkeypatch, tmp_path):
    """A source registered with its descriptor loads, sizes, draws and evaluates with no other change."""
    corners = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])

    def triangle(cfg, verbose=True):
        def sample(n, g):
            return corners[torch.randint(3, (n,), generator=g)] + 0.02 * torch.randn(n, 2, generator=g)
        return ToyData(sample, 2, cfg.epoch_size, "triangle-2d", modes=corners, mode_std=0.02)

    info = DatasetInfo(kind="vector", shape=lambda cfg: (2,), picture="scatter-2d", features="identity",
                       metrics=("modes",), modes=True)
    monkeypatch.setitem(SOURCES._items, "triangle-2d", triangle)
    monkeypatch.setitem(SOURCES._infos, "triangle-2d", info)
    cfg = DataConfig(name="triangle-2d")
    data = load_data(cfg, verbose=False)
    assert data_shape(cfg) == (2,)
    out = evaluate(data.sample(2500, torch.Generator().manual_seed(2)), data="triangle-2d", verbose=False)
    assert out["modes"] == 3 and out["modes_total"] == 3 and out["hq"] > 0.95
    trainer = SimpleNamespace(cfg=SimpleNamespace(data=cfg, train=SimpleNamespace(seed=0)), data=data,
                              generate=lambda n, seed=0: data.sample(n, torch.Generator().manual_seed(seed)))
    save_picture(trainer, tmp_path / "s.png", "triangle")
    assert Image.open(tmp_path / "s.png").size[0] > 100


@pytest.mark.parametrize("picture", PICTURES.names())
def test_each_picture_kind_draws_a_registered_dataset(picture, tmp_path, tiny_mnist, tiny_cifar):
    assert picture in PICTURE_KINDS
    users = [n for n in SOURCES.names() if SOURCES.info(n).picture == picture]
    assert users, f"picture {picture!r} is drawn for no dataset"
    cfg = CASES[users[0]](tmp_path, tiny_mnist, tiny_cifar)[0]
    data = load_data(cfg, verbose=False)
    shape = data_shape(cfg)

    def generate(n, seed=0, z=None, labels=None):
        x = torch.rand(n, *shape, generator=torch.Generator().manual_seed(seed))
        return x * 2 - 1 if len(shape) == 3 else x
    trainer = SimpleNamespace(cfg=SimpleNamespace(data=cfg, train=SimpleNamespace(seed=0)), data=data,
                              generate=generate, fixed_z=torch.zeros(16, 8),
                              class_rows=lambda n: None)   # an unconditional run: no rows per class
    save_picture(trainer, tmp_path / "p.png", "t")
    assert Image.open(tmp_path / "p.png").size[0] >= 28


def test_the_descriptor_decides_the_end_of_run_report():
    def reports(preset):
        return [type(h).__name__ for h in api.default_hooks(load_config(preset))
                if type(h) in dict(REPORTS.items()).values()]
    assert reports("gaussian-1d") == ["ToyReportHook"]
    assert reports("ring-2d") == reports("mnist-mlp") == []


@pytest.mark.parametrize("name", SOURCES.names())
def test_diagnoser_classifier_follows_the_descriptor(name):
    info = SOURCES.info(name)
    classify = _classifier(info)
    if info.classifier is None:
        assert classify is None
        return
    x = torch.rand(4, info.native[0], 28, 28) * 2 - 1
    ids = classify(x)
    assert ids.shape == (4,) and int(ids.max()) < (1000 if info.native[0] == 3 else 10)


def test_bench_refuses_a_preset_without_modes_before_training():
    assert mode_metrics("ring-2d") == ["modes"]
    assert mode_metrics("stacked-mnist-dcgan") == ["stacked"]
    with pytest.raises(GankitError, match="no modes to count; choose presets on grid-2d, ring-2d, stacked-mnist"):
        mode_metrics("mnist-mlp")


def test_colour_references_keep_three_channels():
    like = SimpleNamespace(kind="image", x=torch.zeros(2, 1, 32, 32, dtype=torch.uint8))
    assert (data_config("stacked-mnist", like=like).channels, data_config("mnist", like=like).channels) == (3, 1)
    assert data_config("mnist", like=like).resolution == 32
