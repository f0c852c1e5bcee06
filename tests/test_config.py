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


# ---- ranges and choices (config.check_ranges: no registries needed) ----------------------------------------

import typing  # noqa: E402

from gankit.config import all_keys, get_value  # noqa: E402
from gankit.ranges import CHOICES, ITEM_RANGES, RANGES, check_ranges  # noqa: E402


@pytest.mark.parametrize("item,line", [
    ("train.batch_size=0", "train.batch_size must be an integer >= 1, got 0"),
    ("train.batch_size=-1", "train.batch_size must be an integer >= 1, got -1"),
    ("train.lr_d=-1", "train.lr_d must be a finite number > 0, got -1.0"),
    ("train.lr_d=nan", "train.lr_d must be a finite number > 0, got nan"),
    ("train.lr_g=.inf", "train.lr_g must be a finite number > 0, got inf"),
    ("train.lr_g=0", "train.lr_g must be a finite number > 0, got 0.0"),
    ("train.beta1=1.5", "train.beta1 must be a finite number in [0, 1), got 1.5"),
    ("train.beta2=1", "train.beta2 must be a finite number in [0, 1), got 1.0"),
    ("train.rms_alpha=-0.1", "train.rms_alpha must be a finite number in [0, 1), got -0.1"),
    ("train.eps=0", "train.eps must be a finite number > 0, got 0.0"),
    ("model.d_dropout=2", "model.d_dropout must be a finite number in [0, 1), got 2.0"),
    ("loss.label_flip=1.5", "loss.label_flip must be a finite number in [0, 1], got 1.5"),
    ("loss.real_label=0", "loss.real_label must be a finite number in (0, 1], got 0.0"),
    ("loss.r1=-1", "loss.r1 must be a finite number >= 0, got -1.0"),
    ("loss.gp=nan", "loss.gp must be a finite number >= 0, got nan"),
    ("train.ema=.inf", "train.ema must be a finite number >= 0, got inf"),
    ("loss.reg_every=0", "loss.reg_every must be an integer >= 1, got 0"),
    ("train.d_steps=0", "train.d_steps must be an integer >= 1, got 0"),
    ("train.steps=-5", "train.steps must be an integer >= 0, got -5"),
    ("train.threads=-2", "train.threads must be an integer >= 0, got -2"),
    ("train.seed=-1", "train.seed must be an integer in [0, 2**63), got -1"),
    ("checkpoint.every=0", "checkpoint.every must be an integer >= 1, got 0"),
    ("checkpoint.keep=0", "checkpoint.keep must be an integer >= 1, got 0"),
    ("log.every=0", "log.every must be an integer >= 1, got 0"),
    ("sample.n=0", "sample.n must be an integer >= 1, got 0"),
    ("sample.gif_frames=0", "sample.gif_frames must be an integer >= 1, got 0"),
    ("eval.n=1", "eval.n must be an integer >= 2, got 1"),
    ("model.latent_dim=0", "model.latent_dim must be an integer >= 1, got 0"),
    ("model.pack=0", "model.pack must be an integer >= 1, got 0"),
    ("model.g_channels=0", "model.g_channels must be an integer >= 1, got 0"),
    ("model.g_hidden=[64, 0]", "model.g_hidden must be a list of integers >= 1, got [64, 0]"),
    ("data.channels=2", "data.channels must be 1 or 3, got 2"),
    ("data.resolution=0", "data.resolution must be an integer >= 4, got 0"),
    ("data.limit=-1", "data.limit must be an integer >= 0, got -1"),
    ("data.min_images=0", "data.min_images must be an integer >= 1, got 0"),
    ("data.std=0", "data.std must be a finite number > 0, got 0.0"),
    ("data.dim=0", "data.dim must be an integer >= 1, got 0"),
    ("data.epoch_size=0", "data.epoch_size must be an integer >= 1, got 0"),
    ("data.classes=[-1]", "data.classes must be a list of integers >= 0, got [-1]"),
    ("data.split=val", "data.split must be train or test, got 'val'"),
    ("model.noise=gauss", "model.noise must be normal or uniform, got 'gauss'"),
    ("train.optimizer=adamw", "train.optimizer must be adam or rmsprop, got 'adamw' (did you mean 'adam'?)"),
    ("train.precision=fp8", "train.precision must be fp32 or bf16 or fp16, got 'fp8'"),
])
def test_out_of_range_values_are_one_line_naming_the_key(item, line):
    cfg = apply_overrides(RunConfig(), [item])
    with pytest.raises(GankitError) as e:
        check_ranges(cfg)
    assert str(e.value) == line


