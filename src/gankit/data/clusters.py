"""k-means clusters of an image set, the labels of self-conditioned training (``model.clusters``,
models/clusters.py).

Example:
    >>> data = with_clusters(load_data(cfg.data), k=50)   # the same images, each labelled with its cluster
    >>> data.class_names[:3]
    ['cluster 0', 'cluster 1', 'cluster 2']
"""
from __future__ import annotations

import dataclasses
import time

import torch
import torch.nn.functional as F

from ..errors import GankitError
from ..reporter import Reporter
from .base import ImageData

_report = Reporter(__name__)

THUMB = 16      # clusters are found on thumbnails of at most THUMB x THUMB pixels (area-averaged)
ITERATIONS = 25
FIT_ON = 10000   # centres are fitted on at most this many images (then every image joins its nearest)


def cluster_images(images: torch.Tensor, k: int, seed: int = 0, size: int = THUMB,
                   iterations: int = ITERATIONS, fit_on: int = FIT_ON) -> torch.Tensor:
    """k-means of uint8 images (N, C, H, W) on area-averaged thumbnails of at most ``size`` px: each image's
    cluster, (N,) int64 in 0..k-1, every cluster non-empty. The centres are fitted (k-means++ start, Lloyd steps)
    on at most ``fit_on`` images drawn with ``seed``, then every image joins its nearest; deterministic."""
    n = images.shape[0]
    if not 2 <= k <= n:
        raise GankitError(f"model.clusters={k} needs 2 <= clusters <= the number of images ({n}); lower "
                          "model.clusters")
    side = min(size, images.shape[-1])
    x = torch.cat([F.adaptive_avg_pool2d(images[i:i + 4096].float().div(255), side).flatten(1)
                   for i in range(0, n, 4096)])                                      # (N, C * side^2)
    g = torch.Generator().manual_seed(seed)
    fit = x[torch.randperm(n, generator=g)[:fit_on]] if n > fit_on else x
    centres = _lloyd(fit, _plus_plus(fit, k, g), iterations)
    labels = torch.cdist(x, centres).argmin(1)
    counts = torch.bincount(labels, minlength=k)
    for j in torch.nonzero(counts == 0).flatten().tolist():   # an empty cluster takes the farthest image of the largest
        big = int(counts.argmax())
        members = torch.nonzero(labels == big).flatten()
        labels[members[(x[members] - centres[big]).pow(2).sum(1).argmax()]] = j
        counts = torch.bincount(labels, minlength=k)
    return labels


def _plus_plus(x: torch.Tensor, k: int, g: torch.Generator) -> torch.Tensor:
    """k starting centres by k-means++ (Arthur & Vassilvitskii 2007): each next one drawn with probability
    proportional to its squared distance from the nearest chosen so far."""
    n = len(x)
    centres = x[torch.randint(n, (1,), generator=g)]
    nearest = (x - centres).pow(2).sum(1)
    for _ in range(k - 1):
        pick = (torch.multinomial(nearest / nearest.sum(), 1, generator=g) if nearest.sum() > 0
                else torch.randint(n, (1,), generator=g))
        centres = torch.cat([centres, x[pick]])
        nearest = torch.minimum(nearest, (x - x[pick]).pow(2).sum(1))
    return centres


def _lloyd(x: torch.Tensor, centres: torch.Tensor, iterations: int) -> torch.Tensor:
    """Lloyd's steps from ``centres`` until the assignment stops changing (or ``iterations``); an empty
    cluster keeps its centre."""
    k = len(centres)
    labels = torch.cdist(x, centres).argmin(1)
    for _ in range(iterations):
        sums = torch.zeros_like(centres).index_add_(0, labels, x)
        counts = torch.bincount(labels, minlength=k)
        centres = torch.where((counts == 0)[:, None], centres, sums / counts.clamp_min(1)[:, None].float())
        new = torch.cdist(x, centres).argmin(1)
        if torch.equal(new, labels):
            break
        labels = new
    return centres


def with_clusters(data: ImageData, k: int, verbose: bool = True) -> ImageData:
    """``data`` with each image labelled by its k-means cluster (``cluster_images``); a mirrored image keeps its
    original's cluster."""
    if not isinstance(data, ImageData):
        raise GankitError("model.clusters groups images; this data is not an image set, so set model.clusters=0")
    t0 = time.perf_counter()
    labels = cluster_images(data.images, k)
    sizes = torch.bincount(labels, minlength=k)
    _report.say(f"model.clusters: {k} clusters of the {len(labels)} images in {time.perf_counter() - t0:.1f} s "
                f"({int(sizes.min())} to {int(sizes.max())} images each)", verbose)
    return dataclasses.replace(data, labels=labels, class_names=[f"cluster {i}" for i in range(k)])
