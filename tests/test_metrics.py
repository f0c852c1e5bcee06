"""Metric values against reference formulas and known answers: FID, KID, precision/recall, density/coverage."""
from itertools import product

import numpy as np
import pytest
import scipy.linalg

from gankit.metrics.classifier import class_scores, inception_score
from gankit.metrics.fid import fid_from_features, frechet_distance, kid, mean_cov, mmd2_unbiased
from gankit.metrics.prd import density_coverage, knn_radii, precision_recall


def scipy_fid(mu1, s1, mu2, s2):
    """The textbook formula with a general matrix square root (pytorch-fid / clean-fid style)."""
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    d = mu1 - mu2
    return d @ d + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


@pytest.mark.parametrize("n,d,eps", [(500, 32, 0.0), (200, 8, 0.0),          # well conditioned
                                     (10, 32, 1e-10), (40, 64, 0.0),         # rank-deficient: n < d
                                     (5, 16, 1e-12), (64, 64, 0.0)])         # near-singular
def test_frechet_matches_scipy_sqrtm(n, d, eps):
    rng = np.random.default_rng(n * d)
    x = rng.standard_normal((n, d)) @ rng.standard_normal((d, d))
    y = rng.standard_normal((n, d)) + 0.3
    s1 = np.cov(x, rowvar=False) + eps * np.eye(d)
    s2 = np.cov(y, rowvar=False) + eps * np.eye(d)
    ours = frechet_distance(x.mean(0), s1, y.mean(0), s2)
    ref = scipy_fid(x.mean(0), s1, y.mean(0), s2)
    assert ours == pytest.approx(ref, rel=1e-6)


@pytest.mark.parametrize("n,m,d", [(20, 30, 64), (64, 40, 64), (300, 100, 16), (10, 10, 128)])
def test_fid_from_features_low_rank_route_matches_scipy(n, m, d):
    rng = np.random.default_rng(n + m + d)
    x = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) / 4
    y = rng.standard_normal((m, d)) * 1.5 + 0.2
    ref = scipy_fid(*mean_cov(x), *mean_cov(y))
    assert fid_from_features(x, y) == pytest.approx(ref, rel=1e-6)
    assert fid_from_features(y, x) == pytest.approx(ref, rel=1e-6)


def test_frechet_closed_forms():
    assert frechet_distance(np.zeros(3), np.eye(3), np.ones(3), np.eye(3)) == pytest.approx(3.0)
    # N(0, a^2 I) vs N(0, b^2 I): d (a - b)^2
    assert frechet_distance(np.zeros(4), 4 * np.eye(4), np.zeros(4), np.eye(4)) == pytest.approx(4.0)
    x = np.random.default_rng(0).standard_normal((300, 5))
    assert fid_from_features(x, x) == pytest.approx(0.0, abs=1e-9)


