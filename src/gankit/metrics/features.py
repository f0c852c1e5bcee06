"""Feature extractors (registered by name) and the reference-feature cache.

An extractor maps a batch of samples to ``{"features": (B, D)}`` and, when it has a classifier head,
``"logits": (B, K)``. Image extractors take uint8 images (B, C, H, W) — generated images are rounded to
uint8 first, exactly as if they had been written to PNG — and vector extractors take float (B, D).

=========  ======  ==========================================================================================
name       input   resize / preparation
=========  ======  ==========================================================================================
inception  image   clean-fid's "clean": PIL bicubic to 299x299, clip, (x-128)/128; gray -> RGB (inception.py)
mnist      image   RGB -> luma (ITU-R 601); antialiased bilinear to 28x28 when needed; scaled to [-1, 1]
fashion    image   as mnist, with the Fashion-MNIST classifier
identity   vector  none: the samples are the features (toy data)
=========  ======  ==========================================================================================

Reference features are cached in ``<cache>/stats/`` under a hash of (a digest of the exact samples, the
extractor's weights digest, its precision and resize mode, FEATURE_VERSION), so any change of these computes
them afresh. Reference data drawn from a dataset or folder are the first n items of one fixed shuffle of the
whole set (``sources.from_data``); their file is keyed by the whole set's digest and holds the features of the
longest prefix computed so far, so a later evaluation with another n reuses it (and extends it when n grows).

Example:
    >>> ext = get_extractor("mnist")
    >>> out = extract(ext, torch.zeros(10, 1, 28, 28, dtype=torch.uint8))
    >>> out["features"].shape, out["logits"].shape
    ((10, 128), (10, 10))
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import zipfile
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..data.base import to_channels
from ..data.fetch import cache_root
from ..data.info import DatasetInfo
from ..device import pick_device
from ..registry import Registry, subclass_of
from .classifier import load_classifier, weights_path
from .inception import InceptionExtractor

FEATURE_VERSION = 1  # bump when extraction changes in a way the cache key cannot see


class Extractor:
    """Base: ``__call__(batch) -> {"features": (B, D) float32, ["logits": (B, K)]}``.

    A registered extractor is a subclass constructed as ``cls(precision, device=...)``.
    """

    name = ""
    about = ""              # what the features are, in a few words (gankit eval's table)
    kind = "image"          # "image": uint8 (B, C, H, W); "vector": float (B, D)
    resize = "none"
    has_logits = False
    batch_size = 500
    cpu_rate: Dict[str, float] = {}  # images/s per CPU thread by precision, for time estimates ({}: fast)

    def fingerprint(self) -> str:
        """Identifies weights, precision and preparation: part of the cache key."""
        return f"{self.name}|{self.resize}"

    @classmethod
    def fits(cls, kind: str, info: Optional[DatasetInfo], channels: int) -> bool:
        """Whether these features mean something for samples of ``kind`` from the dataset ``info`` describes
        (None: of unknown origin) with ``channels`` channels. A generic extractor fits every sample of its kind."""
        return kind == cls.kind

    def __call__(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        raise NotImplementedError


EXTRACTORS = Registry("feature extractor", expects=subclass_of(Extractor))


@EXTRACTORS.register("identity")
class IdentityExtractor(Extractor):
    """Toy data: the (B, D) samples are their own features."""

    name, kind = "identity", "vector"
    about = "the samples themselves (toy data)"

    def __init__(self, precision: str = "fp32", device: str = "cpu"):
        pass  # nothing to load; vectors stay on the CPU

    def __call__(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        return {"features": x.reshape(len(x), -1).float()}


class ClassifierExtractor(Extractor):
    """The shipped MNIST / Fashion-MNIST CNN: 128-d pooled features and 10 logits (``name`` names the weights)."""

    resize = "luma, antialiased bilinear to 28x28, [-1,1]"
    has_logits = True

    @classmethod
    def fits(cls, kind: str, info: Optional[DatasetInfo], channels: int) -> bool:
        """A classifier's features only describe the images it was trained to tell apart: the datasets whose
        descriptor names it as their classifier; of samples of unknown origin, grey images only."""
        if kind != "image":
            return False
        return info.classifier == cls.name if info is not None else channels == 1

    def __init__(self, precision: str = "fp32", device: str = "auto"):
        self.precision, self.device = precision, pick_device(device)
        self.net = load_classifier(self.name).to(self.device)
        with open(weights_path(self.name), "rb") as f:
            self.digest = hashlib.sha1(f.read()).hexdigest()[:12]

    def fingerprint(self) -> str:
        return f"{self.name}-{self.digest}-{self.precision}|{self.resize}"

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        if x.dtype != torch.uint8 or x.dim() != 4:
            raise ValueError(f"{self.name} features need uint8 images (B, C, H, W)")
        x = to_channels(x, 1).to(self.device).float()                   # (B, 1, H, W)
        if x.shape[-2:] != (28, 28):
            x = F.interpolate(x, size=(28, 28), mode="bilinear", antialias=True, align_corners=False)
        x = x / 127.5 - 1.0
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            f, logits = self.net.features_and_logits(x)
        return {"features": f.float(), "logits": logits.float()}       # (B, 128), (B, 10)


@EXTRACTORS.register("mnist")
class MnistExtractor(ClassifierExtractor):
    name = "mnist"
    about = "the shipped MNIST digit classifier (128-d features, 10 classes)"


@EXTRACTORS.register("fashion")
class FashionExtractor(ClassifierExtractor):
    name = "fashion"
    about = "the shipped Fashion-MNIST classifier (128-d features, 10 classes)"


@EXTRACTORS.register("inception")
class FidInception(InceptionExtractor, Extractor):
    """The FID Inception network (inception.py) under the Extractor interface."""

    about = "the FID Inception network (2048-d pool features, ImageNet weights)"

    # docs/evaluation.md, "Extractor speed, quiet": 8.8 img/s fp32 and 26 img/s bf16 on 2 threads
    cpu_rate = {"fp32": 4.4, "bf16": 13.0}


@functools.lru_cache(maxsize=8)
def get_extractor(name: str, precision: str = "fp32", device: str = "auto") -> Extractor:
    """The extractor registered as ``name`` (loaded once per process, precision and device)."""
    return EXTRACTORS.get(name)(precision, device=device)


def extract(extractor: Extractor, samples: torch.Tensor, batch_size: int = 0,
            verbose: bool = False, label: str = "") -> Dict[str, np.ndarray]:
    """Run the extractor over samples (N, ...) in batches: {"features": (N, D) float32, ...}."""
    from tqdm import tqdm
    bs = batch_size or extractor.batch_size
    parts: Dict[str, list] = {}
    steps = range(0, len(samples), bs)
    bar = tqdm(steps, desc=f"{extractor.name} features {label}".strip(), unit="batch", file=sys.stderr,
               disable=not verbose or extractor.kind == "vector" or len(steps) < 4, leave=False)
    try:
        for i in bar:
            for key, value in extractor(samples[i:i + bs]).items():
                parts.setdefault(key, []).append(value.detach().cpu().numpy().astype(np.float32))
    finally:
        bar.close()  # an error (out of memory, ...) then starts on a line of its own
    return {k: np.concatenate(v) for k, v in parts.items()}


def digest_tensor(x: torch.Tensor) -> str:
    """SHA-1 of a tensor's dtype, shape and bytes: identifies the exact samples."""
    h = hashlib.sha1(f"{x.dtype}|{tuple(x.shape)}".encode())
    h.update(x.contiguous().numpy().tobytes())
    return h.hexdigest()


