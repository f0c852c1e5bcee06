"""Command line: a thin layer over the Python API.

    gankit presets
    gankit train PRESET_OR_CONFIG [--set KEY=VALUE ...] [--out RUN_DIR] [--resume] [--dry-run [--all]]
    gankit sample RUN_DIR --n N --out PATH [--seed S] [--step N] | --interpolate K --out STRIP.png

Other commands (eval, fid, bench, stylize, report) are added by their modules' ``add_parsers``.
A user mistake prints one line on stderr and exits with status 2; output cut short by a closed pipe
(``gankit train X --dry-run | head``) ends quietly, with status 1.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
from typing import List, Optional

from ..config import all_keys
from ..errors import GankitError

# Modules that add sub-commands: each defines add_parsers(subparsers).
PLUGINS = ["gankit.cli.eval", "gankit.cli.bench", "gankit.cli.style", "gankit.cli.report", "gankit.cli.apply", "gankit.cli.export",
           "gankit.cli.project"]


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    p = Parser(prog="gankit", description="Train, sample and evaluate GANs.")
    p.add_argument("--version", action="version", version=f"gankit {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    sp = sub.add_parser("presets", help="list the named recipes")
    sp.set_defaults(func=cmd_presets)

    sp = sub.add_parser("train", help="train a preset or a config file")
    sp.add_argument("config", nargs="?",
                    help="preset name (see `gankit presets`), a .yaml config file, or a run directory")
    sp.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                    help="override config values, e.g. --set train.lr_d=1e-4 train.steps=500 (repeatable)")
    sp.add_argument("--out", help="run directory (default runs/<preset>)")
    sp.add_argument("--resume", action="store_true", help="continue RUN_DIR/checkpoints/latest.pt")
    sp.add_argument("--allow-change", action="extend", nargs="+", default=[], metavar="KEY",
                    help="with --resume: config keys that may differ from the saved run (repeatable)")
    sp.add_argument("--dry-run", action="store_true",
                    help="print the resolved config (the keys this run uses) and stop")
    sp.add_argument("--all", action="store_true", help="with --dry-run: print every key, used or not")
    sp.add_argument("--no-time", action="store_true",
                    help="with --dry-run: do not time a few steps on random data to estimate the run's length")
    sp.set_defaults(func=cmd_train)

    sp = sub.add_parser("sample", help="draw samples from a trained run",
                        description="Draw samples from a run's generator (its EMA when the run keeps one), or "
                                    "walk its latent space with --interpolate.")
    sp.add_argument("run_dir", help="a run directory (the --out of `gankit train`)")
    sp.add_argument("--n", type=int, default=64, help="how many samples (default 64)")
    sp.add_argument("--out", required=True,
                    help="a .npy file (float32, data scale), a .png, .jpg or .webp grid, or a folder of PNGs; "
                         "with --interpolate a .png strip (the GIF walk is written beside it)")
    sp.add_argument("--seed", type=int, default=0, help="noise seed: the same seed draws the same samples (default 0)")
    sp.add_argument("--step", type=int, metavar="N",
                    help="sample the checkpoint saved at step N (one still kept in checkpoints/) instead of the latest")
    sp.add_argument("--interpolate", type=int, metavar="K",
                    help="write K steps between random latents as a PNG strip (spherical for Gaussian noise, linear "
                         "for uniform) and a looping GIF walk, instead of samples")
    sp.add_argument("--rows", type=int, default=4, help="with --interpolate: how many walks the strip holds (default 4)")
    sp.add_argument("--class", dest="class_name", metavar="CLASS",
                    help="a class-conditional run: draw this class (its name, e.g. a subfolder's, or its number); "
                         "without it a .png grid has one row per class")
    from .seeds import add_options
    add_options(sp)  # --seeds, --trunc, --from/--to (cli/seeds.py)
    sp.set_defaults(func=cmd_sample)

    for name in PLUGINS:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).add_parsers(sub)
    return p


# The first line of `gankit presets` (tests check that the presets it names exist).
START_HERE = ("start here: gankit train mnist-fast (digits in minutes on a CPU), then "
              "gankit train folder-64 --set data.path=YOUR_FOLDER")


def cmd_presets(args: argparse.Namespace) -> int:
    from ..config import PRESET_GROUPS, preset_catalogue
    groups = preset_catalogue()
    width = max(len(name) for items in groups.values() for name in items)
    print(START_HERE)
    for group, items in groups.items():
        print(f"\n{group}: {PRESET_GROUPS.get(group, 'presets that name no group')}")
        for name, desc in items.items():
            print(f"  {name:<{width}}  {desc}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .. import api
    _config_from_flags(args)
    cfg = api.resolve_config(args.config, args.overrides)
    if args.dry_run:
        from ..train.validate import used_config
        from .dryrun import dry_run_lines
        lines = dry_run_lines(args.config, cfg, args.out, timed=not args.no_time)  # a missing folder: an error
        shown = cfg.to_dict() if args.all else used_config(cfg)
        hidden = len(all_keys()) - sum(len(v) for v in shown.values() if isinstance(v, dict))
        sys.stderr.write(f"# {cfg.name}: " + ("every config key" if args.all or not hidden else
                         f"the keys this run uses ({hidden} more that it does not use: add --all to see them; "
                         "config.json holds them all)") + "\n")
        print(json.dumps(shown, indent=2, sort_keys=True))
        sys.stderr.write("".join(f"# {line}\n" for line in lines))
        return 0
    run_dir = api.train(args.config, args.overrides, out=args.out, resume=args.resume,
                        allow_change=args.allow_change)
    print(f"run directory: {run_dir}")
    return 0


def _config_from_flags(args: argparse.Namespace) -> None:
    """``--set``/``--allow-change`` take several values, so a config written after them lands in their list
    (``gankit train --set a=1 PRESET``): take it back from there. No config at all is a usage error."""
    if args.config is None:
        if args.overrides and "=" not in args.overrides[-1]:
            args.config = args.overrides.pop()
        elif args.allow_change and args.allow_change[-1] not in all_keys():
            args.config = args.allow_change.pop()
        else:
            raise GankitError("train needs a preset name (see gankit presets), a .yaml config file or a run "
                              "directory, e.g. gankit train mnist-mlp --set train.steps=500")


def cmd_sample(args: argparse.Namespace) -> int:
    from .. import api
    from . import seeds
    if seeds.wanted(args):
        return seeds.cmd(args)
    if args.interpolate is not None:
        from ..walk import interpolate
        png, gif = interpolate(args.run_dir, args.interpolate, args.out, seed=args.seed, step=args.step,
                               rows=args.rows)
        print(f"wrote a {args.rows} x {args.interpolate} latent walk to {png} and a looping walk to {gif}")
        return 0
    if args.n < 1:
        raise GankitError("--n must be at least 1")
    path = api.sample(args.run_dir, args.n, args.out, seed=args.seed, step=args.step, class_name=args.class_name)
    print(f"wrote {args.n} samples to {path}")
    return 0


def _stop_on_sigterm(signum, frame) -> None:
    """SIGTERM outside training (sample, eval, fid, ...): stop as Ctrl-C does, so half-written files are removed
    (training installs its own handler, which stops at a step boundary and saves a checkpoint)."""
    raise KeyboardInterrupt


def main(argv: Optional[List[str]] = None) -> int:
    import signal
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:   # not when an embedding program has its own
        try:
            signal.signal(signal.SIGTERM, _stop_on_sigterm)
        except ValueError:
            pass                                             # not the main thread: leave signals alone
    try:
        code = _main(argv)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
        return code
    except BrokenPipeError:
        # the reader went away (`| head`): stop quietly; point stdout at devnull so exiting cannot fail again
        # (the recipe in Python's documentation of SIGPIPE)
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass  # stdout is not a file (tests capture it)
        return 1


def resource_error(e: BaseException, command: str = "train") -> Optional[str]:
    """One line for running out of memory or disk (what to do about it), or None for any other failure.

    >>> resource_error(OSError(28, "No space left on device", "/runs/x/samples/step_1.png"))[:33]
    'no space left on device writing /'
    """
    import errno
    text = str(e)
    if isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and (
            "can't allocate memory" in text or "out of memory" in text.lower())):
        detail = text.split("you tried to allocate ")[-1].split(".")[0] if "tried to allocate" in text else ""
        what = "out of memory" + (f" (it tried to allocate {detail})" if detail else "")
        if command != "train":  # sampling and evaluating hold no batch of training to shrink
            return (f"{what}; ask for fewer samples (--n), or close other programs")
        return (f"{what}; lower train.batch_size or data.resolution (or the model's sizes), or close other "
                "programs; a run resumes from its last checkpoint with --resume")
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" writing {e.filename}" if e.filename else ""
        return (f"no space left on device{where}; free some space (old runs, ~/.cache/gankit) or choose another "
                "--out; a run resumes from its last good checkpoint with --resume")
    return None


def _parse(parser: argparse.ArgumentParser, argv: Optional[List[str]]) -> argparse.Namespace:
    """parse_args, but arguments a sub-command does not know are reported by that sub-command, whose --help
    lists what it takes (argparse leaves them to the top parser, which pointed to gankit --help)."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        sub.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _main(argv: Optional[List[str]]) -> int:
    parser = build_parser()
    args = _parse(parser, argv)
    try:
        return int(args.func(args) or 0)
    except GankitError as e:
        sys.stderr.write(f"gankit: error: {e}\n")
        return 2
    except Exception as e:
        from ..errors import Interrupted
        if isinstance(e, Interrupted):
            sys.stderr.write(f"gankit: {e}\n")
            return 130
        line = resource_error(e, getattr(args, "command", "train"))
        if line is None:
            raise
        sys.stderr.write(f"gankit: error: {line}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("gankit: interrupted\n")
        return 130
