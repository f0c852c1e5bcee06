"""`gankit bench ...`: benchmarks that print markdown tables.

    gankit bench modes [--seeds N] [--presets ring-2d grid-2d] [--stacked] [--set KEY=VALUE] [--out DIR]

Other benchmarks join as their own sub-command: write ``def add_mine(bench_subparsers)`` that adds a parser
with ``func=``, and list it in BENCHES (or decorate it with ``@bench_command``).
"""
from __future__ import annotations

import argparse
import json
from typing import Any, Callable, List

BENCHES: List[Callable[[Any], None]] = []


def bench_command(add: Callable[[Any], None]) -> Callable[[Any], None]:
    """Register a function that adds one `gankit bench` sub-command to the bench sub-parsers."""
    BENCHES.append(add)
    return add


def add_parsers(sub: Any) -> None:
    bp = sub.add_parser("bench", help="benchmarks that print markdown tables (see `gankit bench -h`)")
    bsub = bp.add_subparsers(dest="bench", required=True, parser_class=type(bp))
    for add in BENCHES:
        add(bsub)


@bench_command
def add_modes(bsub: Any) -> None:
    sp = bsub.add_parser("modes", help="mode-collapse benchmark: ring/grid (and Stacked MNIST) over seeds")
    sp.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per preset (default 5)")
    sp.add_argument("--first-seed", type=int, default=0,
                    help="start at this seed (split one benchmark over several processes or machines)")
    sp.add_argument("--presets", nargs="+", default=["ring-2d", "grid-2d"], help="presets to train")
    sp.add_argument("--stacked", action="store_true", help="add the stacked-mnist-dcgan preset (slow on a CPU)")
    sp.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config value in every run, e.g. --set train.steps=1000")
    sp.add_argument("--out", help="folder for the runs (default runs/bench-modes-<time>)")
    sp.add_argument("--json", action="store_true", help="also print each run's row as a JSON line")
    sp.set_defaults(func=cmd_modes)


def cmd_modes(args: argparse.Namespace) -> int:
    from ..bench import bench_modes, modes_table
    from ..errors import GankitError
    if args.seeds < 1:
        raise GankitError("--seeds must be at least 1")
    presets = list(args.presets) + (["stacked-mnist-dcgan"] if args.stacked else [])
    if args.first_seed < 0:
        raise GankitError("--first-seed must be 0 or more")
    rows = bench_modes(presets, args.seeds, args.out, args.overrides, first_seed=args.first_seed)
    if args.json:
        for r in rows:
            print(json.dumps({k: v for k, v in r.items() if not isinstance(v, list)}))
    print(modes_table(rows))
    return 0
