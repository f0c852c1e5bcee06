"""The mode-collapse benchmark: train the ring / grid presets (and Stacked MNIST) for several seeds, evaluate
each run with the PacGAN/VEEGAN protocol, and print a markdown table beside the published rows.

Example:
    >>> rows = bench_modes(["ring-2d"], seeds=2, out_root="runs/bench")
    >>> print(modes_table(rows))
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import api
from .data import SOURCES, dataset_info, dataset_name
from .errors import GankitError
from .metrics.api import evaluate_run
from .reporter import Reporter

_report = Reporter(__name__)

# Published rows the table is printed beside: (benchmark, source, modes, HQ %, KL) as reported; None = not given.
PUBLISHED: Dict[str, List[Tuple[str, str, Optional[str], Optional[str]]]] = {
    "ring-2d": [("VEEGAN 2017 Table 1: GAN", "1", None, None),
                ("PacGAN 2018 Table 1: GAN", "6.3 ± 0.5", "98.2", None)],
    "grid-2d": [("VEEGAN 2017 Table 1: GAN", "3.3", None, None),
                ("PacGAN 2018 Table 1: GAN", "17.3 ± 0.8", "94.8", None),
                ("PacGAN 2018 Table 1: PacGAN4", "24.8 ± 0.2", "93.6", None)],
    "stacked-mnist-dcgan": [("PacGAN 2018 Table 2: DCGAN", "99", None, "3.4"),
                            ("PacGAN 2018 Table 2: PacDCGAN", "1000", None, "0.06")],
}


def bench_modes(presets: Sequence[str], seeds: int = 5, out_root: Optional[str] = None,
                overrides: Sequence[str] = (), verbose: bool = True, first_seed: int = 0) -> List[Dict[str, Any]]:
    """Train each preset with seeds first_seed..first_seed+seeds-1 and evaluate it; one row per run.

    Rows hold preset, seed, run_dir, wall (training seconds) and the metrics: modes/modes_total/hq/rkl for the
    2-D mixtures, stacked_modes/stacked_kl for Stacked MNIST (26 000 samples): the metrics the dataset's
    descriptor names. Every preset is checked to train a mode benchmark before the first one trains.
    """
    metrics = {preset: mode_metrics(preset, overrides) for preset in presets}
    root = Path(out_root or f"runs/bench-modes-{time.strftime('%Y%m%d-%H%M%S')}")
    rows = []
    for preset in presets:
        for seed in range(first_seed, first_seed + seeds):
            out = root / f"{Path(preset).stem if Path(preset).suffix else preset}-seed{seed}"  # a config file: its stem
            _report.say(f"bench modes: training {preset} seed {seed} -> {out}", verbose)
            t0 = time.perf_counter()
            run_dir = api.train(preset, [f"train.seed={seed}", *overrides], out=str(out), verbose=verbose)
            wall = time.perf_counter() - t0
            result = evaluate_run(run_dir, metrics=metrics[preset], verbose=verbose)
            rows.append({"preset": preset, "seed": seed, "run_dir": str(run_dir), "wall": wall, **result})
    return rows


def mode_metrics(preset: str, overrides: Sequence[str] = ()) -> List[str]:
    """The metrics that score a preset's dataset by its modes; a preset on other data is a GankitError."""
    data = api.resolve_config(preset, overrides).data
    info = dataset_info(data)
    if not info.modes:
        benchmarks = ", ".join(n for n in SOURCES.names() if SOURCES.info(n).modes)
        raise GankitError(f"bench modes: preset {preset!r} trains on {dataset_name(data)}, which has no modes to "
                          f"count; choose presets on {benchmarks}")
    return list(info.metrics)


def _mean_std(values: Sequence[float], fmt: str) -> str:
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(statistics.mean(values), fmt)} ± {format(statistics.stdev(values), fmt)}"


def modes_table(rows: Sequence[Dict[str, Any]]) -> str:
    """Markdown: one line per preset (mean ± std over seeds), then the published rows for that benchmark."""
    lines = ["| benchmark | runs | modes | high-quality % | reverse KL | wall (s) |",
             "|---|---|---|---|---|---|"]
    for preset in dict.fromkeys(r["preset"] for r in rows):
        group = [r for r in rows if r["preset"] == preset]
        wall = _mean_std([r["wall"] for r in group], ".0f")
        if "stacked_modes" in group[0]:
            modes = _mean_std([r["stacked_modes"] for r in group], ".1f") + " / 1000"
            lines.append(f"| {preset} (gankit) | {len(group)} seeds | {modes} | — | "
                         f"{_mean_std([r['stacked_kl'] for r in group], '.2f')} | {wall} |")
        else:
            modes = _mean_std([r["modes"] for r in group], ".1f") + f" / {group[0]['modes_total']}"
            hq = _mean_std([100 * r["hq"] for r in group], ".1f")
            lines.append(f"| {preset} (gankit) | {len(group)} seeds | {modes} | {hq} | "
                         f"{_mean_std([r['rkl'] for r in group], '.2f')} | {wall} |")
        for source, p_modes, p_hq, p_kl in PUBLISHED.get(preset, []):
            lines.append(f"| {source} | published | {p_modes} | {p_hq or '—'} | {p_kl or '—'} | — |")
    return "\n".join(lines)
