"""`gankit eval` and `gankit fid`: thin wrappers over gankit.metrics (a readable table; --json: one JSON line).

    gankit eval RUN_DIR [--metrics fid,is,classes] [--n N] [--features NAME] [--data SPEC] [--no-append] [--json]
    gankit eval --samples FILE.npy --data DATASET [--metrics ...]
    gankit fid A B [--features NAME] [--n N]          # A, B: dataset[:split], folder, .npy file or run dir

Progress, the expected time of slow features and warnings (too few samples for a metric) go to stderr.
"""
from __future__ import annotations

import argparse
import json
import math
from typing import Any, List


class RegistryHelp(argparse.HelpFormatter):
    """Help text whose ``{METRICS}`` and ``{EXTRACTORS}`` are the registries' names, read only when help is shown
    (importing the metrics takes a second that other commands should not pay)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "{METRICS}" in text or "{EXTRACTORS}" in text:
            from ..metrics import EXTRACTORS, METRICS
            text = text.replace("{METRICS}", ", ".join(METRICS.names()))
            text = text.replace("{EXTRACTORS}", ", ".join(EXTRACTORS.names()))
        return text


def add_parsers(sub: Any) -> None:
    sp = sub.add_parser("eval", help="evaluate a run's generator or a samples file (a table; --json for one line)",
                        formatter_class=RegistryHelp)
    sp.add_argument("run_dir", nargs="?", help="a run directory (its EMA generator when present)")
    sp.add_argument("--samples", help="a .npy file as `gankit sample --out x.npy` writes, instead of a run")
    sp.add_argument("--data", help="what to compare with: dataset[:split] (mnist, mnist:test, ring-2d, "
                    "stacked-mnist, ...), an image folder or a .npy file; default: the run's training data")
    sp.add_argument("--metrics", help="comma-separated, from: {METRICS} (default: by data)")
    sp.add_argument("--n", type=int, default=0, help="samples per side (default: by data: folders and emoji 1000, "
                    "modes 2500, stacked 26000, else 10000)")
    sp.add_argument("--features", default="", help="feature extractor: {EXTRACTORS} (default: by data)")
    sp.add_argument("--force-features", action="store_true", help="use --features even on data it does not fit "
                    "(a digit classifier on photos)")
    sp.add_argument("--precision", choices=["fp32", "bf16"], default="fp32", help="feature extraction precision")
    sp.add_argument("--seed", type=int, default=0, help="noise seed for the generated samples")
    sp.add_argument("--no-append", action="store_true", help="do not append the result to RUN_DIR/metrics.jsonl")
    sp.add_argument("--json", action="store_true", help="print the result as one JSON line (for scripts)")
    sp.set_defaults(func=cmd_eval)

    sp = sub.add_parser("fid", help="FID between two sources (datasets, folders, .npy files, run dirs)",
                        formatter_class=RegistryHelp)
    sp.add_argument("a", help="dataset[:split], image folder, .npy file or run directory")
    sp.add_argument("b", help="the same kinds as A")
    sp.add_argument("--features", default="", help="{EXTRACTORS} (default: by data, else inception)")
    sp.add_argument("--n", type=int, default=10000, help="at most this many samples per side (default 10000)")
    sp.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    sp.add_argument("--force-features", action="store_true", help="use --features even on data it does not fit")
    sp.add_argument("--json", action="store_true", help="print the result as one JSON line (for scripts)")
    sp.set_defaults(func=cmd_fid)


def _metric_list(text: str | None) -> List[str]:
    return [m.strip() for m in text.split(",") if m.strip()] if text else []


def _check(args: argparse.Namespace) -> None:
    from ..errors import GankitError
    from ..metrics import EXTRACTORS, METRICS
    if args.n < 0 or args.n == 1:
        raise GankitError(f"--n must be at least 2, got {args.n}: the statistics compare sets of samples "
                          "(a reliable FID needs thousands)")
    if args.features:
        EXTRACTORS.get(args.features)  # did-you-mean on a typo
    for m in _metric_list(getattr(args, "metrics", None)):
        METRICS.get(m)


def _print(result: dict, as_json: bool) -> None:
    """One JSON line (non-finite numbers as null) with --json, else the table (cli/table.py)."""
    if as_json:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in result.items()}
        print(json.dumps(clean))
    else:
        from .table import result_table
        print(result_table(result))


def cmd_eval(args: argparse.Namespace) -> int:
    from ..errors import GankitError
    from ..metrics import evaluate, evaluate_run
    _check(args)
    metrics = _metric_list(args.metrics) or None
    if args.run_dir and args.samples:
        raise GankitError("give either RUN_DIR or --samples FILE, not both")
    from .apply import translator_eval
    if not args.samples and translator_eval(args):  # image-to-image runs: PSNR/SSIM against the baseline
        return 0
    if args.run_dir:
        result = evaluate_run(args.run_dir, metrics, args.n, args.features, data=args.data,
                              precision=args.precision, seed=args.seed, append=not args.no_append,
                              force_features=args.force_features)
    elif args.samples:
        if not args.data:
            raise GankitError("--samples needs --data: the dataset to compare with (e.g. --data mnist)")
        result = evaluate(args.samples, args.data, metrics, args.n, args.features, args.precision, args.seed,
                          force_features=args.force_features)
    else:
        raise GankitError("give a run directory (gankit eval runs/NAME) or --samples FILE.npy --data DATASET")
    _print(result, args.json)
    return 0


def cmd_fid(args: argparse.Namespace) -> int:
    from ..metrics import fid_between
    _check(args)
    _print(fid_between(args.a, args.b, args.features, args.n or 10000, args.precision,
                       force_features=args.force_features), args.json)
    return 0
