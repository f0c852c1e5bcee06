"""The evaluation pipeline: samples -> features -> statistics -> numbers, one registered function per metric.

Metric keys carry the feature extractor's name where the number depends on it (``fid_mnist``,
``fid_inception``, ``kid_inception``, ``precision_inception``, ``is_mnist``, ``confident_mnist``, ...); the mode
metrics do not (``modes``, ``hq``, ``rkl``, ``stacked_modes``, ``stacked_kl``).

Each metric is registered with its ``MetricInfo`` (info.py): what it computes, whether it needs reference data
(the training images for ``memorisation``), whether it reads the feature extractor, and what each number it
returns means and which direction is better; ``gankit eval`` prints that beside the values.

Example:
    >>> ev = Evaluator(["fid", "is"], real=resolve("mnist:test", 2000), features="mnist")
    >>> ev(resolve("mnist:train", 2000))     # {"fid_mnist": ..., "is_mnist": ..., "is_mnist_std": ...}
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ..errors import GankitError
from ..registry import CALLABLE, Registry
from ..reporter import Reporter
from .classifier import class_scores, inception_score
from .defaults import check_samples_fit, count_text, datasets_with, default_features, sample_size_warnings
from .features import Extractor, cached_features, cached_rows, get_extractor
from .fid import fid_from_features, kid
from .info import MetricInfo, Output
from .modes import mixture_modes, stacked_digits, stacked_modes
from .prd import density_coverage, precision_recall
from .sources import Samples

_report = Reporter(__name__)

# A metric is a function (evaluator, fake samples, memo) -> {key: value}, registered with its MetricInfo.
METRICS = Registry("metric", expects=CALLABLE, info=MetricInfo)


def reference_metrics(names: Sequence[str]) -> List[str]:
    """Those of ``names`` that compare with real data (``MetricInfo.reference``)."""
    return sorted(n for n in set(names) if METRICS.info(n).reference)


def uses_features(names: Sequence[str]) -> bool:
    """Whether any of ``names`` reads the feature extractor (``MetricInfo.features``)."""
    return any(METRICS.info(n).features for n in names)


def duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{max(s, 1)} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class Evaluator:
    """Computes metrics of generated samples against fixed reference data.

    The reference features are computed once (and cached on disk for datasets); each call extracts the
    generated samples' features once and shares them between the metrics.
    """

    def __init__(self, metrics: Sequence[str], real: Optional[Samples] = None, features: str = "",
                 dataset: str = "", toy: Any = None, precision: str = "fp32", verbose: bool = False,
                 force_features: bool = False, mirror: bool = False, panel: Union[str, Path, None] = None,
                 warn: bool = True, sides: Tuple[str, str] = ("generated", "real")):
        """``force_features``: use the extractor on data it does not fit (see ``check_features``);
        ``mirror``: the training images also count in mirror image for the memorisation check, whose panel is
        written to ``panel`` when given; ``warn``: print the sample-size warnings (once, on the first call)."""
        for m in metrics:
            METRICS.get(m)  # an unknown name is a GankitError with a did-you-mean
        self.metrics = list(metrics)
        self.real, self.verbose, self.precision = real, verbose, precision
        self.force_features, self.mirror, self.panel, self.warn = force_features, mirror, panel, warn
        self.sides = sides
        self._checked = False
        self.dataset = dataset or (real.dataset if real else "")
        self.toy = toy if toy is not None else (real.toy if real else None)
        self.features = features or default_features(self.dataset, real.kind if real else "image")
        self._real_feats: Optional[Dict[str, np.ndarray]] = None
        missing = reference_metrics(self.metrics)
        if missing and real is None:
            free = ", ".join(n for n in METRICS.names() if not METRICS.info(n).reference)
            raise GankitError(f"metrics {', '.join(missing)} compare with real data; give the data to compare "
                              f"with (e.g. --data mnist) or choose metrics that need none ({free})")

    @property
    def extractor(self) -> Extractor:
        return get_extractor(self.features, self.precision)

    @property
    def uses_features(self) -> bool:
        return uses_features(self.metrics)

    def check_features(self, fake: Optional[Samples] = None) -> None:
        """A one-line error when the extractor does not fit the reference or the samples (a digit classifier's
        features of photos, say), unless ``force_features``."""
        if self.uses_features and not self.force_features:
            for side in (self.real, fake):
                if side is not None:
                    check_samples_fit(self.features, side)

    def warnings(self, n_fake: int) -> List[str]:
        """The sample-size warnings for n_fake generated samples against this reference."""
        n_real = len(self.real) if self.real is not None and reference_metrics(self.metrics) else 0
        return sample_size_warnings(self.metrics, n_fake, n_real, self.sides)

    def prepare(self, n_fake: int, fake: Optional[Samples] = None) -> None:
        """Before the first evaluation: check the extractor against the data and print the warnings (without
        a reference, that waits for the first samples)."""
        if not self._checked and (fake is not None or self.real is not None):
            self.check_features(fake)
            if self.warn:
                for line in self.warnings(n_fake):
                    _report.warn(f"warning: {line}")
            self._checked = True

    def feature_seconds(self, images: int) -> Optional[float]:
        """About how long the extractor takes for this many images here: slow extractors on the CPU only
        (their measured img/s per thread times the threads), None otherwise."""
        ext = self.extractor
        rate = ext.cpu_rate.get(self.precision, 0.0)
        if not rate or torch.device(getattr(ext, "device", "cpu")).type != "cpu":
            return None
        return images / (rate * torch.get_num_threads())

    def plan(self, fake: Optional[Samples] = None) -> str:
        """A progress line: which features of how many images are extracted (and which are cached already) and,
        for a slow extractor on the CPU, about how long that takes; "" when that is quick. Without ``fake``:
        the reference alone."""
        if not self.uses_features or self.feature_seconds(1) is None:
            return ""
        ext = self.extractor
        sides = [fake] if fake is not None else []
        if self.real is not None and self._real_feats is None and reference_metrics(self.metrics):
            sides.append(self.real)
        todo, parts = 0, []
        for side in sides:
            left = len(side) - cached_rows(ext, side.x, side.key)
            todo += left
            done = len(side) - left
            cached = "" if not done else " (cached)" if not left else f" ({count_text(done)} cached)"
            parts.append(f"{count_text(len(side))} from {side.label}{cached}")
        seconds = self.feature_seconds(todo)
        if not todo or seconds is None:
            return ""
        threads = torch.get_num_threads()
        return (f"{', '.join(self.metrics)}: {ext.name} features of {' and '.join(parts)}: about "
                f"{duration(seconds)} on {threads} CPU thread{'s' if threads > 1 else ''} "
                f"(~{todo / seconds:.0f} img/s, as measured on an idle machine)")

    def real_features(self) -> Dict[str, np.ndarray]:
        if self._real_feats is None:
            assert self.real is not None
            self._real_feats = cached_features(self.extractor, self.real.x, self.real.key, self.verbose,
                                               label=self.real.label)
        return self._real_feats

    def __call__(self, fake: Samples) -> Dict[str, Any]:
        _check_shapes(self.real, fake)
        if not self._checked:
            self.check_features(fake)
            line = self.plan(fake) if self.verbose else ""
            if line:
                _report.say(line)
            self.prepare(len(fake), fake)
        memo: Dict[str, Any] = {}
        out: Dict[str, Any] = {}
        for name in self.metrics:
            out.update(METRICS.get(name)(self, fake, memo))
        return out

    def fake_features(self, fake: Samples, memo: Dict[str, Any]) -> Dict[str, np.ndarray]:
        if "fake" not in memo:
            ext = self.extractor
            if ext.kind != fake.kind:
                raise GankitError(f"the {ext.name} extractor takes {ext.kind}s but the samples are {fake.kind}s; "
                                  f"choose --features {'identity' if fake.kind == 'vector' else 'inception'}")
            memo["fake"] = cached_features(ext, fake.x, fake.key, self.verbose, label=fake.label)
        return memo["fake"]

    def logits(self, fake: Samples, memo: Dict[str, Any], metric: str) -> np.ndarray:
        if not self.extractor.has_logits:
            raise GankitError(f"metric {metric!r} needs class logits, which the {self.features} extractor "
                              "does not give (the FID Inception port keeps only pool features); use "
                              "--features mnist or fashion")
        return self.fake_features(fake, memo)["logits"]


def _check_shapes(real: Optional[Samples], fake: Samples) -> None:
    """Samples and data of one kind must have one shape (every metric compares them element by element)."""
    if real is not None and real.kind == fake.kind and tuple(real.x.shape[1:]) != tuple(fake.x.shape[1:]):
        what = "images" if fake.kind == "image" else "vectors"
        raise GankitError(f"{fake.label} holds {what} of shape {tuple(fake.x.shape[1:])} but {real.label} "
                          f"holds {tuple(real.x.shape[1:])}; compare samples of the data's own size")


def _features_pair(ev: Evaluator, fake: Samples, memo: Dict[str, Any]) -> Tuple[np.ndarray, np.ndarray]:
    _check_shapes(ev.real, fake)
    return ev.real_features()["features"], ev.fake_features(fake, memo)["features"]


@METRICS.register("fid", info=MetricInfo(
    "Fréchet distance of Gaussian fits to the features (fid.py)", (
        Output("fid_{f}", "Fréchet distance of generated to real features (biased up at small n)", "lower"),),
    reference=True))
def _fid(ev: Evaluator, fake: Samples, memo: Dict[str, Any]) -> Dict[str, Any]:
    return {f"fid_{ev.features}": fid_from_features(*_features_pair(ev, fake, memo))}


@METRICS.register("kid", info=MetricInfo(
    "kernel inception distance, mean and std over 100 subsets of <= 1000 (fid.py)", (
        Output("kid_{f}", "kernel distance of generated to real features (unbiased at small n)", "lower"),),
    reference=True))
def _kid(ev: Evaluator, fake: Samples, memo: Dict[str, Any]) -> Dict[str, Any]:
    mean, std = kid(*_features_pair(ev, fake, memo))
    return {f"kid_{ev.features}": mean, f"kid_{ev.features}_std": std}


def _knn(ev: Evaluator, fake: Samples, memo: Dict[str, Any], which: str) -> Dict[str, float]:
    """precision/recall ("pr") or density/coverage ("dc"), computed once per call of the Evaluator."""
    if which not in memo:
        fn = precision_recall if which == "pr" else density_coverage
        memo[which] = fn(*_features_pair(ev, fake, memo))
    return memo[which]


def _register_knn(name: str, which: str, meaning: str) -> None:
    """precision and recall share one k-NN computation ("pr"), density and coverage another ("dc")."""
    def metric(ev: Evaluator, fake: Samples, memo: Dict[str, Any]) -> Dict[str, Any]:
        return {f"{name}_{ev.features}": _knn(ev, fake, memo, which)[name]}
    k = 3 if which == "pr" else 5
    METRICS.register(name, info=MetricInfo(f"k-NN {name}, k = {k} (prd.py)", (
        Output(f"{name}_{{f}}", meaning, "higher"),), reference=True))(metric)


for _name, _which, _meaning in (
        ("precision", "pr", "share of generated samples inside the real features' k-NN balls (fidelity)"),
        ("recall", "pr", "share of real samples inside the generated features' k-NN balls (variety)"),
        ("density", "dc", "how many real k-NN balls hold a generated sample, over k (fidelity; ~1 for alike sets)"),
        ("coverage", "dc", "share of real samples whose k-NN ball holds a generated sample (variety)")):
    _register_knn(_name, _which, _meaning)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


@METRICS.register("is", info=MetricInfo(
    "Inception Score of the extractor's softmax, 10 splits", (
        Output("is_{f}", "Inception Score: confident and varied class predictions", "higher"),)))
def _is(ev: Evaluator, fake: Samples, memo: Dict[str, Any]) -> Dict[str, Any]:
    mean, std = inception_score(_softmax(ev.logits(fake, memo, "is")), splits=10)
    return {f"is_{ev.features}": mean, f"is_{ev.features}_std": std}


@METRICS.register("classes", info=MetricInfo(
    "confident share, class histogram, its KL to uniform, classes covered", (
        Output("confident_{f}", "share of samples the classifier is sure of", "higher"),
        Output("classes_{f}", "classes covered (at least half a fair share each)", "higher"),
        Output("class_kl_{f}", "KL divergence of the class histogram to uniform", "lower"),
        Output("min_class_share_{f}", "share of the rarest class", "higher"),
        Output("class_hist_{f}", "share of samples per class"))))
def _classes(ev: Evaluator, fake: Samples, memo: Dict[str, Any]) -> Dict[str, Any]:
    scores = class_scores(_softmax(ev.logits(fake, memo, "classes")))
    scores.pop("is")
    return {f"{k}_{ev.features}": v for k, v in scores.items()}


@METRICS.register("modes", info=MetricInfo(
    "PacGAN/VEEGAN 2-D mixture protocol (modes.py)", (
        Output("modes", "mixture modes with at least one high-quality sample", "higher"),
        Output("modes_total", "modes in the mixture"),
        Output("hq", "share of samples within 3 std of a mode", "higher"),
        Output("rkl", "reverse KL of the mode histogram to uniform", "lower"),
        Output("mode_hist", "high-quality samples per mode")), features=False))
def _modes(ev: Evaluator, fake: Samples, memo: Dict[str, Any]) -> Dict[str, Any]:
    toy = ev.toy
    if toy is None or getattr(toy, "modes", None) is None or fake.kind != "vector":
        raise GankitError(f"metric 'modes' is for the 2-D mixtures; evaluate against {datasets_with('modes')}")
    return mixture_modes(fake.x.numpy(), toy.modes.numpy(), toy.mode_std)


@METRICS.register("stacked", info=MetricInfo(
    "Stacked MNIST modes and KL, channels classified by the mnist CNN", (
        Output("stacked_modes", "digit triples covered, of 1 000", "higher"),
        Output("stacked_kl", "KL divergence of the triples' histogram to uniform", "lower"),
        Output("stacked_n", "samples classified")), features=False))
def _stacked(ev: Evaluator, fake: Samples, memo: Dict[str, Any]) -> Dict[str, Any]:
    if fake.kind != "image" or fake.x.shape[1] != 3:
        raise GankitError("metric 'stacked' needs 3-channel images (Stacked MNIST samples)")
    mnist = get_extractor("mnist", ev.precision)
    return stacked_modes(stacked_digits(fake.x, lambda b: mnist(b)["logits"]))


@METRICS.register("moments", info=MetricInfo(
    "mean, std, KS statistic and W1 against the N(mean, std) target", (
        Output("mean", "mean of the generated values (the target's is data.mean)"),
        Output("std", "standard deviation of the generated values (the target's is data.std)"),
        Output("ks", "Kolmogorov-Smirnov statistic against the target normal", "lower"),
        Output("w1", "Wasserstein-1 distance to the target normal", "lower")), features=False))
def _moments(ev: Evaluator, fake: Samples, memo: Dict[str, Any]) -> Dict[str, Any]:
    """Mean, std, Kolmogorov-Smirnov statistic and W1 of all values against the N(mean, std) target."""
    from .onedim import normal_fit
    target = dict(getattr(ev.toy, "target", {}) or {})
    if fake.kind != "vector" or not target:
        raise GankitError(f"metric 'moments' is for {datasets_with('moments')} samples")
    x = fake.x.double().numpy().ravel()
    ks, w1 = normal_fit(x, target["mean"], target["std"])
    return {"mean": float(x.mean()), "std": float(x.std()), "ks": ks, "w1": w1}


@METRICS.register("memorisation", info=MetricInfo(
    "nearest-training-image distance of the samples over the training images' own, in pixels (memorisation.py)", (
        Output("memorisation", "samples' distance to their nearest training image over the training images' "
               "own: ~0 copies, ~1 as new as the training images are to each other, well above 1 far from all"),
        Output("memorisation_nn", "median pixel distance of a sample to its nearest training image")),
    reference=True, features=False))
def _memorisation(ev: Evaluator, fake: Samples, memo: Dict[str, Any]) -> Dict[str, Any]:
    """Median nearest-training-image distance of the samples over that of the training images among themselves
    (pixels), against every training image (``real.info["train"]``, else the reference itself); the panel of
    sample | nearest pairs goes to ``ev.panel`` when set."""
    from .memorisation import memorisation
    if fake.kind != "image" or ev.real is None or ev.real.kind != "image":
        raise GankitError("metric 'memorisation' compares images with the training images; give image samples "
                          "and the training data")
    train = ev.real.info.get("train", ev.real.x)
    r = memorisation(fake.x, train, out_png=ev.panel, mirror=ev.mirror)
    out = {"memorisation": r["memorisation"], "memorisation_nn": r["nn_sample_median"]}
    return {**out, "memorisation_png": str(ev.panel)} if ev.panel is not None else out
