"""Per-class numbers of a class-conditional run: does G draw the class it is asked for?

For data with a shipped classifier (MNIST, Fashion-MNIST: ``DatasetInfo.classifier``), ``n`` samples of each
class are drawn and classified; ``class_agreement`` is the share the classifier puts in the asked class (over all
classes), ``class_agreement/<name>`` that share per class. Every conditional run also gets
``class_spread/<name>``: the mean pairwise distance of each class's samples in pixels (a class collapsed to one
image has 0), and, where the training images of that class can be read, ``class_spread_ratio/<name>``: that
distance over the same for 100 training images of the class (about 1 for a class drawn with the data's variety;
the smallest ratio over the classes is ``class_spread_ratio``).

``intra_class`` (when ``gankit eval`` computes KID or FID) gives the intra-class distances: each class's samples
against the training images of that class, on the run's features (``kid_<f>/<name>``, ``fid_<f>/<name>``), and
their means over the classes (``kid_intra_<f>``, ``fid_intra_<f>``). They ask whether every class is drawn
like its own images, which the overall KID/FID, pooling the classes, cannot see. FID from a few hundred samples
a class is biased upward (compare it only at equal n); KID is not.

Example:
    >>> per_class(load_run("runs/mnist-cond"), n=200)["class_agreement"]
    0.97
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import torch
import torch.nn.functional as F

from ..data import dataset_info, load_data
from ..errors import GankitError
from .features import extract, get_extractor
from .fid import fid_from_features, kid
from .sources import to_uint8


@torch.no_grad()
def per_class(run: Any, n: int = 200, seed: int = 0) -> Dict[str, Any]:
    """{"class_agreement": share, "class_agreement/<name>": share, "class_spread/<name>": distance} of a
    conditional run (``run.classes``), n samples per class; {} for a run without classes."""
    names = list(getattr(run, "classes", []) or [])
    if not names:
        return {}
    info = dataset_info(run.cfg.data)
    net = _classifier(info.classifier) if info.classifier and len(info.classes) else None
    out: Dict[str, Any] = {}
    hits = 0
    real = _real_spreads(run, len(names))
    for i, name in enumerate(names):
        x = run.generate(n, seed=seed + i, labels=torch.full((n,), i, dtype=torch.long))   # (n, C, H, W)
        flat = x.flatten(1)
        out[f"class_spread/{name}"] = float(torch.pdist(flat[:100]).mean()) if len(flat) > 1 else 0.0
        if real.get(i):
            out[f"class_spread_ratio/{name}"] = out[f"class_spread/{name}"] / real[i]
        if net is not None:
            pred = net(_to_classifier(x)).argmax(1)                                       # (n,)
            asked = list(info.classes).index(name)
            share = float((pred == asked).float().mean())
            out[f"class_agreement/{name}"] = share
            hits += int((pred == asked).sum())
    ratios = [v for k, v in out.items() if k.startswith("class_spread_ratio/")]
    if ratios:
        out = {"class_spread_ratio": min(ratios), **out}
    if net is not None:
        out = {"class_agreement": hits / (n * len(names)), **out}
    return out


def _real_spreads(run: Any, classes: int) -> Dict[int, float]:
    """{class: mean pairwise pixel distance of its first 100 training images} where the run's data and labels can
    be read here ({} otherwise: the ratios are then left out)."""
    try:
        data = load_data(run.cfg.data, verbose=False)
    except (GankitError, OSError):
        return {}
    labels = getattr(data, "labels", None)
    if labels is None:
        return {}
    out: Dict[int, float] = {}
    for i in range(classes):
        x = data.images[labels == i][:100].float().div(127.5).sub(1).flatten(1)   # the samples' scale, [-1, 1]
        if len(x) > 1:
            out[i] = float(torch.pdist(x).mean())
    return out


def _classifier(name: str) -> Optional[torch.nn.Module]:
    from .classifier import load_classifier
    return load_classifier(name)


def _to_classifier(x: torch.Tensor) -> torch.Tensor:
    """Samples in [-1, 1] as the classifier reads them: one channel, 28x28."""
    if x.shape[1] == 3:
        x = x.mean(1, keepdim=True)
    if x.shape[-1] != 28:
        x = F.interpolate(x, size=(28, 28), mode="bilinear", antialias=True, align_corners=False)
    return x


@torch.no_grad()
def intra_class(run: Any, features: str, n: int = 200, seed: int = 0, kinds=("kid", "fid"),
                precision: str = "fp32") -> Dict[str, float]:
    """Intra-class KID/FID of a conditional run: n samples of each class against up to n training images of
    that class (the first n of a fixed shuffle), on the extractor ``features``; {} for a run without classes."""
    names = list(getattr(run, "classes", []) or [])
    if not names:
        return {}
    data = load_data(run.cfg.data, verbose=False)
    if data.labels is None:
        raise GankitError(f"{run.run_dir}: its data have no labels here, so the intra-class numbers cannot be "
                          "computed")
    ext = get_extractor(features, precision, device="cpu")
    order = torch.randperm(len(data.labels), generator=torch.Generator().manual_seed(seed))
    out: Dict[str, float] = {}
    sums = {k: 0.0 for k in kinds}
    for i, name in enumerate(names):
        real = data.images[order[data.labels[order] == i][:n]]
        if len(real) < 2:
            raise GankitError(f"class {name} has {len(real)} training image(s); the intra-class numbers need 2")
        fake = run.generate(n, seed=seed + 1000 + i, labels=torch.full((n,), i, dtype=torch.long))
        fr, ff = extract(ext, real)["features"], extract(ext, to_uint8(fake))["features"]
        for k in kinds:
            v = kid(fr, ff)[0] if k == "kid" else fid_from_features(fr, ff)
            out[f"{k}_{features}/{name}"] = v
            sums[k] += v
    return {**{f"{k}_intra_{features}": sums[k] / len(names) for k in kinds}, **out}
