"""Fréchet distance (FID) and kernel inception distance (KID) on feature arrays.

FID (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
Equilibrium") fits a Gaussian to each feature set and takes the Fréchet (2-Wasserstein) distance between
them, whose closed form for Gaussians is due to Dowson & Landau (1982):

    d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)).

The trace of the matrix square root equals the sum of the square roots of the eigenvalues of S1 S2, which
are those of the symmetric PSD matrix S1^(1/2) S2 S1^(1/2) (the route of Mathiasen & Hvilshøj 2020, "Backpropagating
through Fréchet Inception Distance"). Two symmetric eigendecompositions in float64 stay real and stable where a
general ``sqrtm`` of a near-singular product picks up imaginary parts.

KID (Bińkowski et al. 2018, "Demystifying MMD GANs") is the unbiased estimate of the squared MMD with the
cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets (mean and std reported).

Example:
    >>> a, b = np.random.randn(500, 8), np.random.randn(500, 8) + 1
    >>> fid = frechet_distance(*mean_cov(a), *mean_cov(b))   # ~ 8 (= |mu1 - mu2|^2)
    >>> mean, std = kid(a, b, subsets=10, subset_size=200)
"""
from __future__ import annotations

from typing import Tuple

import numpy as np


def mean_cov(features: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(mean (D,), unbiased covariance (D, D)) in float64 of features (N, D)."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"need features of shape (N >= 2, D), got {f.shape}")
    return f.mean(0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    """Symmetric square root of a PSD matrix (negative rounding noise in the spectrum is clipped to 0)."""
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """tr((S1 S2)^(1/2)) for symmetric PSD S1, S2 via eigvalsh(S1^(1/2) S2 S1^(1/2))."""
    r = _psd_sqrt(np.asarray(s1, dtype=np.float64))
    m = r @ np.asarray(s2, dtype=np.float64) @ r
    w = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(w, 0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Squared Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (this is the number called FID).

    Example:
        >>> frechet_distance(np.zeros(2), np.eye(2), np.ones(2), np.eye(2))
        2.0
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape:
        raise ValueError(f"statistics differ in shape: {mu1.shape} vs {mu2.shape}")
    diff = mu1 - mu2
    value = diff @ diff + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt_product(s1, s2)
    return float(max(value, 0.0))


def fid_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    """FID between two feature arrays (N, D) and (M, D).

    With fewer samples than dimensions (common during training: 2 000 Inception features of 2 048 dims) the
    smaller set's covariance is A^T A with A its centred features / sqrt(n - 1), and S1 S2 has the non-zero
    eigenvalues of the small symmetric matrix A S2 A^T; one (n, n) ``eigvalsh`` replaces two (D, D) ones.
    """
    x, y = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    (mu1, s1), (mu2, s2) = mean_cov(x), mean_cov(y)
    small, other = (x, s2) if len(x) <= len(y) else (y, s1)
    if len(small) >= x.shape[1]:
        return frechet_distance(mu1, s1, mu2, s2)
    a = (small - small.mean(0)) / np.sqrt(len(small) - 1)          # (n, D): cov(small) = a.T @ a
    m = a @ other @ a.T                                             # (n, n), same non-zero spectrum as S1 S2
    tr_sqrt = float(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum())
    diff = mu1 - mu2
    return float(max(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt, 0.0))


def poly_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """KID's kernel (x.y / d + 1)^3 for all pairs: (N, D), (M, D) -> (N, M)."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased squared MMD with the cubic kernel: within-set means leave out the diagonal."""
    m, n = len(x), len(y)
    kxx, kyy, kxy = poly_kernel(x, x), poly_kernel(y, y), poly_kernel(x, y)
    within_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(within_x + within_y - 2 * kxy.mean())


def kid(real: np.ndarray, fake: np.ndarray, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> Tuple[float, float]:
    """KID: mean and std of the unbiased MMD^2 over ``subsets`` random subsets of each set.

    The subset size is capped by the smaller set (as in the KID paper's code and StyleGAN2-ADA). When a subset
    would then hold both whole sets (fewer samples than ``subset_size`` a side), the mean is exactly
    ``mmd2_unbiased(real, fake)`` and the std is taken over ``subsets`` random halves of each set instead: every
    subset being the same, their std would say 0, and a subset of half the size varies more than the whole, so
    this std errs on the side of caution.
    """
    x, y = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    size = min(subset_size, len(x), len(y))
    if size < 2:
        raise ValueError("KID needs at least 2 samples per set")
    rng = np.random.default_rng(seed)
    whole = size == len(x) == len(y)
    if whole:
        size = size // 2 if size >= 4 else size
    values = []
    for _ in range(subsets):
        xi = x if size == len(x) else x[rng.choice(len(x), size, replace=False)]
        yi = y if size == len(y) else y[rng.choice(len(y), size, replace=False)]
        values.append(mmd2_unbiased(xi, yi))
    if whole:
        return mmd2_unbiased(x, y), float(np.std(values))
    return float(np.mean(values)), float(np.std(values))
