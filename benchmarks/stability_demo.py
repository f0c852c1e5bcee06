"""A recipe that fails, trained twice: as written (the diagnoser only reports) and with train.auto_remedy=true.
Prints the diagnoser's events of both runs and a markdown table of their metrics at the end.

    python benchmarks/stability_demo.py mnist-mlp --steps 1200 --set train.precision=bf16 --out runs/demo-remedy
    python benchmarks/stability_demo.py mnist-mlp --steps 1200 --out runs/demo-remedy --reuse   # evaluate only

The metrics are the evaluation's defaults for the data (mnist: FID in the MNIST classifier's feature space and
class coverage; ring/grid: modes and high-quality share), on --n samples.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch


def d_stats(run: Path, steps: int) -> dict:
    """Medians of D's loss, D(real), D(fake) and G's loss over the log rows of the last 10% of the steps."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "loss_d" in r and r["step"] > 0.9 * steps]
    return {k: statistics.median(r[k] for r in rows) for k in ("loss_d", "d_real", "d_fake", "loss_g")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("preset")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=5000, help="samples for the metrics")
    p.add_argument("--metrics", default="", help="comma-separated (default: by data)")
    p.add_argument("--reuse", action="store_true", help="evaluate runs already in --out")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    from gankit import api
    from gankit.metrics import evaluate_run
    table = []
    for mode in ("as written", "auto_remedy"):
        run = Path(args.out) / ("plain" if mode == "as written" else "remedy")
        t0 = time.perf_counter()
        if not args.reuse:
            api.train(args.preset, [f"train.steps={args.steps}", "log.progress=false",
                                    f"train.auto_remedy={'true' if mode == 'auto_remedy' else 'false'}",
                                    *args.overrides], out=str(run), verbose=False)
        wall = time.perf_counter() - t0
        metrics = [m for m in args.metrics.split(",") if m] or None
        result = evaluate_run(run, metrics=metrics, n=args.n, append=False, verbose=False)
        events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()] \
            if (run / "events.jsonl").is_file() else []
        print(f"\n## {args.preset}, {args.steps} steps, {mode}: {len(events)} events", flush=True)
        for e in events:
            print(f"- step {e['step']} [{e['kind']}] {e['message']}")
        scalars = {k: v for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                   and k not in ("n", "n_ref", "seconds", "step")}
        table.append((mode, {**scalars, **{f"median {k} (last 10%)": v for k, v in
                                          d_stats(run, args.steps).items()}}, wall))
    keys = list(table[0][1])
    print(f"\n| {args.preset} ({args.steps} steps) | " + " | ".join(keys) + " | train wall (s) |")
    print("|---|" + "---|" * (len(keys) + 1))
    for mode, vals, wall in table:
        cells = [f"{vals.get(k, float('nan')):.4g}" for k in keys]
        print(f"| {mode} | " + " | ".join(cells) + f" | {wall:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
