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
    features = _translator_features(args, cfg)
    result = evaluate_translator(load_run(args.run_dir), n=args.n, append=not args.no_append, verbose=True,
                                 features=features)
    print(json.dumps(result) if args.json else restore_table(result))
    return True


def refuse_translator(run_dir: str, what: str) -> None:
    """One line when ``run_dir`` holds an image-to-image run, which has no latent for ``what`` (read from its
    config, before anything is loaded); other runs and non-runs pass (their own checks follow)."""
    from pathlib import Path

    from ..models import MODELS
    from ..run import read_config
    from ..walk import no_latent
    if not (Path(run_dir) / "config.json").is_file():
        return
    cfg = read_config(Path(run_dir))
    if cfg.model.name in MODELS and MODELS.info(cfg.model.name).translates:
        raise no_latent(run_dir, cfg.model.task, what)


def _translator_features(args: argparse.Namespace, cfg) -> str:
    """The extractor for KID of a translator's outputs ("" when --metrics does not ask for kid): PSNR/SSIM are
    always measured; kid is the one sample metric a translator takes (Inception features take minutes on a CPU,
    so it is not on by default)."""
    from ..errors import GankitError
    from ..metrics.defaults import check_fit, default_features
    metrics = [m.strip() for m in (args.metrics or "").split(",") if m.strip()]
    other = [m for m in metrics if m != "kid"]
    if other:
        raise GankitError(f"an image-to-image run is measured by PSNR/SSIM against the baseline; --metrics takes "
                          f"only kid (of the outputs) for it, got {', '.join(other)}")
    if not metrics:
        return ""
    features = args.features or default_features(cfg.data.name)
    if not args.force_features:
        check_fit(features, "image", cfg.data.name, cfg.data.channels or 3, str(args.run_dir))
    return features


def restore_table(result: dict) -> str:
    """The comparison as a small table: one row per measure, gankit beside the baseline."""
    base = result["baseline_name"]
    lines = [f"{result['task']} on {result['n']} {result['split']} images (step {result['step']}):",
             f"  {'measure':<14}{'gankit':>10}{base:>12}"]
    for k, v in result["gankit"].items():
        lines.append(f"  {k:<14}{v:>10.4f}{result['baseline'][k]:>12.4f}")
    note = "psnr in dB, higher is better; ssim up to 1; chroma_error on 0-255, lower is better"
    if any(k.startswith("kid_") for k in result["gankit"]):
        note += "; kid of the outputs to the originals, lower is better"
    lines.append(f"  ({note})")
    return "\n".join(lines)
