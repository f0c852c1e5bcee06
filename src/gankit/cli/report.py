"""`gankit report RUN_DIR [-o FILE]`: write a run's self-contained HTML report."""
from __future__ import annotations

import argparse


def add_parsers(sub) -> None:
    sp = sub.add_parser("report", help="write a run's self-contained HTML report (curves, samples, findings)",
                        description="Write one HTML file about a run: settings, curves, the diagnoser's findings, "
                                    "samples over training, real vs generated, a latent walk. It needs no network "
                                    "and opens from disk.")
    sp.add_argument("run_dir", help="a run directory (the --out of `gankit train`)")
    sp.add_argument("-o", "--out", metavar="FILE", help="where to write the HTML (default RUN_DIR/report.html)")
    sp.add_argument("--device", default="cpu", help="where to run the generator for the samples (default cpu)")
    sp.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from ..report import build_report
    path = build_report(args.run_dir, out=args.out, device=args.device)
    print(f"report: {path}")
    return 0
