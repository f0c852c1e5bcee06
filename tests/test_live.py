"""Live options (train/live.py): what hooks change while a run trains, apart from the resolved config, and
checkpointed."""
import pytest

from gankit.config import RunConfig, apply_overrides
from gankit.errors import GankitError
from gankit.train.live import KEYS, LiveOptions, saved_live
from gankit.train.trainer import Trainer

SMALL = ["log.progress=false", "sample.every=0", "train.batch_size=16", "train.threads=1", "model.g_hidden=[16]",
         "model.d_hidden=[16]", "train.steps=4", "train.diagnose=false"]


def test_options_start_as_the_config_and_are_range_checked():
    cfg = apply_overrides(RunConfig(), ["loss.label_noise=0.1", "train.augment=translation"])
    live = LiveOptions.from_config(cfg)
    assert [live.get(k) for k in KEYS] == [0.0, 0.1, 0.0, 1.0, 0.0, "translation", 0.0]
    live.set("loss.instance_noise", 0.25)
    assert live.changed(cfg) == {"loss.instance_noise": 0.25}
    with pytest.raises(GankitError, match=r"loss\.real_label must be a finite number in \(0, 1\], got 0"):
        live.set("loss.real_label", 0)
    with pytest.raises(KeyError, match="train.lr_d cannot change while training runs"):
        live.set("train.lr_d", 1e-3)
    assert live.real_label == 1.0


def test_a_checkpoint_gives_back_the_options_unless_the_resume_changed_them():
    started = RunConfig()
    state = {"config": started.to_dict(), "live": {"instance_noise": 0.3, "label_flip": 0.2, "augment": "color"}}
    assert saved_live(state, started) == {"loss.instance_noise": 0.3, "loss.label_flip": 0.2, "train.augment": "color"}
    resumed = apply_overrides(RunConfig(), ["loss.label_flip=0.05"])   # --allow-change loss.label_flip
    assert saved_live(state, resumed) == {"loss.instance_noise": 0.3, "train.augment": "color"}
    assert saved_live({"config": started.to_dict()}, started) == {}    # a checkpoint from before live options


def test_a_resumed_trainer_continues_with_the_changed_options(tiny_mnist, tmp_path):
    cfg = apply_overrides(RunConfig(), ["data.name=mnist", f"data.root={tiny_mnist}", *SMALL])
    t = Trainer(cfg, tmp_path / "r", hooks=[], verbose=False)
    t.context.set_option("loss.instance_noise", 0.3)
    t.context.set_option("train.d_skip_below", 0.5)
    state = t.state_dict()
    assert state["config"]["loss"]["instance_noise"] == 0.0 and state["live"]["instance_noise"] == 0.3
    again = Trainer(apply_overrides(RunConfig(), ["data.name=mnist", f"data.root={tiny_mnist}", *SMALL]),
                    tmp_path / "r", hooks=[], verbose=False)
    again.load_state_dict(state)
    assert again.loss.live == t.loss.live and again.cfg.loss.instance_noise == 0.0
