"""Typed run configuration: one dataclass per component, composed into RunConfig.

Presets are YAML files in ``gankit/presets``; ``--set section.key=value`` overrides any field, and an unknown
key or a value of the wrong type is a GankitError. ``ranges.check_ranges`` checks every number against its range
and every fixed choice (RANGES, ITEM_RANGES, CHOICES); train/validate.py adds the registered names.

Example:
    >>> cfg = load_config("mnist-mlp")
    >>> cfg = apply_overrides(cfg, ["train.lr_d=1e-4", "train.steps=200"])
    >>> cfg.train.lr_d
    0.0001
"""
from __future__ import annotations

import dataclasses
import functools
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

from .errors import GankitError
from .registry import unknown_name_message

PRESET_DIR = Path(__file__).parent / "presets"


@dataclass
class DataConfig:
    name: str = "mnist"              # a registered data source (gankit.data.SOURCES; a wrong name lists them)
    root: Optional[str] = None       # where idx/CIFAR files live or are cached ($GANKIT_DATA, else ~/.cache/gankit)
    path: Optional[str] = None       # image folder (data.name=folder); setting it switches the source to the folder
    split: str = "train"
    classes: List[int] = field(default_factory=list)  # keep only these labels (CIFAR-10 frog = 6); empty = all
    resolution: int = 28             # images are resized/cropped to this size
    channels: Optional[int] = None   # 1 = grayscale, 3 = RGB; unset = the source's own (a folder: 1 if all its
                                     # images are grayscale, else 3)
    limit: int = 0                   # use only the first N items (0 = all)
    min_images: int = 8              # a folder with fewer usable images is an error
    mean: float = 4.0                # gaussian-1d target N(mean, std)
    std: float = 1.25
    dim: int = 100                   # gaussian-1d: draws per item the discriminator sees at once
    epoch_size: int = 10000          # toy data: items per nominal epoch
    mirror: bool = False             # images: add the horizontal mirror of each (an epoch is then 2N images)
    holdout: float = 0.0             # images: this share held out of training (a fixed random split; image-to-
                                     # image models are evaluated on it); 0 = none
    labels: str = ""                 # "" = the source's own labels (mnist, fashion, cifar10); "folders" = an image
                                     # folder's first-level subfolders as classes (for model.conditional)


@dataclass
class ModelConfig:
    name: str = "mlp"                # a registered generator/discriminator pair (see gankit.models)
    latent_dim: int = 128
    noise: str = "normal"            # normal | uniform (uniform on [0, 1), as in the 1-D lesson)
    g_hidden: List[int] = field(default_factory=lambda: [256, 512, 1024])
    d_hidden: List[int] = field(default_factory=lambda: [1024, 512, 256])
    g_channels: int = 64             # conv nets: base width of G
    d_channels: int = 64             # conv nets: base width of D ("fewer D filters" lowers this)
    leak: float = 0.2                # LeakyReLU slope
    d_dropout: float = 0.0           # dropout in D (lesson 001: 0.3; Keras DCGAN: 0.4)
    g_batchnorm: Optional[bool] = None  # BatchNorm in G after each hidden layer; unset: on for conv G (DCGAN),
                                        # off for the MLP G (lesson 001 has none)
    g_extra: int = 0                 # dcgan G: extra 3x3 conv blocks at each resolution (0 = plain DCGAN)
    d_extra: int = 0                 # dcgan D: extra 3x3 conv blocks at each resolution (0 = plain DCGAN)
    spectral_norm: bool = False      # spectral normalisation on every D layer
    pack: int = 1                    # PacGAN: D judges `pack` samples at once
    mbstd: bool = False              # minibatch standard deviation feature in D
    d_sort: bool = False             # toy-1d: D sees each set of draws sorted (order statistics)
    eq_lr: bool = False              # msg: equalised learning rate (weights N(0, 1), x sqrt(2/fan_in) at run time)
    max_channels: int = 256          # msg: the widest layer; widths per resolution in gankit/models/msg.py
    min_channels: int = 8            # msg: the narrowest (finest) layers; 16 costs ~15% more at 64 px
    g_upsample: str = "nearest"      # msg: G's x2 up-sampling, nearest | bilinear (no grid texture)
    task: str = ""                   # pix2pix: inpaint | superres | colorize (data/pairs.py)
    conditional: bool = False        # class-conditional G and D (labels from the data; models/conditional.py)
    g_cond: str = "embed"            # conditional G: embed (class embedding joins the latent) | cbn (conditional
                                     # batch-norm: per-class gain and bias in every BatchNorm of G)
    clusters: int = 0                # self-conditioning: train G and D as conditional on K k-means clusters of the
                                     # images (no labels needed; G picks its cluster from z); 0 = off
                                     # (models/clusters.py)


