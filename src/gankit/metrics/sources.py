"""Where samples come from: a run directory, a .npy file, an image folder, a dataset name, or a tensor.

Every source becomes ``Samples``: uint8 images (N, C, H, W) or float vectors (N, D), with what is known about
the data (its name, its mode centres) and, for reference data, the identity under which features are cached.

Spec strings:
    RUN_DIR              a run directory (has config.json): n samples from its generator (EMA when present)
    FILE.npy             float32 in the data's scale (as `gankit sample` writes: images in [-1, 1]), or uint8
                         images; (N, C, H, W) or (N, H, W, C) images, (N, D) vectors
    DIR                  an image folder (decoded at the other side's resolution, else the first image's size)
    NAME[:SPLIT]         a dataset: mnist, mnist:test, fashion, cifar10, stacked-mnist, ring-2d, grid-2d, ...

Example:
    >>> real = resolve("mnist:test", n=1000)
    >>> real.x.shape, real.x.dtype
    (torch.Size([1000, 1, 28, 28]), torch.uint8)
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np
import torch

from ..config import DataConfig
from ..data import SOURCES, dataset_info, dataset_name, folder_source, load_data
from ..data.folder import list_images
from ..errors import GankitError
from ..registry import unknown_name_message
from ..reporter import Reporter
from ..run import load_run
from ..rundir import RunDir
from .features import digest_tensor

_report = Reporter(__name__)


@dataclass
class Samples:
    x: torch.Tensor                        # uint8 (N, C, H, W) images or float (N, D) vectors
    label: str
    dataset: str = ""                      # the data's name when known (mnist, ring-2d, stacked-mnist, ...)
    key: Optional[Dict[str, Any]] = None   # cache identity of reference data; None = never cached
    toy: Any = None                        # ToyData (mode centres, target moments) for toy data
    info: Dict[str, Any] = field(default_factory=dict)   # "train": every image of the data; "cfg", "run"

    @property
    def kind(self) -> str:
        return "image" if self.x.dtype == torch.uint8 and self.x.dim() == 4 else "vector"

    def __len__(self) -> int:
        return len(self.x)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> uint8 [0, 255], rounded as when written to PNG."""
    return ((x.float() + 1) * 127.5).round_().clamp_(0, 255).to(torch.uint8)


def from_array(x: Union[torch.Tensor, np.ndarray], label: str = "samples", dataset: str = "") -> Samples:
    """Samples from an array in the data's scale: float images in [-1, 1], uint8 images, or float (N, D)."""
    if not isinstance(x, torch.Tensor):
        x = _numeric_array(x, label)
    t = torch.as_tensor(x) if isinstance(x, np.ndarray) else x.detach().cpu()
    if t.is_complex() or t.dtype == torch.bool:
        raise GankitError(f"{label}: samples must be real numbers, got {str(t.dtype).replace('torch.', '')} values")
    if t.dim() == 4 and t.shape[1] not in (1, 3) and t.shape[-1] in (1, 3):
        t = t.permute(0, 3, 1, 2)                              # (N, H, W, C) -> (N, C, H, W)
    if t.dim() == 3 and t.shape[-1] == t.shape[-2]:
        t = t.unsqueeze(1)                                     # (N, H, W) grayscale
    if t.is_floating_point() and t.dim() in (2, 4) and len(t):  # before to_uint8 turns NaN into a pixel value
        bad = int((~torch.isfinite(t.reshape(len(t), -1))).any(1).sum())
        if bad:
            raise GankitError(f"{label}: {bad} of {len(t)} samples hold NaN or inf values, so no metric of them "
                              "means anything; the generator diverged — sample from an earlier checkpoint")
    if t.dim() == 4:
        t = t.contiguous() if t.dtype == torch.uint8 else to_uint8(t)
    elif t.dim() == 2:
        t = t.float()
    else:
        raise GankitError(f"{label}: expected images (N, C, H, W) or vectors (N, D), got shape {tuple(t.shape)}")
    if len(t) < 2:
        raise GankitError(f"{label}: need at least 2 samples, got {len(t)}")
    return Samples(t, label, dataset)


def _numeric_array(x: Any, label: str) -> np.ndarray:
    """An array of real numbers from a numpy array or nested lists; anything else is one GankitError line."""
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as e:  # ragged lists
        raise GankitError(f"{label}: not an array of samples ({str(e).splitlines()[0][:80]})") from None
    if arr.dtype.kind not in "biuf":
        raise GankitError(f"{label}: samples must be real numbers, got {arr.dtype} values"
                          + (" (complex: the imaginary part would be lost)" if arr.dtype.kind == "c" else ""))
    return arr


def from_data(data: Any, cfg: DataConfig, n: int, seed: int = 0, label: str = "") -> Samples:
    """n reference samples from a loaded dataset: the first n images of a fixed shuffle (seed), or toy draws.

    The images' cache key is the whole set's digest and the shuffle, marked ``prefix``: every n draws the start
    of the same sequence, so features cached for one n serve all others (features.cached_features). The whole
    set is kept in ``info["train"]`` (the memorisation check searches all of it).
    """
    known = cfg.name in SOURCES                      # in-memory data may carry a name of their own
    name = dataset_name(cfg) if known else cfg.name
    label = label or (str(cfg.path) if known and dataset_info(cfg).folder else f"{cfg.name}:{cfg.split}")
    if getattr(data, "kind", "") == "vector":
        x = data.sample(n, torch.Generator().manual_seed(seed)).float()
        return Samples(x, label, name, None, data)
    images = data.images
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    key = {"images": digest_tensor(images), "shuffle": seed, "prefix": True}   # the content, not the spec
    return Samples(images[order[:n]], label, name, key, info={"train": images})


