"""Evaluation: feature extractors, FID/KID, precision/recall, density/coverage, mode metrics, and the
``evaluate`` API the CLI wraps. See docs/evaluation.md.

Example:
    >>> from gankit.metrics import evaluate, fid_between
    >>> evaluate("runs/ring/samples.npy", data="ring-2d")["modes"]
"""
from .api import evaluate, evaluate_run, fid_between
from .defaults import default_features, default_metrics
from .evaluate import METRICS, Evaluator
from .features import EXTRACTORS, get_extractor
from .swd import SWDConfig  # noqa: F401  (importing swd registers the "swd" metric beside evaluate.py's)

__all__ = ["evaluate", "evaluate_run", "fid_between", "METRICS", "EXTRACTORS", "Evaluator", "get_extractor",
           "default_features", "default_metrics"]
