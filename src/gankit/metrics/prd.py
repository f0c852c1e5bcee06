"""k-nearest-neighbour manifold metrics on feature arrays.

Precision and recall (Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for Assessing
Generative Models"): each sample of a set gets a ball reaching its k-th nearest neighbour within that set;
the union of the balls estimates the set's manifold. Precision is the share of generated samples inside the
real manifold, recall the share of real samples inside the generated manifold (k = 3 in the paper).

Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative Models")
use only the real balls (k = 5 in the paper): density counts how many real balls hold each generated sample,
divided by k (about 1 when the two distributions match, unbounded above); coverage is the share of real balls
that hold at least one generated sample.

Example:
    >>> real, fake = np.random.randn(1000, 16), np.random.randn(1000, 16)
    >>> precision_recall(real, fake)       # both high: the sets share a distribution
    >>> density_coverage(real, fake)       # density ~ 1, coverage ~ 0.97
"""
from __future__ import annotations

from typing import Dict, Iterator, Optional, Tuple

import numpy as np
import torch


def _rows(n: int, chunk: int) -> Iterator[slice]:
    for i in range(0, n, chunk):
        yield slice(i, min(i + chunk, n))


def squared_distances(a: torch.Tensor, b: torch.Tensor, b_sq: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Squared Euclidean distances (N, M), float64, computed in place (float32 blurs near-ties)."""
    d = a @ b.T                                                     # (N, M)
    d.mul_(-2).add_((a * a).sum(1, keepdim=True)).add_(b_sq if b_sq is not None else (b * b).sum(1))
    return d.clamp_min_(0)


def knn_radii(x: np.ndarray, k: int, chunk: int = 1024) -> np.ndarray:
    """Distance of each row of x (N, D) to its k-th nearest other row: (N,)."""
    return np.sqrt(knn_sq_radii(x, k, chunk))


def knn_sq_radii(x: np.ndarray, k: int, chunk: int = 1024) -> np.ndarray:
    """Squared distance of each row of x (N, D) to its k-th nearest other row: (N,)."""
    if not 1 <= k < len(x):
        raise ValueError(f"k = {k} needs at least {k + 1} samples, got {len(x)}")
    t = torch.as_tensor(np.asarray(x, np.float64))
    t_sq = (t * t).sum(1)
    # k + 1 smallest: the point itself is its own nearest neighbour at distance 0
    radii = [squared_distances(t[s], t, t_sq).topk(k + 1, dim=1, largest=False).values[:, k]
             for s in _rows(len(t), chunk)]
    return torch.cat(radii).numpy()


def ball_counts(centres: np.ndarray, sq_radii: np.ndarray, points: np.ndarray,
                chunk: int = 1024) -> Tuple[np.ndarray, np.ndarray]:
    """For closed balls B(centres_i, sqrt(sq_radii_i)) and points:
    (balls holding each point (M,), points in each ball (N,))."""
    c = torch.as_tensor(np.asarray(centres, np.float64))
    r_sq = torch.as_tensor(np.asarray(sq_radii, np.float64))
    p = torch.as_tensor(np.asarray(points, np.float64))
    p_sq = (p * p).sum(1)
    per_point = torch.zeros(len(p), dtype=torch.int64)
    per_ball = torch.zeros(len(c), dtype=torch.int64)
    # balls as rows, chunked like knn_radii: a set compared with itself reproduces the radii pass bit for bit,
    # so a neighbour lying exactly on a ball's boundary is counted inside
    for s in _rows(len(c), chunk):
        inside = squared_distances(c[s], p, p_sq) <= r_sq[s, None]   # (chunk, M)
        per_ball[s] = inside.sum(1)
        per_point += inside.sum(0)
    return per_point.numpy(), per_ball.numpy()


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> Dict[str, float]:
    """{"precision", "recall"} with k-NN manifolds (Kynkäänniemi et al. 2019)."""
    in_real, _ = ball_counts(real, knn_sq_radii(real, k), fake)
    in_fake, _ = ball_counts(fake, knn_sq_radii(fake, k), real)
    return {"precision": float((in_real > 0).mean()), "recall": float((in_fake > 0).mean())}


def density_coverage(real: np.ndarray, fake: np.ndarray, k: int = 5) -> Dict[str, float]:
    """{"density", "coverage"} from the real k-NN balls (Naeem et al. 2020).

    Identical sets give coverage 1 and density (k + 1) / k (each ball holds its own centre and k neighbours).
    """
    per_fake, per_ball = ball_counts(real, knn_sq_radii(real, k), fake)
    return {"density": float(per_fake.sum() / (k * len(fake))), "coverage": float((per_ball > 0).mean())}
