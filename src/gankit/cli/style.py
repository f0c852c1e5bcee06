"""`gankit stylize CONTENT STYLE -o OUT`: neural style transfer from the command line.

A thin layer over gankit.style.stylize; torch is imported only when the command runs.
"""
from __future__ import annotations

import argparse
import time


def add_parsers(subparsers: "argparse._SubParsersAction") -> None:
    """Add the ``stylize`` sub-command."""
    sp = subparsers.add_parser(
        "stylize", help="repaint a photo in the manner of another image (neural style transfer)",
        description="Optimise an image so a CNN sees the content of CONTENT and the textures of STYLE "
                    "(Gatys et al.). Weights left out take the backbone's defaults (docs/style.md).")
    sp.add_argument("content", help="the photo to repaint (PNG, JPEG, ...)")
    sp.add_argument("style", help="the image whose style is copied")
    sp.add_argument("-o", "--out", required=True, help="result image (.png/.jpg); --gif writes OUT.gif too")
    sp.add_argument("--size", type=int, default=256, help="longer side of the result in pixels (256)")
    sp.add_argument("--steps", type=int, default=150, help="loss evaluations in all, over every scale (150)")
    sp.add_argument("--content-weight", type=float, default=None, metavar="W")
    sp.add_argument("--style-weight", type=float, default=None, metavar="W")
    sp.add_argument("--tv-weight", type=float, default=None, metavar="W", help="smoothness (total variation)")
    sp.add_argument("--init", default="content", help="start from the content image or from noise "
                                                      "(content|noise)")
    sp.add_argument("--optimizer", default=None, help="lbfgs|adam (default: the backbone's choice)")
    sp.add_argument("--backbone", default="effnet-lite0",
                    help="feature network: effnet-lite0 (offline default), effnet-lite0-gram or vgg19")
    sp.add_argument("--scales", type=int, default=2,
                    help="optimise coarse-to-fine at K resolutions, halving each time (2; 1 = full size only)")
    sp.add_argument("--seed", type=int, default=0, help="seed of the noise init")
    sp.add_argument("--bf16", action="store_true", default=None,
                    help="bf16 autocast (faster for vgg19 on CPUs with AMX; slower for effnet-lite0)")
    sp.add_argument("--threads", type=int, default=None,
                    help="CPU threads (default: the cores other jobs leave free, at least 1)")
    sp.add_argument("--gif", action="store_true", help="also write the optimisation as OUT with .gif")
    sp.set_defaults(func=cmd_stylize)


def cmd_stylize(args: argparse.Namespace) -> int:
    """Run stylize() with the parsed arguments; print where the result went."""
    from ..style import stylize
    t0 = time.perf_counter()
    img = stylize(args.content, args.style, size=args.size, steps=args.steps,
                  content_weight=args.content_weight, style_weight=args.style_weight,
                  tv_weight=args.tv_weight, init=args.init, optimizer=args.optimizer,
                  backbone=args.backbone, scales=args.scales, seed=args.seed, out=args.out, gif=args.gif,
                  bf16=args.bf16, threads=args.threads)
    extra = f" and {args.out.rsplit('.', 1)[0]}.gif" if args.gif else ""
    print(f"wrote {args.out}{extra} ({img.width}x{img.height}) in {time.perf_counter() - t0:.1f} s")
    return 0
