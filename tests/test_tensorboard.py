"""TensorBoard: log.tensorboard=true mirrors the run's scalars, pictures and findings; read back from the event files."""
import importlib.util

import pytest

from gankit import api
from gankit.cli import main
from gankit.config import apply_overrides, load_config
from gankit.tensorboard import TB_DIR, tag_for
from gankit.train.hooks import Hook

pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed (pip install gankit[tensorboard])")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

RING = ["log.progress=false", "train.steps=20", "sample.every=10", "log.every=5", "checkpoint.every=1000",
        "model.g_hidden=[16]", "model.d_hidden=[16]", "train.diagnose=false", "log.tensorboard=true",
        "eval.every=10", "eval.n=200"]


class Finding(Hook):
    """Reports one made-up finding at step 10, as the diagnoser would."""

    def on_step(self, trainer, stats):
        if trainer.step == 10:
            trainer.event("d_wins", "the discriminator is winning (test)")


def test_tags_follow_the_fields_names():
    assert [tag_for(k) for k in ("loss_g", "loss_d", "d_real", "d_fake", "lr_d", "eval/fid_mnist", "final/ks")] == [
        "Loss/G", "Loss/D", "Scores/real", "Scores/fake", "Progress/lr_d", "Metrics/fid_mnist", "Final/ks"]


def test_event_files_hold_scalars_pictures_and_findings(tmp_path):
    cfg = apply_overrides(load_config("ring-2d"), RING)
    run = api.train(cfg, out=str(tmp_path / "ring"), hooks=[Finding()] + api.default_hooks(cfg), verbose=False)
    acc = EventAccumulator(str(run / TB_DIR), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    for tag in ("Loss/G", "Loss/D", "Scores/real", "Scores/fake", "Progress/lr_d", "Progress/lr_g",
                "Gradients/G", "Gradients/D"):
        assert tag in tags["scalars"], tag
    assert [e.step for e in acc.Scalars("Loss/D")] == [5, 10, 15, 20]
    assert [e.step for e in acc.Scalars("Metrics/modes")] == [10, 20]
    assert abs(acc.Scalars("Progress/lr_d")[0].value - cfg.train.lr_d) < 1e-9
    assert [e.step for e in acc.Images("Samples")] == [0, 10, 20]
    text = [t for t in tags["tensors"] if t.startswith("Diagnoser/d_wins")]
    assert text, tags["tensors"]
    assert b"winning (test)" in acc.Tensors(text[0])[0].tensor_proto.string_val[0]


def test_missing_tensorboard_is_a_one_line_error(monkeypatch, capsys, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    assert main(["train", "ring-2d", "--set", "log.tensorboard=true", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install gankit[tensorboard]" in err[0]
    assert not (tmp_path / "r").exists()