def cache_key(extractor: Extractor, data_key: Dict[str, Any]) -> str:
    """Hash of (data spec, extractor fingerprint, FEATURE_VERSION) naming a cache file."""
    blob = json.dumps({"data": data_key, "extractor": extractor.fingerprint(), "v": FEATURE_VERSION},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def cache_file(extractor: Extractor, samples: torch.Tensor, data_key: Dict[str, Any]) -> Path:
    """The cache file of reference samples: keyed by the samples' own digest, or, for a ``prefix`` key (the
    first items of a fixed sequence the key identifies), by the key alone."""
    key = data_key if data_key.get("prefix") else dict(data_key, samples=digest_tensor(samples))
    return cache_root() / "stats" / f"{extractor.name}-{cache_key(extractor, key)}.npz"


def _load(path: Path) -> Dict[str, np.ndarray]:
    """A cache file's arrays; {} when it is missing or damaged (then it is computed again)."""
    if not path.is_file():
        return {}
    try:
        with np.load(path) as z:
            out = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return {}
    rows = {len(v) for v in out.values()}
    return out if "features" in out and len(rows) == 1 else {}


def cached_rows(extractor: Extractor, samples: torch.Tensor, data_key: Optional[Dict[str, Any]]) -> int:
    """How many of these samples' features are in the cache already (0 for samples that are never cached)."""
    if data_key is None:
        return 0
    rows = len(_load(cache_file(extractor, samples, data_key)).get("features", ()))
    return min(rows, len(samples)) if data_key.get("prefix") else (len(samples) if rows == len(samples) else 0)


def cached_features(extractor: Extractor, samples: torch.Tensor, data_key: Optional[Dict[str, Any]],
                    verbose: bool = False, label: str = "") -> Dict[str, np.ndarray]:
    """``extract`` with a disk cache for reference data; ``data_key=None`` never caches.

    A plain key gets a digest of the samples themselves, so edited data files or a different subset miss. A key
    with ``prefix`` says the samples are the first len(samples) items of the sequence the key identifies: the
    cached rows are reused for any length, and only the rows past them are extracted (and stored).
    """
    if data_key is None:
        return extract(extractor, samples, verbose=verbose, label=label)
    path = cache_file(extractor, samples, data_key)
    have = _load(path)
    rows = len(have.get("features", ()))
    prefix = bool(data_key.get("prefix"))
    if have and (rows >= len(samples) if prefix else rows == len(samples)):
        return {k: v[:len(samples)] for k, v in have.items()}
    start = rows if prefix and have else 0
    new = extract(extractor, samples[start:], verbose=verbose, label=label)
    out = {k: np.concatenate([have[k], v]) for k, v in new.items()} if start else new
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.tmp{os.getpid()}.npz")
    np.savez(tmp, **out)  # type: ignore[arg-type]  # numpy types **kwds as allow_pickle
    os.replace(tmp, path)
    return out
