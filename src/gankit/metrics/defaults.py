"""What fits a dataset, decided from its descriptor (``DatasetInfo``): the metrics, feature extractor and
sample count used when none are named, the check that an extractor fits the data, and the warnings for sample
counts a metric cannot support. ``evaluate.py`` computes the metrics; this module only chooses.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from ..data import SOURCES, DatasetInfo
from ..errors import GankitError
from .features import EXTRACTORS
from .sources import Samples

PREFERRED_N = {"modes": 2500, "stacked": 26000}   # the protocols' sample counts (PacGAN, VEEGAN)
DEFAULT_N = 10000
FID_RELIABLE_N = 2000   # below this many samples a side FID is visibly biased upward (docs/evaluation.md)
KID_MIN_N = 100         # below this many KID's estimate varies more than the differences it should show


def count_text(n: int) -> str:
    return f"{n:,}".replace(",", " ")


def sample_size_warnings(metrics: Sequence[str], n_fake: int, n_real: int = 0,
                         sides: Tuple[str, str] = ("generated", "real")) -> List[str]:
    """One line for each metric that this many samples (generated, and real when given) cannot support;
    ``sides`` names the two sets in the message (("", "") for two sets of the same kind)."""
    n = min(n_fake, n_real) if n_real else n_fake
    counts = [f"{count_text(n_fake)} {sides[0]}".strip()]
    if n_real:
        counts.append(f"{count_text(n_real)} {sides[1]}".strip())
    sizes = " and ".join(counts) + " samples"
    out = []
    if "fid" in metrics and n < FID_RELIABLE_N:
        out.append(f"FID from {sizes} is biased upward (it falls as n grows and is reliable from about "
                   f"{count_text(FID_RELIABLE_N)} a side): compare FIDs only at equal n, or read KID, which is "
                   "unbiased at small n")
    if "kid" in metrics and n < KID_MIN_N:
        out.append(f"KID from {sizes} varies more between draws than most differences it should show "
                   f"(see its _std); use at least {KID_MIN_N} a side")
    return out


def known_dataset(dataset: str) -> Optional[DatasetInfo]:
    """The descriptor of a registered dataset name; None for samples of unknown origin (.npy files, arrays)."""
    return SOURCES.info(dataset) if dataset in SOURCES else None


def check_fit(features: str, kind: str, dataset: str, channels: int, label: str) -> None:
    """A one-line error when the extractor ``features`` does not fit samples of this kind, dataset (a
    registered name, or "" when unknown) and channel count (``Extractor.fits``): a classifier's features of
    images it was not trained on measure nothing. Names the extractors that do fit."""
    ext = EXTRACTORS.get(features)
    if ext.kind != kind:
        return                                       # the wrong kind altogether: fake_features says so
    info = known_dataset(dataset)
    if ext.fits(kind, info, channels):
        return
    fitting = [n for n in EXTRACTORS.names() if EXTRACTORS.get(n).fits(kind, info, channels)]
    own = [n for n in SOURCES.names() if not SOURCES.info(n).folder and SOURCES.info(n).kind == ext.kind
           and ext.fits(ext.kind, SOURCES.info(n), (SOURCES.info(n).native or (1,))[0])]
    what = f"{dataset} images" if info is not None else f"{channels}-channel images of unknown origin"
    raise GankitError(f"the {features} features are made for {' and '.join(own) or 'other'} data, not for "
                      f"{label} ({what}), so they would measure nothing; use --features "
                      f"{' or '.join(fitting)}, or --force-features to measure with {features} anyway")


def check_samples_fit(features: str, side: Samples) -> None:
    check_fit(features, side.kind, side.dataset, int(side.x.shape[1]) if side.kind == "image" else 0, side.label)


def default_features(dataset: str, kind: str = "image") -> str:
    """The extractor used when none is named: the dataset's (its domain classifier where one exists);
    for data of unknown origin, identity for vectors and Inception for images."""
    if kind == "vector":
        return "identity"
    info = known_dataset(dataset)
    return info.features if info else "inception"


def default_metrics(dataset: str, kind: str = "image") -> List[str]:
    """The metrics computed when none are named: the dataset's; for data of unknown origin, FID for images
    and FID, precision and recall for vectors."""
    info = known_dataset(dataset)
    if info is not None:
        return list(info.metrics)
    return ["fid"] if kind == "image" else ["fid", "precision", "recall"]


def datasets_with(metric: str) -> str:
    """'ring-2d or grid-2d': the datasets whose default metrics include ``metric`` (for error messages)."""
    return " or ".join(n for n in SOURCES.names() if metric in SOURCES.info(n).metrics)


def default_n(metrics: Sequence[str], dataset: str = "") -> int:
    """Samples per side when --n is not given: the dataset's ``eval_n`` (folders and emoji: 1 000, so Inception
    features take minutes on a CPU), else 10 000; the mode protocols' own counts where they need more."""
    info = known_dataset(dataset)
    base = info.eval_n if info is not None and info.eval_n else DEFAULT_N
    return max(PREFERRED_N.get(m, base) for m in metrics) if metrics else base
