"""The evaluation API the CLI wraps: ``evaluate`` (samples vs data), ``evaluate_run`` (a run directory) and
``fid_between`` (any two sources).

Example:
    >>> from gankit.metrics import evaluate, evaluate_run, fid_between
    >>> fid_between("mnist:train", "mnist:test", features="mnist", n=2000)["fid_mnist"]
    >>> evaluate("samples.npy", data="ring-2d")               # {"modes": 8, "hq": 0.97, "rkl": 0.01, ...}
    >>> evaluate_run("runs/mnist-mlp", metrics=["fid", "is"])  # also appended to the run's metrics.jsonl
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from ..config import DataConfig
from ..data import dataset_name, folder_source, load_data
from ..errors import GankitError
from ..run import available_memory, load_run
from ..rundir import MEMORISATION, RunDir
from .defaults import check_fit, default_features, default_metrics, default_n, known_dataset
from .evaluate import Evaluator, reference_metrics, uses_features
from .sources import Samples, data_config, from_array, from_data, resolve, run_reference_config, run_samples

SampleSpec = Union[str, Path, torch.Tensor, np.ndarray, Samples]


MAX_N = 10_000_000  # samples a side: more would take hours even where the memory allows


def check_n(n: int, shape: Sequence[int], what: str = "") -> None:
    """Refuse, in one line, an --n whose samples (both sides, with their features) would not fit in memory."""
    if n > MAX_N:
        raise GankitError(f"--n {n:,} is more than the {MAX_N:,} samples a side an evaluation takes (hours of "
                          "work); lower --n")
    values = int(np.prod(shape)) if len(shape) else 1
    per = 2 * (values * 5 + (2048 * 8 if len(shape) == 3 else values * 8))  # float + uint8 + features, 2 sides
    free = available_memory()
    if free is not None and n * per > 0.8 * free:
        raise GankitError(f"--n {n:,} would need about {n * per / 2**30:,.1f} GB of memory{what} and "
                          f"{free / 2**30:,.1f} GB is free; lower --n")


def _dataset_of(spec: Union[str, DataConfig, None]) -> str:
    if isinstance(spec, DataConfig):
        return dataset_name(spec)
    path = Path(str(spec)).expanduser() if spec is not None else None
    if path is not None and path.is_dir() and not RunDir(path).is_run():
        return folder_source()                                  # an image folder: the folder's defaults
    if path is None or path.exists() or str(spec).endswith(".npy"):
        return ""
    return str(spec).partition(":")[0]


def _needs_reference(names: Sequence[str], dataset: str) -> bool:
    """Real data are drawn when a metric compares with them, and always for data sampled from a known
    distribution (vector datasets): the mode and moment metrics read its modes and target from there."""
    info = known_dataset(dataset)
    return bool(reference_metrics(names)) or (info is not None and info.kind == "vector")


def _reference(data: Union[str, DataConfig, None], n: int, like: Samples, verbose: bool) -> Optional[Samples]:
    if data is None:
        return None
    if isinstance(data, DataConfig):
        return from_data(load_data(data, verbose), data, n)
    return resolve(str(data), n, like=like, verbose=verbose)


def _as_samples(samples: SampleSpec, n: int, seed: int, verbose: bool) -> Samples:
    if isinstance(samples, Samples):
        return samples
    if isinstance(samples, (str, Path)):
        return resolve(str(samples), n, seed=seed, verbose=verbose)
    return from_array(samples)


def evaluate(samples: SampleSpec, data: Union[str, DataConfig, None] = None, metrics: Optional[Sequence[str]] = None,
             n: int = 0, features: str = "", precision: str = "fp32", seed: int = 0,
             verbose: bool = True, force_features: bool = False) -> Dict[str, Any]:
    """Metrics of samples (a spec string, or an array in the data's scale) against data (spec or DataConfig).

    Defaults follow the data's descriptor (``DatasetInfo.metrics``, ``.features``, ``.eval_n``): mnist -> fid,
    is, classes with the mnist CNN; ring-2d/grid-2d -> modes on 2 500 samples; stacked-mnist -> stacked on
    26 000; cifar10 -> fid with Inception on 10 000; folders and emoji -> kid, fid and memorisation with
    Inception on 1 000. ``n`` caps both sides. ``force_features``: use an extractor that does not fit the data.
    """
    t0 = time.perf_counter()
    dataset = _dataset_of(data)
    if isinstance(samples, (str, Path)) and RunDir(samples).is_run() and not dataset:
        return evaluate_run(samples, metrics, n, features, precision=precision, seed=seed, append=False,
                            verbose=verbose, force_features=force_features)
    names = list(metrics or default_metrics(dataset))
    n = n or default_n(names, dataset)
    check_n(n, ())
    if isinstance(samples, (str, Path)) and RunDir(samples).is_run():
        check_n(n, load_run(str(samples)).sample_shape)  # before thousands of samples are drawn
    fake = _as_samples(samples, n, seed, verbose)
    check_n(n, tuple(fake.x.shape[1:]))  # the reference side draws n of its own
    dataset = dataset or fake.dataset
    if not metrics:
        names = default_metrics(dataset, fake.kind)
    real = _reference(data, n, fake, verbose) if _needs_reference(names, dataset) else None
    ev = Evaluator(names, real, features, dataset, precision=precision, verbose=verbose,
                   force_features=force_features)
    result = ev(fake)
    return _summary(result, ev, fake, real, t0)


def _summary(result: Dict[str, Any], ev: Evaluator, fake: Samples, real: Optional[Samples],
             t0: float) -> Dict[str, Any]:
    extra: Dict[str, Any] = {"n": len(fake)}
    if real is not None and ev.real is not None and reference_metrics(ev.metrics):
        extra.update(n_ref=len(real), reference=real.label)
    if ev.uses_features:
        extra["features"] = ev.features
    return {**result, **extra, "seconds": round(time.perf_counter() - t0, 2)}


def evaluate_run(run_dir: Union[str, Path], metrics: Optional[Sequence[str]] = None, n: int = 0,
                 features: str = "", data: Union[str, DataConfig, None] = None, precision: str = "fp32",
                 seed: int = 0, append: bool = True, verbose: bool = True,
                 force_features: bool = False) -> Dict[str, Any]:
    """Evaluate a run's generator (EMA weights when present) against the data it trained on (the whole
    dataset, same split) or ``data``; append the numbers to RUN_DIR/metrics.jsonl as ``eval/*`` keys.

    Defaults as ``evaluate``, from the training data's descriptor; the memorisation check (a folder run's
    default) searches every training image (and their mirrors with data.mirror) and writes its panel of
    sample | nearest pairs to RUN_DIR/memorisation.png."""
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    if not RunDir(run_dir).is_run():
        raise GankitError(f"{run_dir} is not a run directory (no config.json); give the directory "
                          "`gankit train` wrote, or use --samples FILE.npy --data DATASET")
    run = load_run(str(run_dir))
    cfg = run.cfg
    ref_cfg = data if data is not None else run_reference_config(cfg.data)
    if data is None and ref_cfg.path and not Path(ref_cfg.path).expanduser().is_dir():
        raise GankitError(f"{run_dir} trained on the folder {ref_cfg.path}, which is not there any more; give "
                          "its new place (or another folder to compare with) with --data FOLDER")
    dataset = _dataset_of(ref_cfg)
    names = list(metrics or default_metrics(dataset))
    n = n or default_n(names, dataset)
    features = features or cfg.eval.features
    if not force_features and uses_features(names):   # before drawing thousands of samples
        kind = "image" if len(run.data_shape) == 3 else "vector"
        check_fit(features or default_features(dataset, kind), kind, dataset_name(cfg.data), run.data_shape[0],
                  str(run_dir))
    check_n(n, run.sample_shape)
    fake = run_samples(run_dir, n, seed)
    real = _reference(ref_cfg, n, fake, verbose) if _needs_reference(names, dataset) else None
    ev = Evaluator(names, real, features, dataset, precision=precision, verbose=verbose,
                   force_features=force_features, mirror=bool(cfg.data.mirror) and data is None,
                   panel=RunDir(run_dir).file(MEMORISATION) if "memorisation" in names else None)
    result = _summary(ev(fake), ev, fake, real, t0)
    if run.classes:  # a class-conditional run: does G draw the class asked of it (metrics/per_class.py)
        from .per_class import per_class
        result.update(per_class(run, n=max(50, min(500, n // len(run.classes))), seed=seed))
        kinds = [k for k in ("kid", "fid") if k in names]
        if kinds and ev.uses_features:  # intra-class KID/FID: each class against its own images
            from .per_class import intra_class
            result.update(intra_class(run, ev.features, n=max(50, min(500, n // len(run.classes))), seed=seed,
                                      kinds=kinds, precision=precision))
    step = _run_step(fake.info.get("run"), run_dir)
    result = {"run": str(run_dir), "step": step, **result}
    if append:
        append_row(run_dir, step, result)
    return result


def _run_step(run: Any, run_dir: Path) -> Optional[int]:
    step = getattr(run, "step", None)
    if isinstance(step, int):
        return step
    steps = [r["step"] for r in RunDir(run_dir).read("metrics") if "step" in r]
    return steps[-1] if steps else None


def scalar_metrics(result: Dict[str, Any]) -> Dict[str, float]:
    """The numeric metric values of a result (bookkeeping such as n, seconds and step left out)."""
    skip = {"n", "n_ref", "seconds", "step", "modes_total", "stacked_n"}
    return {k: v for k, v in result.items()
            if k not in skip and isinstance(v, (int, float)) and not isinstance(v, bool)}


def append_row(run_dir: Path, step: Optional[int], result: Dict[str, Any]) -> None:
    """One metrics.jsonl row: {"step": s, "eval/<metric>": value, ...}."""
    row: Dict[str, Any] = {"step": step if step is not None else 0}
    row.update({f"eval/{k}": v for k, v in scalar_metrics(result).items()})
    RunDir(run_dir).append("metrics", row)


def fid_between(a: SampleSpec, b: SampleSpec, features: str = "", n: int = 10000, precision: str = "fp32",
                seed: int = 0, verbose: bool = True, force_features: bool = False) -> Dict[str, Any]:
    """FID between two sources (datasets, folders, .npy files, run directories, arrays); datasets and
    folders are cached. A folder takes the other side's size and channels. An extractor that does not fit
    either side is an error unless ``force_features``."""
    t0 = time.perf_counter()
    check_n(n, ())
    first_b = isinstance(a, (str, Path)) and Path(str(a)).is_dir() and not RunDir(str(a)).is_run()
    order: List[SampleSpec] = [b, a] if first_b else [a, b]
    got: List[Samples] = []
    for spec in order:
        like = got[0] if got else None
        if like is not None:
            check_n(n, tuple(like.x.shape[1:]))
        got.append(spec if isinstance(spec, Samples) else
                   resolve(str(spec), n, like=like, seed=seed, verbose=verbose)
                   if isinstance(spec, (str, Path)) else from_array(spec))
    sa, sb = (got[1], got[0]) if first_b else (got[0], got[1])
    dataset = sa.dataset or sb.dataset
    ev = Evaluator(["fid"], sa, features or default_features(dataset, sa.kind), dataset, precision=precision,
                   verbose=verbose, force_features=force_features, sides=("", ""))
    fid = ev(sb)
    return {**fid, "a": sa.label, "b": sb.label, "n_a": len(sa), "n_b": len(sb), "features": ev.features,
            "seconds": round(time.perf_counter() - t0, 2)}


__all__ = ["evaluate", "evaluate_run", "fid_between", "append_row", "scalar_metrics", "data_config"]
