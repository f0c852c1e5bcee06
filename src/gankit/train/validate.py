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
from typing import Any, Dict, List, Optional, Sequence, Set

from ..config import RunConfig, all_keys, get_value
from ..data import SOURCES, dataset_info, dataset_name
from ..device import check_device_name
from ..errors import GankitError
from ..models import MODELS
from ..models.conditional import CONDITIONAL_MODELS
from ..ranges import raise_problems, range_problems
from ..registry import unknown_name_message
from .augment import AUGMENTS
from .losses import LOSSES
from .progressive import config_problems as progressive_problems
from .translate import translate_problems

# Data and optimizer keys that only some runs use: a run is described by tags (data:SOURCE, data:KIND,
# data:files for the datasets read from files, data:folder, optimizer:NAME); a key applies when one of its tags
# is the run's. A key not listed (and named by no ModelInfo) applies to every run.
APPLIES: Dict[str, Set[str]] = {
    "data.root": {"data:files"}, "data.split": {"data:files"}, "data.classes": {"data:files"},
    "data.path": {"data:image"}, "data.min_images": {"data:folder"},
    "data.resolution": {"data:image"}, "data.channels": {"data:image"}, "data.limit": {"data:image"},
    "data.mirror": {"data:image"}, "data.holdout": {"data:image"},
    "data.mean": {"data:gaussian-1d"}, "data.std": {"data:gaussian-1d"}, "data.dim": {"data:gaussian-1d"},
    "data.epoch_size": {"data:vector"},
    "train.beta1": {"optimizer:adam"}, "train.beta2": {"optimizer:adam"}, "train.rms_alpha": {"optimizer:rmsprop"},
    "train.augment": {"data:image"}, "data.labels": {"data:folder"},
}
# Model keys: a key some model's ModelInfo.keys names applies to the runs of the models that name it.


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
    info = MODELS.info(model)  # what the model is built for (models/registry.py ModelInfo)
    if not info.takes(kind):
        others = [m for m in MODELS.names() if MODELS.info(m).takes(kind)]
        problems.append(f"model.name={model} is built for {info.data} data, but {data} is {kind} data; "
                        f"choose a model for {kind} data: {', '.join(others)}")
    elif kind == "image":
        problems += _resolution_problems(model, cfg.data.resolution)
    if model == "toy-1d" and not cfg.model.g_hidden:
        problems.append("model.g_hidden must name the width of toy-1d's generator, e.g. [50]; got []")
    problems += progressive_problems(cfg)  # train.progressive needs a growing (multi-scale) model
    problems += translate_problems(cfg)    # image-to-image: a task, colour to colourise (train/translate.py)
    problems += conditional_problems(cfg)
    if cfg.train.augment.strip(", ") and kind != "image":
        problems.append(f"train.augment (DiffAugment) works on images, but {data} is {kind} data; "
                        "set train.augment=\"\"")
    return problems


def conditional_problems(cfg: RunConfig) -> List[str]:
    """model.conditional needs a model family with conditional networks and data with classes; data.labels=folders
    needs an image folder."""
    info, problems = dataset_info(cfg.data), []
    if cfg.data.labels == "folders" and not info.folder:
        problems.append(f"data.labels=folders reads classes from an image folder's subfolders, but data.name="
                        f"{cfg.data.name} is not a folder; set data.path=DIR or remove data.labels")
    problems += cluster_problems(cfg, info)
    if not cfg.model.conditional:
        return problems
    if cfg.model.name not in CONDITIONAL_MODELS:
        problems.append(f"model.conditional: model.name={cfg.model.name} has no conditional variant; use one of "
                        f"{', '.join(CONDITIONAL_MODELS)}")
    if info.folder and cfg.data.labels != "folders":
        problems.append("model.conditional on an image folder needs its classes: set data.labels=folders (one "
                        "subfolder per class)")
    elif not info.folder and not info.classes:
        with_labels = [n for n in SOURCES.names() if SOURCES.info(n).classes]
        problems.append(f"model.conditional needs data with classes, but data.name={cfg.data.name} has none; use "
                        f"{', '.join(with_labels)} or an image folder with data.labels=folders")
    if cfg.model.pack > 1:
        problems.append(f"model.conditional judges each sample with its class; PacGAN packing (model.pack="
                        f"{cfg.model.pack}) mixes them, so set model.pack=1")
    return problems


