"""Goodness of fit of 1-D samples to a normal target."""
from __future__ import annotations

from typing import Tuple

import numpy as np
from scipy import stats


def normal_fit(x: np.ndarray, mean: float, std: float) -> Tuple[float, float]:
    """(Kolmogorov-Smirnov statistic, Wasserstein-1 distance) of samples x against N(mean, std^2).

    W1 between an empirical distribution and a continuous one is the integral of |F_n^-1 - F^-1|; with the
    sorted samples it is approximated by the mean of |x_(i) - F^-1((i - 0.5) / n)|.
    """
    x = np.sort(np.asarray(x, dtype=np.float64).ravel())
    ks = float(stats.kstest(x, "norm", args=(mean, std)).statistic)
    q = stats.norm.ppf((np.arange(1, len(x) + 1) - 0.5) / len(x), loc=mean, scale=std)
    return ks, float(np.abs(x - q).mean())