def direct_mmd2(x, y):
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, written as the O(n^2) double sums."""
    d = x.shape[1]
    k = lambda a, b: (np.dot(a, b) / d + 1) ** 3  # noqa: E731
    m, n = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i, j in product(range(m), range(m)) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i, j in product(range(n), range(n)) if i != j) / (n * (n - 1))
    kxy = sum(k(x[i], y[j]) for i, j in product(range(m), range(n))) / (m * n)
    return kxx + kyy - 2 * kxy


def test_kid_equals_direct_computation():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((25, 6)), rng.standard_normal((25, 6)) * 1.3 + 0.2
    ref = direct_mmd2(x, y)
    assert mmd2_unbiased(x, y) == pytest.approx(ref, rel=1e-10)
    mean, std = kid(x, y, subsets=3, subset_size=1000)   # one subset would be both whole sets: the exact value,
    assert mean == pytest.approx(ref, rel=1e-10)         # and a std from random halves (never a meaningless 0)
    pick = np.random.default_rng(0)
    halves = [direct_mmd2(x[pick.choice(25, 12, replace=False)], y[pick.choice(25, 12, replace=False)])
              for _ in range(3)]
    assert std == pytest.approx(np.std(halves), rel=1e-8) and std > 0
    y2 = rng.standard_normal((31, 6))                       # unequal sizes
    assert mmd2_unbiased(x, y2) == pytest.approx(direct_mmd2(x, y2), rel=1e-10)


def test_kid_subsets_average_direct_values():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((40, 4)), rng.standard_normal((50, 4)) + 1
    mean, std = kid(x, y, subsets=4, subset_size=10, seed=7)
    pick = np.random.default_rng(7)
    vals = []
    for _ in range(4):
        xi, yi = x[pick.choice(40, 10, replace=False)], y[pick.choice(50, 10, replace=False)]
        vals.append(direct_mmd2(xi, yi))
    assert mean == pytest.approx(np.mean(vals), rel=1e-10) and std == pytest.approx(np.std(vals), rel=1e-8)


def test_kid_near_zero_for_same_distribution():
    rng = np.random.default_rng(3)
    same, _ = kid(rng.standard_normal((600, 8)), rng.standard_normal((600, 8)), subsets=8, subset_size=300)
    far, _ = kid(rng.standard_normal((600, 8)), rng.standard_normal((600, 8)) + 2, subsets=8, subset_size=300)
    assert abs(same) < 0.01 < far


def test_knn_radii_small_case():
    pts = np.array([[0.0], [1.0], [3.0], [6.0]])
    np.testing.assert_allclose(knn_radii(pts, 1), [1, 1, 2, 3])
    np.testing.assert_allclose(knn_radii(pts, 2), [3, 2, 3, 5])


def test_precision_recall_known_answers():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((300, 5))
    assert precision_recall(x, x) == {"precision": 1.0, "recall": 1.0}
    assert precision_recall(x, x + 100) == {"precision": 0.0, "recall": 0.0}
    line = np.array([[0.0], [1.0], [2.0], [3.0]])             # k = 1: every real ball has radius 1
    fake = np.array([[0.5], [10.0], [11.0], [12.0]])
    assert precision_recall(line, fake, k=1)["precision"] == 0.25


def test_density_coverage_known_answers():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((300, 5))
    dc = density_coverage(x, x, k=5)
    assert dc["coverage"] == 1.0 and dc["density"] == pytest.approx(6 / 5)   # each ball: itself + k neighbours
    assert density_coverage(x, x + 100) == {"density": 0.0, "coverage": 0.0}


def test_manifold_metrics_same_and_half_distribution():
    rng = np.random.default_rng(6)
    real, fake = rng.uniform(size=(2000, 2)), rng.uniform(size=(2000, 2))
    dc = density_coverage(real, fake, k=5)
    assert dc["density"] == pytest.approx(1.0, abs=0.08)
    assert dc["coverage"] == pytest.approx(1 - 0.5 ** 5, abs=0.02)  # Naeem et al.: 1 - 2^-k for M = N
    half = fake * np.array([0.5, 1.0])                             # fake covers the left half only
    pr = precision_recall(real, half)
    assert pr["precision"] > 0.97 and pr["recall"] == pytest.approx(0.5, abs=0.05)
    assert density_coverage(real, half)["coverage"] == pytest.approx(0.5, abs=0.05)


def test_inception_score_and_class_scores():
    onehot = np.eye(10)[np.arange(1000) % 10]
    assert inception_score(onehot)[0] == pytest.approx(10.0, rel=1e-6)
    assert inception_score(np.full((100, 10), 0.1))[0] == pytest.approx(1.0)
    s = class_scores(onehot)
    assert s["confident"] == 1.0 and s["classes"] == 10 and s["class_kl"] == pytest.approx(0.0, abs=1e-9)
    one = class_scores(np.eye(10)[np.zeros(50, int)])
    assert one["classes"] == 1 and one["class_kl"] == pytest.approx(np.log(10))
    unsure = class_scores(np.full((20, 10), 0.1))
    assert unsure["confident"] == 0.0


def test_mean_cov_rejects_bad_shapes():
    with pytest.raises(ValueError):
        mean_cov(np.zeros((1, 3)))