def cluster_problems(cfg: RunConfig, info: Any) -> List[str]:
    """model.clusters: images, a model family with a conditional variant, normal noise, no class labels too."""
    m = cfg.model
    problems: List[str] = []
    if not isinstance(m.clusters, int) or m.clusters == 0:
        return problems
    if m.conditional:
        problems.append("model.clusters trains on clusters of the images in place of classes; it cannot be combined "
                        "with model.conditional (set one of them)")
    if m.name not in CONDITIONAL_MODELS:
        problems.append(f"model.clusters: model.name={m.name} has no conditional variant; use one of "
                        f"{', '.join(CONDITIONAL_MODELS)}")
    if info.kind != "image":
        problems.append(f"model.clusters groups images, but data.name={cfg.data.name} is {info.kind} data; "
                        "set model.clusters=0")
    if m.noise != "normal":
        problems.append("model.clusters reads each sample's cluster from its normal latent; set model.noise=normal")
    if m.pack > 1:
        problems.append(f"model.clusters judges each sample with its cluster; PacGAN packing (model.pack={m.pack}) "
                        "mixes them, so set model.pack=1")
    return problems


def _resolution_problems(model: str, resolution: Any) -> List[str]:
    info = MODELS.info(model)
    if info.sizes is None or not isinstance(resolution, int) or resolution < 4:
        return []  # any size, or already reported by the range check
    if info.sizes(resolution):
        return []
    return [f"data.resolution must be {info.sizes_text} for model.name={model}, got {resolution}"]


def run_tags(cfg: RunConfig) -> Set[str]:
    """The tags APPLIES matches against: the data source and its kind, the optimizer."""
    tags = {f"optimizer:{cfg.train.optimizer}"}
    if cfg.data.name in SOURCES:
        info = dataset_info(cfg.data)
        tags |= {f"data:{dataset_name(cfg.data)}", f"data:{info.kind}"}
        if info.folder:
            tags.add("data:folder")
        elif info.kind == "image":
            tags.add("data:files")
    return tags


def applies(key: str, cfg: RunConfig) -> bool:
    """Whether a run with this config uses ``key`` (APPLIES for data and optimizer keys, ModelInfo.keys for
    the keys a model reads)."""
    model_keys = {k for m in MODELS.names() for k in MODELS.info(m).keys}
    if key in model_keys:
        return cfg.model.name not in MODELS or key in MODELS.info(cfg.model.name).keys
    wanted = APPLIES.get(key)
    if not wanted:
        return True
    if next(iter(wanted)).startswith("data:") and cfg.data.name not in SOURCES:
        return True
    return bool(wanted & run_tags(cfg))


def used_config(cfg: RunConfig) -> Dict[str, Any]:
    """cfg.to_dict() without the keys this run does not use (what ``--dry-run`` prints)."""
    d = cfg.to_dict()
    for key in all_keys():
        if not applies(key, cfg):
            section, name = key.split(".")
            del d[section][name]
    return d


def steps_per_epoch(items: int, batch_size: int, d_steps: int) -> int:
    """G steps in one pass over ``items``: each G step takes ``d_steps`` real batches (the Trainer's epoch and
    ``known_total_steps`` both call this)."""
    return max(1, math.ceil(items / batch_size) // max(1, d_steps))


def known_total_steps(cfg: RunConfig, state: Dict[str, Any]) -> Optional[int]:
    """A run's horizon in G steps when it is known without loading the data, else None (used by --resume).

    ``train.steps`` > 0 is the horizon. An epoch horizon needs the number of items: toy data draw
    ``data.epoch_size`` per nominal epoch; for images the checkpoint's data order holds one index per image.
    """
    t = cfg.train
    if t.steps > 0:
        return t.steps
    data = state.get("data")
    perm = data.get("perm") if isinstance(data, dict) else None
    n = cfg.data.epoch_size if dataset_info(cfg.data).kind == "vector" else len(perm) if perm is not None else 0
    if not n:
        return None
    return t.epochs * steps_per_epoch(n, t.batch_size, t.d_steps)
