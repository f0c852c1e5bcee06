import pytest

from gankit.config import RunConfig, apply_overrides, config_diff, load_config, preset_names
from gankit.errors import GankitError
from gankit.registry import Registry


def test_every_preset_loads_and_has_a_description():
    names = preset_names()
    for required in ["mnist-mlp", "gaussian-1d", "mnist-dcgan", "cifar10-frog-dcgan", "folder-dcgan", "ring-2d", "grid-2d"]:
        assert required in names
    for n in names:
        cfg = load_config(n)
        assert cfg.name == n
        assert cfg.description


def test_lesson_001_numbers():
    cfg = load_config("mnist-mlp")
    assert cfg.model.latent_dim == 128 and cfg.model.g_hidden == [256, 512, 1024]
    assert cfg.model.d_hidden == [1024, 512, 256] and cfg.model.d_dropout == 0.3 and cfg.model.leak == 0.2
    assert cfg.train.batch_size == 512 and cfg.train.epochs == 200 and cfg.train.lr_g == cfg.train.lr_d == 2e-4
    assert cfg.train.d_steps == 1 and cfg.loss.name == "bce"


def test_overrides_parse_types():
    cfg = apply_overrides(RunConfig(), ["train.lr_d=1e-4", "train.steps=7", "train.auto_remedy=true",
                                        "data.classes=6", "model.g_hidden=[8, 16]", "data.path=/x/y"])
    assert cfg.train.lr_d == 1e-4 and cfg.train.steps == 7 and cfg.train.auto_remedy is True
    assert cfg.data.classes == [6] and cfg.model.g_hidden == [8, 16] and cfg.data.path == "/x/y"


@pytest.mark.parametrize("item,words", [
    ("train.lr=1e-4", "did you mean"),
    ("train.steps=abc", "whole number"),
    ("train.lr_d=fast", "number"),
    ("train.auto_remedy=maybe", "true or false"),
    ("nosection.x=1", "unknown config key"),
    ("train.steps", "KEY=VALUE"),
])
def test_bad_overrides_are_clear_errors(item, words):
    with pytest.raises(GankitError, match=words):
        apply_overrides(RunConfig(), [item])


def test_unknown_preset_suggests():
    with pytest.raises(GankitError, match="did you mean 'mnist-mlp'"):
        load_config("mnist-mpl")


def test_config_diff_names_keys():
    a = RunConfig().to_dict()
    b = apply_overrides(RunConfig(), ["train.lr_d=0.1", "model.name=dcgan"]).to_dict()
    assert config_diff(a, b) == ["model.name", "train.lr_d"]


def test_registry_did_you_mean():
    r = Registry("thing")
    r.register("hinge")(1)
    assert r.get("hinge") == 1
    with pytest.raises(GankitError, match="did you mean 'hinge'"):
        r.get("hnige")
