"""The folder presets (folder-64, folder-128) and the colour demo (emoji-64): one training step each on tiny data
written here, the resolution their names promise, a CPU-sized periodic evaluation, and `gankit presets` lists them."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from conftest import TINY
from PIL import Image
from test_emoji import write_package

from gankit import api
from gankit.cli import main
from gankit.config import PRESET_DIR, load_config

FOLDER_PRESETS = {"folder-64": 64, "folder-128": 128}
NEW = {**FOLDER_PRESETS, "emoji-64": 64}
# one step at batch 8 with 4 grid images: what a preset builds and trains, not how well
STEP = TINY + ["train.steps=1", "train.batch_size=8", "sample.n=4", "train.diagnose=false", "train.threads=1",
               "eval.every=0"]


def _folder(root, size: int, n: int = 12, grey: bool = False):
    """n images of size x size (RGB, or L) with a coloured disc at a random place: cheap, not constant."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(size)
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        img = np.full((size, size, 3), 255, np.uint8)
        cy, cx, r = rng.integers(size // 4, 3 * size // 4, 2).tolist() + [size // 5]
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(0, 256, 3)
        Image.fromarray(img).convert("L" if grey else "RGB").save(root / f"{i:02d}.png")
    return root


@pytest.mark.parametrize("preset", sorted(FOLDER_PRESETS))
def test_folder_preset_trains_one_step(preset, tmp_path):
    size = FOLDER_PRESETS[preset]
    imgs = _folder(tmp_path / "imgs", size)
    run = api.train(preset, STEP + [f"data.path={imgs}"], out=str(tmp_path / preset), verbose=False)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["step"] == 1 and np.isfinite(rows[0]["loss_d"]) and np.isfinite(rows[0]["loss_g"])
    x = api.load_run(run).generate(3)
    assert x.shape == (3, 3, size, size) and x.abs().max() <= 1


def test_folder_64_keeps_a_grey_folder_grey(tmp_path):
    imgs = _folder(tmp_path / "grey", 48, grey=True)   # smaller than 64: resized up, still one channel
    run = api.train("folder-64", STEP + [f"data.path={imgs}"], out=str(tmp_path / "g"), verbose=False)
    assert api.load_run(run).generate(2).shape == (2, 1, 64, 64)


def test_emoji_preset_trains_one_step_on_a_tiny_package(tmp_path):
    package = write_package(tmp_path / "emoji-root", n=9)       # data.root holding the npm package: offline
    run = api.train("emoji-64", STEP + [f"data.root={package.parent}"], out=str(tmp_path / "e"), verbose=False)
    assert api.load_run(run).generate(2).shape == (2, 3, 64, 64)


@pytest.mark.parametrize("preset", sorted(NEW))
def test_preset_settings(preset):
    """The resolution in the name, the msg network, and an evaluation a CPU can afford (KID on 250 samples, SWD)."""
    cfg = load_config(preset)
    assert cfg.data.resolution == NEW[preset] and cfg.model.name == "msg"
    assert cfg.eval.every > 0 and cfg.eval.metrics == ["kid", "swd"] and cfg.eval.n == 250
    assert cfg.train.steps > 0 and cfg.eval.every <= cfg.train.steps
    raw = yaml.safe_load((PRESET_DIR / f"{preset}.yaml").read_text())
    if preset in FOLDER_PRESETS:
        assert cfg.data.name == "folder" and cfg.data.path is None and "channels" not in raw["data"]
        assert "data.path=DIR" in cfg.description
    else:
        assert cfg.data.name == "emoji"


def test_presets_command_lists_them(capsys):
    assert main(["presets"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert set(NEW) <= listed


def test_resuming_a_folder_run_after_the_folder_moved(tmp_path, capsys):
    imgs = _folder(tmp_path / "imgs", 32)
    run = api.train("folder-64", STEP + [f"data.path={imgs}", "data.resolution=32"], out=str(tmp_path / "r"),
                    verbose=False)
    moved = imgs.rename(tmp_path / "photos")
    capsys.readouterr()
    assert main(["train", str(run), "--resume", "--set", "train.steps=2"]) == 2
    line = capsys.readouterr().err.strip()
    assert "not there any more" in line and "--set data.path=DIR --allow-change data.path" in line
    assert main(["train", str(run), "--resume", "--set", "train.steps=2", f"data.path={moved}",
                 "--allow-change", "data.path"]) == 0
    assert api.load_run(run).step == 2