def data_config(name: str, split: str = "train", like: Optional[Samples] = None) -> DataConfig:
    """A DataConfig for a dataset spec: the dataset's native size, or the other side's size when known; grey
    datasets also take the other side's channels, colour datasets keep their three."""
    info = SOURCES.info(name)
    channels, resolution = (info.native[0], info.native[-1]) if info.native else (1, 28)
    if like is not None and like.kind == "image" and info.kind == "image" and not info.folder:
        resolution = like.x.shape[-1]
        channels = channels if channels == 3 else like.x.shape[1]
    return DataConfig(name=name, split=split, channels=channels, resolution=resolution)


def _folder_config(path: Path, like: Optional[Samples]) -> DataConfig:
    if like is not None and like.kind == "image":
        channels, res = like.x.shape[1], like.x.shape[-1]
    else:
        channels, res = folder_size(path)
    return DataConfig(name=folder_source(), path=str(path), resolution=res, channels=channels, min_images=2)


MIN_SIDE = 8  # a folder compared at fewer pixels a side than this says nothing about its images


def folder_size(path: Path, probe: int = 64) -> Tuple[int, int]:
    """(channels, side) to decode a folder at when nothing else decides: the median shorter side and the
    majority's channels of up to ``probe`` images spread over the whole folder (headers only; files that are
    not images are passed over), so one odd file cannot set the size of all."""
    from PIL import Image, UnidentifiedImageError  # only folders need it
    files = list_images(path)
    if not files:
        raise GankitError(f"image folder {path} holds no images")
    sides, grey = [], 0
    for f in files[::max(1, len(files) // probe)][:probe]:
        try:
            with Image.open(f) as im:
                sides.append(min(im.size))
                grey += im.mode in ("L", "1", "I;16", "I", "F", "LA")
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            continue
    if not sides:
        raise GankitError(f"image folder {path} holds no readable images (the first: {files[0].name} is not "
                          "an image PIL can read)")
    side = int(np.median(sides))
    if side < MIN_SIDE:
        raise GankitError(f"the images in {path} are about {side} px on their shorter side; compare images of "
                          f"at least {MIN_SIDE} px")
    return (1 if grey * 2 > len(sides) else 3), side


def load_npy(path: Path, label: str) -> Samples:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise GankitError(f"cannot read {path}: {e}".splitlines()[0])
    return from_array(arr, label)


def run_samples(run_dir: Path, n: int, seed: int = 0, ema: bool = True) -> Samples:
    """n samples from a trained run's generator, with its data config in ``info["cfg"]``."""
    run = load_run(str(run_dir))
    x = run.generate(n, seed=seed, ema=ema)
    s = from_array(x, str(run_dir), dataset_name(run.cfg.data))
    s.info = {"cfg": run.cfg, "run": run}
    return s


def resolve(spec: str, n: int, like: Optional[Samples] = None, seed: int = 0, verbose: bool = True) -> Samples:
    """Samples for a spec string (see the module docstring); n caps datasets, folders and files."""
    path = Path(spec).expanduser()
    if RunDir(path).is_run():
        return run_samples(path, n, seed)
    if path.suffix == ".npy":
        if not path.is_file():
            raise GankitError(f"samples file {spec!r} not found")
        s = load_npy(path, spec)
        s.x = s.x[:n]
        return s
    if path.is_dir():
        cfg = _folder_config(path, like)
        return from_data(load_data(cfg, verbose), cfg, n, label=spec)
    name, _, split = spec.partition(":")
    if name not in SOURCES and (os.sep in spec or spec.startswith((".", "~"))):  # meant as a path
        raise GankitError(f"{spec!r} does not exist" + (f" ({path.parent} is missing too)"
                          if not path.parent.exists() else "") + "; give an existing image folder, .npy file "
                          "or run directory, or a dataset name such as mnist")
    if name not in SOURCES:
        raise GankitError(unknown_name_message("dataset", name, SOURCES.names())
                          + "; or give a run directory, a .npy file or an image folder")
    cfg = data_config(name, split or "train", like)
    native = SOURCES.info(name).native
    if verbose and like is not None and native and (cfg.channels, cfg.resolution) != (native[0], native[-1]):
        def shape(c: int, r: int) -> str:
            return f"{r}x{r}, {'grey' if c == 1 else 'RGB'}"
        _report.say(f"{name} images are {shape(native[0], native[-1])}; compared as "
                  f"{shape(cfg.channels, cfg.resolution)} to match {like.label}")
    return from_data(load_data(cfg, verbose), cfg, n, seed, label=spec)


def run_reference_config(cfg: DataConfig, split: str = "") -> DataConfig:
    """The data a run trained on, as reference: the whole dataset (no limit), optionally another split."""
    d = DataConfig(**json.loads(json.dumps(cfg.__dict__)))
    d.limit = 0
    if split:
        d.split = split
    return d
