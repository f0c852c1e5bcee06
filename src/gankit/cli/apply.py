"""`gankit apply`: run a trained image-to-image model on new images (a thin wrapper over gankit.apply).

    gankit apply RUN_DIR IMAGE_OR_FOLDER... --out DIR [--mask PNG] [--step N]
"""
from __future__ import annotations

import argparse
from typing import Any


def add_parsers(sub: Any) -> None:
    sp = sub.add_parser("apply", help="run a trained inpaint/superres/colorize model on images of any size",
                        description="Translate images with a trained run: superres takes the low-resolution "
                        "images (16x16 comes out 64x64), inpaint images with --mask (white = hole), colorize "
                        "grey or colour images. Writes OUT/<name>.png per input and OUT/before_after.png.")
    sp.add_argument("run_dir", help="a run directory trained with an image-to-image preset")
    sp.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER", help="image files and folders of images")
    sp.add_argument("--out", required=True, help="folder for the outputs (made if missing)")
    sp.add_argument("--mask", help="inpainting: a PNG the images' size, white where the image is to be filled")
    sp.add_argument("--step", type=int, default=None, help="use the checkpoint of this step (default: latest)")
    sp.set_defaults(func=cmd_apply)


def cmd_apply(args: argparse.Namespace) -> int:
    from ..apply import SHEET, apply_translator
    done = apply_translator(args.run_dir, args.inputs, args.out, mask=args.mask, step=args.step)
    for d in done:
        print(f"{d.source}: {d.size_in[0]}x{d.size_in[1]} -> {d.out} {d.size_out[0]}x{d.size_out[1]} ({d.how})")
    print(f"before/after sheet: {args.out.rstrip('/')}/{SHEET}")
    return 0


def translator_eval(args: argparse.Namespace) -> bool:
    """`gankit eval RUN_DIR` on an image-to-image run: PSNR/SSIM of gankit and of the baseline on the held-out
    images (metrics/restore.py) instead of sample metrics. False for other runs (nothing done)."""
    import json
    from pathlib import Path
    from ..models import MODELS
    from ..run import read_config
    if not args.run_dir or not (Path(args.run_dir) / "config.json").is_file():
        return False
    cfg = read_config(Path(args.run_dir))
    if cfg.model.name not in MODELS or not MODELS.info(cfg.model.name).translates:
        return False
    from ..metrics.restore import evaluate_translator
    from ..run import load_run
    result = evaluate_translator(load_run(args.run_dir), n=args.n, append=not args.no_append, verbose=True)
    print(json.dumps(result) if args.json else restore_table(result))
    return True


def restore_table(result: dict) -> str:
    """The comparison as a small table: one row per measure, gankit beside the baseline."""
    base = result["baseline_name"]
    lines = [f"{result['task']} on {result['n']} {result['split']} images (step {result['step']}):",
             f"  {'measure':<14}{'gankit':>10}{base:>12}"]
    for k, v in result["gankit"].items():
        lines.append(f"  {k:<14}{v:>10.4f}{result['baseline'][k]:>12.4f}")
    lines.append("  (psnr in dB, higher is better; ssim up to 1; chroma_error on 0-255, lower is better)")
    return "\n".join(lines)
