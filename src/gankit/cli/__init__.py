"""Command line: a thin layer over the Python API.

    gankit presets
    gankit train PRESET_OR_CONFIG [--set KEY=VALUE ...] [--out RUN_DIR] [--resume] [--dry-run]
    gankit sample RUN_DIR --n N --out PATH [--seed S]

Other commands (eval, fid, bench, stylize, report) are added by their modules' ``add_parsers``.
A user mistake prints one line on stderr and exits with status 2.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from typing import List, Optional

from ..errors import GankitError

# Modules that add sub-commands: each defines add_parsers(subparsers).
PLUGINS = ["gankit.cli.eval", "gankit.cli.bench", "gankit.cli.style", "gankit.cli_report"]


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="gankit", description="Train, sample and evaluate GANs.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    sp = sub.add_parser("presets", help="list the named recipes")
    sp.set_defaults(func=cmd_presets)

    sp = sub.add_parser("train", help="train a preset or a config file")
    sp.add_argument("config", help="preset name (see `gankit presets`) or a .yaml config file")
    sp.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config value, e.g. --set train.lr_d=1e-4 (repeatable)")
    sp.add_argument("--out", help="run directory (default runs/<preset>)")
    sp.add_argument("--resume", action="store_true", help="continue RUN_DIR/checkpoints/latest.pt")
    sp.add_argument("--allow-change", action="append", default=[], metavar="KEY",
                    help="with --resume: a config key that may differ from the saved run (repeatable)")
    sp.add_argument("--dry-run", action="store_true", help="print the resolved config and stop")
    sp.set_defaults(func=cmd_train)

    sp = sub.add_parser("sample", help="draw samples from a trained run")
    sp.add_argument("run_dir")
    sp.add_argument("--n", type=int, default=64)
    sp.add_argument("--out", required=True, help="a .npy file (float32, data scale), a .png grid, or a folder")
    sp.add_argument("--seed", type=int, default=0)
    sp.set_defaults(func=cmd_sample)

    for name in PLUGINS:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).add_parsers(sub)
    return p


def cmd_presets(args: argparse.Namespace) -> int:
    from ..config import preset_descriptions
    items = preset_descriptions()
    width = max(map(len, items))
    for name, desc in items.items():
        print(f"{name:<{width}}  {desc}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .. import api
    cfg = api.resolve_config(args.config, args.overrides)
    if args.dry_run:
        print(cfg.to_json())
        return 0
    run_dir = api.train(args.config, args.overrides, out=args.out, resume=args.resume,
                        allow_change=args.allow_change)
    print(f"run directory: {run_dir}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from .. import api
    if args.n < 1:
        raise GankitError("--n must be at least 1")
    path = api.sample(args.run_dir, args.n, args.out, seed=args.seed)
    print(f"wrote {args.n} samples to {path}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except GankitError as e:
        sys.stderr.write(f"gankit: error: {e}\n")
        return 2
    except Exception as e:
        from ..train.trainer import Interrupted
        if not isinstance(e, Interrupted):
            raise
        sys.stderr.write(f"gankit: {e}\n")
        return 130
    except KeyboardInterrupt:
        sys.stderr.write("gankit: interrupted\n")
        return 130