@dataclass
class LossConfig:
    name: str = "bce"                # a registered loss (gankit.train.losses.LOSSES; a wrong name lists them)
    real_label: float = 1.0          # one-sided label smoothing: e.g. 0.9
    label_noise: float = 0.0         # D targets move towards the other class by U(0, label_noise)
    label_flip: float = 0.0          # probability of swapping a D target (real <-> fake)
    instance_noise: float = 0.0      # std of Gaussian noise added to D's inputs (real and fake)
    r1: float = 0.0                  # R1 penalty weight (gamma)
    gp: float = 0.0                  # gradient penalty weight (WGAN-GP: 10)
    reg_every: int = 1               # apply R1/GP every N D steps (lazy regularisation)
    l1: float = 0.0                  # image-to-image: weight of G's L1 distance to the target (pix2pix: 100)


@dataclass
class TrainConfig:
    steps: int = 0                   # total G updates; when > 0 it wins over epochs
    epochs: int = 1
    batch_size: int = 64
    seed: int = 0
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    optimizer: str = "adam"          # the choices: ranges.CHOICES
    beta1: float = 0.9               # Adam
    beta2: float = 0.999
    rms_alpha: float = 0.99          # RMSprop smoothing (Keras rho = 0.9)
    eps: float = 1e-8
    clip_value: float = 0.0          # clip each gradient element to [-c, c] (Keras clipvalue); 0 = off
    lr_decay: float = 0.0            # Keras-style decay: lr / (1 + decay * iterations)
    d_steps: int = 1                 # k: D updates per G update
    d_skip_below: float = 0.0        # skip D's update while its loss is below this (0 = never)
    precision: str = "fp32"          # fp32 | bf16 (CPU autocast / CUDA) | fp16 (CUDA only)
    device: str = "auto"             # auto | cpu | cuda | cuda:N | mps
    threads: int = 0                 # torch intra-op threads (0 = leave torch's default)
    ema: float = 0.0                 # EMA horizon of G in thousands of images (0 = no EMA)
    ema_warmup: float = 0.0          # EMA horizon ramp (StyleGAN2-ADA ema_rampup); 0 = off
    augment: str = ""                # DiffAugment policy, e.g. "color,translation,cutout"; "" = off
    ada_target: float = 0.0          # ADA: apply `augment` to each image with probability p, p steered so that
                                     # E[sign(D(real))] stays at this target (StyleGAN2-ADA: 0.6); 0 = always on
    ada_kimg: float = 500.0          # ADA: thousands of images for p to move from 0 to 1 (StyleGAN2-ADA: 500)
    ada_interval: int = 4            # ADA: D steps between updates of p
    progressive: bool = False        # progressive growing (model msg): start small, fade each doubling in
    pg_start: int = 8                # progressive: the first resolution (a power of two, at most data.resolution)
    pg_fade_kimg: float = 10.0       # progressive: thousands of images over which each new resolution fades in
    pg_stable_kimg: float = 10.0     # progressive: thousands of images each resolution is held before the next
    pg_fit: bool = True              # progressive: a run too short for these lengths scales them down to reach full
                                     # size within 60% of its images (train/progressive.py); false: as configured
    auto_remedy: bool = False        # apply the diagnoser's remedies automatically
    diagnose: bool = True            # run the failure detectors and log their events


@dataclass
class SampleConfig:
    every: int = 0                   # steps between sample grids (0 = once per epoch)
    n: int = 64                      # images in a grid (fixed noise)
    gif_frames: int = 100            # at most this many frames in progress.gif


@dataclass
class CheckpointConfig:
    every: int = 1000                # steps between checkpoints (and one at the end, and on Ctrl-C/SIGTERM)
    keep: int = 3                    # keep the last N step checkpoints besides latest.pt


@dataclass
class LogConfig:
    every: int = 10                  # steps between metrics.jsonl rows (losses averaged over the interval)
    progress: bool = True            # progress bar on stderr
    tensorboard: bool = False        # also write TensorBoard event files to RUN_DIR/tensorboard (gankit[tensorboard])