def test_pairs_that_cannot_train():
    with pytest.raises(GankitError, match="train.steps and train.epochs are both 0.*train.steps=N"):
        check_ranges(apply_overrides(RunConfig(), ["train.steps=0", "train.epochs=0"]))
    with pytest.raises(GankitError, match=r"train.batch_size=30 must be a multiple of model.pack=4"):
        check_ranges(apply_overrides(RunConfig(), ["train.batch_size=30", "model.pack=4"]))
    with pytest.raises(GankitError, match="fp16 needs a CUDA GPU"):
        check_ranges(apply_overrides(RunConfig(), ["train.precision=fp16", "train.device=cpu"]))


def test_several_problems_share_one_line():
    cfg = apply_overrides(RunConfig(), ["train.batch_size=0", "train.lr_d=nan", "data.channels=2", "log.every=0",
                                        "sample.n=0"])
    with pytest.raises(GankitError) as e:
        check_ranges(cfg)
    msg = str(e.value)
    assert "\n" not in msg and "train.batch_size" in msg and msg.endswith("; and 2 more")


def test_edges_of_each_range_are_accepted():
    cfg = apply_overrides(RunConfig(), ["train.beta1=0", "train.beta2=0.999999", "model.d_dropout=0",
                                        "loss.real_label=1", "loss.label_flip=1", "train.steps=0", "train.epochs=1",
                                        "data.resolution=4", "eval.n=2", "train.threads=0", "data.limit=0",
                                        f"train.seed={2 ** 63 - 1}", "data.classes=[0, 9]"])
    assert check_ranges(cfg) is cfg


def test_every_preset_is_in_range():
    for n in preset_names():
        check_ranges(load_config(n))


def test_every_number_and_choice_has_a_range():
    """A field added without a range would escape validation: each int/float/list-of-int field needs one."""
    cfg = RunConfig()
    for key in all_keys():
        section, name = key.split(".")
        typ = typing.get_type_hints(type(getattr(cfg, section)))[name]
        if typ in (int, float):
            assert key in RANGES or key in CHOICES, f"{key} ({typ.__name__}) has no entry in ranges.RANGES"
        elif typing.get_origin(typ) is list and typing.get_args(typ)[0] is int:
            assert key in ITEM_RANGES, f"{key} has no entry in ranges.ITEM_RANGES"
        if key in RANGES:  # the default itself is in range
            assert RANGES[key].accepts(get_value(cfg, key)), key
    for key in list(RANGES) + list(ITEM_RANGES) + list(CHOICES):
        assert key in all_keys(), f"{key} in the range tables is not a config key"


# ---- --set parsing and reading config files --------------------------------------------------------------

@pytest.mark.parametrize("item,words", [
    ("train.seed=2001-13-45", "whole number"),          # YAML reads it as a date and fails: it stays text
    ("model.g_hidden=[", "whole number"),
    ("model.g_hidden=1,[", "whole number"),
    ("train.lr_d=!!python/object:os.system x", "expects a number"),
    ("train.lr_d=*x", "expects a number"),
])
def test_values_yaml_cannot_read_are_plain_errors(item, words):
    with pytest.raises(GankitError, match=words):
        apply_overrides(RunConfig(), [item])


def test_a_directory_without_config_json_is_not_called_a_preset(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(GankitError) as e:
        load_config(str(tmp_path / "run"))
    assert "directory without config.json" in str(e.value) and "unknown preset" not in str(e.value)


@pytest.mark.parametrize("content,words", [
    (b"train:\n  steps: 5\n  name: caf\xe9\n", "is not UTF-8 text (byte 0xe9 at offset 29)"),
    (b"- 1\n- 2\n", "must be a mapping of sections"),
    (b"just text\n", "must be a mapping of sections"),
    (b"train: [1,\n", "is not valid YAML"),
    (b"train: {seed: 2001-13-45}\n", "is not valid YAML"),
])
def test_bad_config_files_are_one_line(tmp_path, content, words):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(GankitError) as e:
        load_config(str(path))
    assert words in str(e.value) and "\n" not in str(e.value)
