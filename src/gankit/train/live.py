"""The options a run may change while it trains, apart from the resolved config.

The resolved ``RunConfig`` says how the run was asked to train and never changes while it does. What a hook's
named actions may turn (the diagnoser's remedies: noise, label tricks, skip-D, augmentation) lives in
``LiveOptions``: it starts as the config has it, changes only through ``TrainingContext.set_option`` (each value
checked against ``gankit.ranges``), is read by the loss object every step, and is part of the checkpoint, so a
resumed run continues with the values it had.

Example:
    >>> live = LiveOptions.from_config(cfg)
    >>> live.set("loss.instance_noise", 0.1)
    >>> live.instance_noise
    0.1
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict

from ..config import RunConfig
from ..errors import GankitError
from ..ranges import RANGES
from .augment import AUGMENTS

# the config key each live option starts from: "section.name"
KEYS = ("loss.instance_noise", "loss.label_noise", "loss.label_flip", "loss.real_label",
        "train.d_skip_below", "train.augment", "train.ada_target")


@dataclass
class LiveOptions:
    """The values of ``KEYS`` now (field names without the section)."""
    instance_noise: float = 0.0   # N(0, s^2) added to what D sees
    label_noise: float = 0.0      # D's targets drawn from [1 - x, 1] and [0, x]
    label_flip: float = 0.0       # the share of D's targets flipped
    real_label: float = 1.0       # one-sided label smoothing
    d_skip_below: float = 0.0     # skip D's update while its last loss is below this (0: never)
    augment: str = ""             # DiffAugment policies ("translation,color"; "" none)
    ada_target: float = 0.0       # adaptive augmentation's target for sign(D(real)) (0: off)

    @classmethod
    def from_config(cls, cfg: RunConfig) -> "LiveOptions":
        values = {}
        for key in KEYS:
            section, name = key.split(".")
            values[name] = getattr(getattr(cfg, section), name)
        return cls(**values)

    def get(self, key: str) -> Any:
        return getattr(self, _name(key))

    def set(self, key: str, value: Any) -> None:
        """Change option ``key`` ("loss.instance_noise", ...) after checking its value against gankit.ranges (the
        augmentation: the registered DiffAugment policies); KeyError for a key that cannot change."""
        name = _name(key)
        if key == "train.augment":
            parts = [p.strip() for p in value.split(",")] if isinstance(value, str) else ["?"]
            if not isinstance(value, str) or not all(p in AUGMENTS for p in parts if p):
                raise GankitError(f"{key} must be DiffAugment policies, comma-separated ({', '.join(AUGMENTS.names())}), "
                                  f"got {value!r}")
        else:
            rng = RANGES[key]
            if not rng.accepts(value):
                raise GankitError(f"{key} must be {rng.describe()}, got {value!r}")
        setattr(self, name, value)

    def changed(self, cfg: RunConfig) -> Dict[str, Any]:
        """The options whose value differs from the config's: {key: value now}."""
        start = LiveOptions.from_config(cfg)
        return {key: self.get(key) for key in KEYS if self.get(key) != start.get(key)}

    def state_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        for key in KEYS:
            name = key.split(".")[1]
            if name in state:
                self.set(key, state[name])


def saved_live(state: Dict[str, Any], cfg: RunConfig) -> Dict[str, Any]:
    """The live options a checkpoint holds, less those this resume sets itself: a key whose value in the resumed
    config differs from the checkpoint's config (changed with --allow-change) starts from the new config."""
    saved, started = state.get("live") or {}, state.get("config") or {}
    now = LiveOptions.from_config(cfg)
    out = {}
    for key in KEYS:
        section, name = key.split(".")
        if name in saved and started.get(section, {}).get(name, now.get(key)) == now.get(key):
            out[key] = saved[name]
    return out


def _name(key: str) -> str:
    if key not in KEYS:
        raise KeyError(f"{key} cannot change while training runs; the options that can are {', '.join(KEYS)}")
    return key.split(".")[1]