@dataclass
class EvalConfig:
    every: int = 0                   # steps between evaluations during training (0 = off)
    metrics: List[str] = field(default_factory=list)
    n: int = 2000                    # samples per evaluation
    features: str = ""               # feature extractor ("" = the data's default)


@dataclass
class RunConfig:
    name: str = "run"
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    log: LogConfig = field(default_factory=LogConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


SECTIONS = [f.name for f in dataclasses.fields(RunConfig) if f.name not in ("name", "description")]


def preset_names() -> List[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def preset_descriptions() -> Dict[str, str]:
    """{name: one-line description} for `gankit presets`."""
    return {n: str(_read_yaml(PRESET_DIR / f"{n}.yaml").get("description", "")) for n in preset_names()}


# `gankit presets` lists the presets by the group each names (``group:`` in its YAML), in this order.
PRESET_GROUPS = {
    "demos": "quick results on a CPU, no data to bring",
    "own images": "your own image folder: --set data.path=DIR",
    "image to image": "inpainting, super-resolution and colourisation of a folder",
    "conditional": "a generator told which class to draw",
    "stable": "mode collapse: the benchmarks, and the recipes that hold up on them",
    "lessons": "the course's recipes as taught",
}


def preset_catalogue() -> Dict[str, Dict[str, str]]:
    """{group: {name: description}} in PRESET_GROUPS' order (empty groups left out) for `gankit presets`.
    A preset that names no group is listed under "other"; one that names an unknown group is a GankitError."""
    out: Dict[str, Dict[str, str]] = {g: {} for g in list(PRESET_GROUPS) + ["other"]}
    for name in preset_names():
        raw = _read_yaml(PRESET_DIR / f"{name}.yaml")
        group = str(raw.get("group", "other"))
        if group not in out:
            raise GankitError(f"preset {name}: " + unknown_name_message("preset group", group, list(PRESET_GROUPS)))
        out[group][name] = str(raw.get("description", ""))
    return {g: items for g, items in out.items() if items}


def load_config(name_or_path: str) -> RunConfig:
    """A preset name (``mnist-mlp``), or a YAML/JSON file (a preset file or a run's config.json)."""
    path = Path(name_or_path)
    if path.is_dir() and not (PRESET_DIR / f"{name_or_path}.yaml").is_file():
        raise GankitError(f"{name_or_path} is a directory without config.json, so not a gankit run; give the --out "
                          "of a `gankit train` run, a preset name (gankit presets) or a .yaml config file")
    if path.suffix in (".yaml", ".yml", ".json") or path.is_file():
        if not path.is_file():
            raise GankitError(f"config file {name_or_path!r} not found; give a preset name or an existing file")
        raw = _read_yaml(path)
        default_name = path.parent.name if path.name == "config.json" else path.stem
    elif (PRESET_DIR / f"{name_or_path}.yaml").is_file():
        raw = _read_yaml(PRESET_DIR / f"{name_or_path}.yaml")
        default_name = name_or_path
    else:
        raise GankitError(unknown_name_message("preset", name_or_path, preset_names())
                          + " (or give a path to a .yaml config file)")
    raw = dict(raw)
    raw.pop("group", None)          # where `gankit presets` lists it; not part of the run
    raw.setdefault("name", default_name)
    return from_dict(raw)


def from_dict(raw: Dict[str, Any]) -> RunConfig:
    """Build a RunConfig from nested dicts, checking every key and type."""
    cfg = RunConfig()
    for key, value in raw.items():
        if key in ("name", "description"):
            setattr(cfg, key, _text(key, value))
        elif key in SECTIONS:
            if not isinstance(value, dict):
                raise GankitError(f"config section {key!r} must be a mapping of keys to values")
            for sub, v in value.items():
                _set(cfg, f"{key}.{sub}", v)
        else:
            raise GankitError(unknown_name_message("config section", key, SECTIONS + ["name", "description"]))
    return cfg


MAX_TEXT = 10_000  # characters of a name or description


def _text(key: str, value: Any) -> str:
    """A name or description: a scalar written as text, of a bounded length (never a nested structure)."""
    if isinstance(value, (dict, list, tuple, set)):
        raise GankitError(f"{key} must be a line of text, got a {type(value).__name__}")
    text = "" if value is None else str(value)
    if len(text) > MAX_TEXT:
        raise GankitError(f"{key} is {len(text):,} characters long; keep it under {MAX_TEXT:,}")
    return text


def apply_overrides(cfg: RunConfig, overrides: List[str]) -> RunConfig:
    """Apply ``section.key=value`` strings (values parsed as YAML scalars/lists) to a copy of cfg."""
    cfg = from_dict(cfg.to_dict())
    for item in overrides:
        if "=" not in item:
            raise GankitError(f"--set expects KEY=VALUE (e.g. train.lr_d=1e-4), got {item!r}")
        key, text = item.split("=", 1)
        _set(cfg, key.strip(), _parse_value(text), text=text)
    return cfg


def _parse_value(text: str) -> Any:
    """A --set value as YAML (numbers, true/false, lists); text that is not valid YAML stays text."""
    if not text.strip():
        return ""
    try:
        return yaml.load(text, Loader=_NoAliasLoader)
    except Exception:  # YAMLError, and ValueError from e.g. a date like 2001-13-45
        return text


def all_keys() -> List[str]:
    return [f"{s}.{f.name}" for s in SECTIONS for f in dataclasses.fields(getattr(RunConfig(), s))]


def get_value(cfg: RunConfig, key: str) -> Any:
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)


def is_int(v: Any) -> bool:
    """An int that is not a bool."""
    return isinstance(v, int) and not isinstance(v, bool)


def _set(cfg: RunConfig, key: str, value: Any, text: Optional[str] = None) -> None:
    parts = key.split(".")
    if len(parts) != 2 or parts[0] not in SECTIONS:
        raise GankitError(unknown_name_message("config key", key, all_keys()))
    section = getattr(cfg, parts[0])
    hints = _field_types(type(section))
    if parts[1] not in hints:
        raise GankitError(unknown_name_message("config key", key, all_keys()))
    setattr(section, parts[1], _coerce(key, value, hints[parts[1]], text))


@functools.lru_cache(maxsize=None)
def _field_types(section: type) -> Dict[str, Any]:
    """{field: its type} of a config section (the annotations are strings until resolved; resolve them once)."""
    hints = typing.get_type_hints(section)
    return {f.name: hints[f.name] for f in dataclasses.fields(section)}


def _coerce(key: str, value: Any, typ: Any, text: Optional[str]) -> Any:
    shown = text if text is not None and text.isprintable() else repr(value if text is None else text)
    origin = typing.get_origin(typ)
    if origin is typing.Union:  # Optional[X]
        if value is None or value == "":
            return None
        (inner,) = [a for a in typing.get_args(typ) if a is not type(None)]
        return _coerce(key, value, inner, text)
    if origin in (list, List):
        (inner,) = typing.get_args(typ)
        if value is None or value == "":
            return []
        if isinstance(value, str):
            value = [_parse_value(v) for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            value = [value]
        return [_coerce(key, v, inner, None) for v in value]
    if typ is bool:
        if isinstance(value, bool):
            return value
        raise GankitError(f"{key} expects true or false, got {shown}")
    if typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise GankitError(f"{key} expects a whole number, got {shown}")
    if typ is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise GankitError(f"{key} expects a number, got {shown}")
    if typ is str:
        if isinstance(value, (dict, list)):
            raise GankitError(f"{key} expects a text value, got {shown}")
        return "" if value is None else str(value)
    return value


class _NoAliasLoader(yaml.SafeLoader):
    """safe_load without anchors and aliases: a config has no use for them, and nested aliases ("billion
    laughs") expand to gigabytes when a value is turned into text."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.YAMLError(f"aliases (*name) are not allowed in a config (line {mark.line + 1}); write "
                                 "the value out")
        return super().compose_node(parent, index)


def _read_yaml(path: Path) -> Dict[str, Any]:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise GankitError(f"config {path} is not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}); "
                          "save it as UTF-8")
    except OSError as e:
        raise GankitError(f"cannot read config {path}: {e.strerror or e}")
    try:
        raw = yaml.load(text, Loader=_NoAliasLoader)
    except Exception as e:  # YAMLError, or ValueError from a malformed value such as a date
        raise GankitError(" ".join(f"config {path} is not valid YAML: {e}".split())[:300])
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise GankitError(f"config {path} must be a mapping of sections (data:, model:, train:, ...), "
                          f"got {type(raw).__name__}")
    return raw


def config_diff(old: Dict[str, Any], new: Dict[str, Any], prefix: str = "") -> List[str]:
    """Dotted keys whose values differ between two config dicts."""
    keys = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += config_diff(a, b, f"{prefix}{k}.")
        elif a != b:
            keys.append(f"{prefix}{k}")
    return keys
