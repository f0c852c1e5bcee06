"""Check a resolved config before anything is loaded: ranges and choices (config.py), registered names, and the
pairs of settings that only work together (a conv net needs images, a DCGAN a size it can build).

Also decides which keys a run uses, so ``--dry-run`` can print only those (config.json always holds them all).

Example:
    >>> validate_config(apply_overrides(load_config("mnist-mlp"), ["loss.name=hnige"]))
    Traceback (most recent call last):
    gankit.errors.GankitError: loss.name: unknown loss 'hnige' (did you mean 'hinge'?); choose from: bce, ...
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from ..config import RunConfig, all_keys, get_value, raise_problems, range_problems
from ..data import SOURCES, dataset_info, dataset_name
from ..device import check_device_name
from ..errors import GankitError
from ..models import MODELS
from ..registry import unknown_name_message
from .augment import AUGMENTS
from .losses import LOSSES
from .progressive import config_problems as progressive_problems

# What each model family is built for, known before anything is built (tests check these against the builders).
# The data kind ("image" or "vector"); a model not listed takes either (the MLP).
MODEL_DATA = {"dcgan": "image", "keras-dcgan": "image", "resnet": "image", "msg": "image",
              "toy-1d": "vector", "toy-mlp": "vector"}
# The image sizes a conv net can build, and how to say them; a model not listed takes any size >= 4.
MODEL_RESOLUTIONS: Dict[str, Tuple[Callable[[int], bool], str]] = {
    "dcgan": (lambda r: any(r == s0 << k for s0 in (4, 7) for k in range(1, r.bit_length())),
              "4*2^k or 7*2^k with k >= 1 (8, 14, 16, 28, 32, 56, 64, 112, 128, ...)"),
    "keras-dcgan": (lambda r: r == 32, "32"),
    "resnet": (lambda r: r in (28, 32), "28 or 32"),
    "msg": (lambda r: r >= 8 and not r & (r - 1), "a power of two from 8 (8, 16, 32, 64, 128, 256, ...)"),
}

# Keys that only some runs use, and which: a run is described by tags (model:NAME, data:SOURCE, data:KIND,
# data:files for the datasets read from files, optimizer:NAME); a key applies when one of its tags is the run's.
# A key not listed applies to every run; a model or data source no entry names uses all of its section's keys.
APPLIES: Dict[str, Set[str]] = {
    "data.root": {"data:files"}, "data.split": {"data:files"}, "data.classes": {"data:files"},
    "data.path": {"data:image"}, "data.min_images": {"data:folder"},
    "data.resolution": {"data:image"}, "data.channels": {"data:image"}, "data.limit": {"data:image"},
    "data.mirror": {"data:image"},
    "data.mean": {"data:gaussian-1d"}, "data.std": {"data:gaussian-1d"}, "data.dim": {"data:gaussian-1d"},
    "data.epoch_size": {"data:vector"},
    "model.latent_dim": {"model:mlp", "model:dcgan", "model:keras-dcgan", "model:resnet", "model:msg",
                         "model:toy-mlp"},
    "model.g_hidden": {"model:mlp", "model:toy-1d", "model:toy-mlp"},
    "model.d_hidden": {"model:mlp", "model:toy-1d", "model:toy-mlp"},
    "model.g_channels": {"model:dcgan", "model:resnet", "model:msg"},
    "model.d_channels": {"model:dcgan", "model:resnet", "model:msg"},
    "model.leak": {"model:mlp", "model:dcgan", "model:keras-dcgan", "model:msg", "model:toy-1d", "model:toy-mlp"},
    "model.d_dropout": {"model:mlp", "model:dcgan", "model:keras-dcgan", "model:toy-mlp"},
    "model.g_batchnorm": {"model:mlp", "model:dcgan"},
    "model.g_extra": {"model:dcgan"}, "model.d_extra": {"model:dcgan"}, "model.d_sort": {"model:toy-1d"},
    "model.eq_lr": {"model:msg"}, "model.max_channels": {"model:msg"},
    "train.progressive": {"model:msg"}, "train.pg_start": {"model:msg"}, "train.pg_fade_kimg": {"model:msg"},
    "train.pg_stable_kimg": {"model:msg"},
    "train.beta1": {"optimizer:adam"}, "train.beta2": {"optimizer:adam"}, "train.rms_alpha": {"optimizer:rmsprop"},
    "train.augment": {"data:image"},
}


def validate_config(cfg: RunConfig, more: Sequence[str] = ()) -> RunConfig:
    """Raise one GankitError line naming the values out of range, unknown names and mismatched pairs (and
    ``more`` problems found by a layer above); return cfg unchanged when there are none."""
    raise_problems(range_problems(cfg) + name_problems(cfg) + list(more))
    return cfg


def name_problems(cfg: RunConfig) -> List[str]:
    """Unknown registered names (with a did-you-mean), then the settings that do not fit the model or data."""
    problems = [f"{key}: {unknown_name_message(reg.kind, get_value(cfg, key), reg.names())}"
                for key, reg in (("data.name", SOURCES), ("model.name", MODELS), ("loss.name", LOSSES))
                if get_value(cfg, key) not in reg]
    for part in (p.strip() for p in cfg.train.augment.split(",")):
        if part and part not in AUGMENTS:
            problems.append(f"train.augment: {unknown_name_message(AUGMENTS.kind, part, AUGMENTS.names())} "
                            "(a comma-separated list, or empty for none)")
    try:
        check_device_name(cfg.train.device)
    except GankitError as e:
        problems.append(str(e))
    if cfg.data.name in SOURCES and cfg.model.name in MODELS:
        problems += _fit_problems(cfg)
    return problems


def _fit_problems(cfg: RunConfig) -> List[str]:
    """Settings that are each valid but do not go together."""
    kind, model = dataset_info(cfg.data).kind, cfg.model.name
    data = f"data.name={cfg.data.name}"
    problems = []
    wants = MODEL_DATA.get(model)
    if wants and wants != kind:
        others = [m for m in MODELS.names() if MODEL_DATA.get(m, kind) == kind]
        problems.append(f"model.name={model} is built for {wants} data, but {data} is {kind} data; "
                        f"choose a model for {kind} data: {', '.join(others)}")
    if kind == "image" and wants != "vector":
        problems += _resolution_problems(model, cfg.data.resolution)
    if model == "toy-1d" and not cfg.model.g_hidden:
        problems.append("model.g_hidden must name the width of toy-1d's generator, e.g. [50]; got []")
    problems += progressive_problems(cfg)  # train.progressive needs a growing (multi-scale) model
    if cfg.train.augment.strip(", ") and kind != "image":
        problems.append(f"train.augment (DiffAugment) works on images, but {data} is {kind} data; "
                        "set train.augment=\"\"")
    return problems


def _resolution_problems(model: str, resolution: Any) -> List[str]:
    if model not in MODEL_RESOLUTIONS or not isinstance(resolution, int) or resolution < 4:
        return []  # any size, or already reported by the range check
    fits, sizes = MODEL_RESOLUTIONS[model]
    return [] if fits(resolution) else [f"data.resolution must be {sizes} for model.name={model}, got {resolution}"]


def run_tags(cfg: RunConfig) -> Set[str]:
    """The tags APPLIES matches against: the model, the data source and its kind, the optimizer."""
    tags = {f"model:{cfg.model.name}", f"optimizer:{cfg.train.optimizer}"}
    if cfg.data.name in SOURCES:
        info = dataset_info(cfg.data)
        tags |= {f"data:{dataset_name(cfg.data)}", f"data:{info.kind}"}
        if info.folder:
            tags.add("data:folder")
        elif info.kind == "image":
            tags.add("data:files")
    return tags


def applies(key: str, cfg: RunConfig) -> bool:
    """Whether a run with this config uses ``key`` (see APPLIES)."""
    wanted = APPLIES.get(key)
    if not wanted:
        return True
    tags = run_tags(cfg)
    kind = next(iter(wanted)).split(":")[0]
    named = {t for ts in APPLIES.values() for t in ts}
    mine = {t for t in tags if t.startswith(kind + ":")}
    if kind in ("model", "optimizer") and not mine & named:
        return True  # a model (or optimizer) the table does not know: show its keys
    if kind == "data" and cfg.data.name not in SOURCES:
        return True
    return bool(wanted & tags)


def used_config(cfg: RunConfig) -> Dict[str, Any]:
    """cfg.to_dict() without the keys this run does not use (what ``--dry-run`` prints)."""
    d = cfg.to_dict()
    for key in all_keys():
        if not applies(key, cfg):
            section, name = key.split(".")
            del d[section][name]
    return d


def known_total_steps(cfg: RunConfig, state: Dict[str, Any]) -> Optional[int]:
    """A run's horizon in G steps when it is known without loading the data, else None (used by --resume).

    ``train.steps`` > 0 is the horizon. An epoch horizon needs the number of items: toy data draw
    ``data.epoch_size`` per nominal epoch; for images the checkpoint's data order holds one index per image.
    The steps-per-epoch formula is the Trainer's; the two must agree.
    """
    t = cfg.train
    if t.steps > 0:
        return t.steps
    data = state.get("data")
    perm = data.get("perm") if isinstance(data, dict) else None
    n = cfg.data.epoch_size if dataset_info(cfg.data).kind == "vector" else len(perm) if perm is not None else 0
    if not n:
        return None
    return t.epochs * max(1, math.ceil(n / t.batch_size) // max(1, t.d_steps))
