"""What a dry run says beside the config: where the run goes, what it trains to, about how long, what it needs;
and the default run directory of a folder recipe, named after the folder."""
from pathlib import Path

import pytest

from gankit import api
from gankit.cli import main
from gankit.cli.dryrun import dry_run_lines, total_steps
from gankit.config import apply_overrides, load_config


def dry_run(argv, capsys):
    assert main(["train", *argv, "--dry-run"]) == 0
    return [line[2:] for line in capsys.readouterr().err.splitlines()[1:]]


def test_a_folder_run_is_named_after_its_folder_so_two_projects_do_not_collide(tmp_path, capsys):
    for name in ("my photos", "cats"):
        (tmp_path / name).mkdir()
    a = api.default_run_dir("folder-64", api.resolve_config("folder-64", [f"data.path={tmp_path / 'my photos'}"]))
    b = api.default_run_dir("folder-64", api.resolve_config("folder-64", [f"data.path={tmp_path / 'cats'}/"]))
    assert (a, b) == (Path("runs/folder-64-my-photos"), Path("runs/folder-64-cats"))
    assert api.default_run_dir("mnist-mlp", api.resolve_config("mnist-mlp")) == Path("runs/mnist-mlp")
    lines = dry_run(["folder-64", "--no-time", "--set", f"data.path={tmp_path / 'cats'}"], capsys)
    assert lines[0] == "run directory: runs/folder-64-cats"


def test_dry_run_says_resolution_time_and_needs(tmp_path, capsys):
    lines = dry_run(["ring-2d", "--out", str(tmp_path / "r"), "--set", "train.steps=200", "train.threads=1"], capsys)
    assert lines[0] == f"run directory: {tmp_path / 'r'}"
    assert lines[1] == "samples: vectors of 2 numbers"
    assert lines[2].startswith("time: about ") and "for 200 steps, from 3 steps timed here" in lines[2]
    assert lines[3] == "needs: nothing from outside"
    lines = dry_run(["folder-64", "--no-time"], capsys)
    assert "images: ends at 64x64 px" in lines[1] and "grown from 8 px" in lines[1]
    assert any(line.startswith("weights: the FID Inception network") for line in lines)
    assert lines[-1].startswith("note: data.path is not set")
    lines = dry_run(["mnist-mlp", "--no-time"], capsys)
    assert lines[2].startswith("data: mnist, read from") and not any(line.startswith("time") for line in lines)


def test_a_run_directory_that_holds_a_run_says_resume(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    lines = dry_run(["ring-2d", "--no-time", "--out", str(tmp_path)], capsys)
    assert lines[0].endswith("(holds a run: --resume continues it)")


def test_the_length_of_a_run_is_the_trainers():
    cfg = load_config("ring-2d")
    assert total_steps(apply_overrides(cfg, ["train.steps=0", "train.epochs=3", "data.epoch_size=1000",
                                             "train.batch_size=100", "train.d_steps=2"])) == 3 * 5
    assert total_steps(load_config("mnist-mlp")) is None           # an image epoch needs the number of images


def test_a_missing_folder_is_an_error_in_a_dry_run_too(tmp_path):
    from gankit.errors import GankitError
    cfg = api.resolve_config("folder-64", [f"data.path={tmp_path / 'gone'}"])
    with pytest.raises(GankitError, match="is not an existing folder"):
        dry_run_lines("folder-64", cfg, None)
