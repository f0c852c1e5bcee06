"""`gankit project RUN_DIR PICTURE --out DIR`: the latent whose image is closest to a real picture."""
from __future__ import annotations

import argparse


def add_parsers(sub) -> None:
    sp = sub.add_parser("project", help="find the latent that reproduces a real picture",
                        description="Optimise a latent z (Adam, with StyleGAN2's fading noise on z) so that the "
                                    "run's generator reproduces PICTURE: a pixel loss plus EfficientNet-Lite0 "
                                    "features when their weights are installed. Writes DIR/reconstruction.png, "
                                    "DIR/latent.npy and DIR/side_by_side.png, and prints the PSNR. Walk between "
                                    "two projections with gankit sample RUN --interpolate K --from a.npy --to b.npy.")
    sp.add_argument("run_dir", help="a run directory (the --out of `gankit train`)")
    sp.add_argument("picture", help="the picture to reproduce (.png, .jpg, ...; centre-cropped and resized)")
    sp.add_argument("--out", required=True, help="a folder for reconstruction.png, latent.npy and side_by_side.png")
    sp.add_argument("--steps", type=int, default=300, help="optimiser steps (default 300)")
    sp.add_argument("--pixels-only", action="store_true", help="no feature loss, even where EfficientNet is installed")
    sp.add_argument("--seed", type=int, default=0, help="seed of the starting latents and the noise (default 0)")
    sp.add_argument("--step", type=int, metavar="N", help="project into the checkpoint saved at step N")
    sp.set_defaults(func=cmd_project)


def cmd_project(args: argparse.Namespace) -> int:
    from ..project import project
    from .apply import refuse_translator
    refuse_translator(args.run_dir, "projecting a picture")
    r = project(args.run_dir, args.picture, args.out, steps=args.steps, use_features=not args.pixels_only,
                seed=args.seed, step=args.step)
    feat = f", feature distance {r['feature_distance']:.3f}" if r["feature_distance"] is not None else ""
    print(f"PSNR {r['psnr']:.2f} dB{feat} after {r['steps']} steps; wrote {r['paths']['reconstruction']}, "
          f"{r['paths']['latent']} and {r['paths']['side_by_side']}")
    return 0
