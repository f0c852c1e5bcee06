"""`gankit sample`'s options for images by seed, truncation, and walks between saved latents:

    gankit sample RUN --seeds 0-15 --out seeds.png [--trunc 0.7]       one image per seed, the same on every call
    gankit sample RUN --interpolate K --from a.npy --to b.npy --out walk.png   a walk between two latents
"""
from __future__ import annotations

import argparse

from ..errors import GankitError


def add_options(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--seeds", metavar="SEEDS",
                    help="one image per seed, e.g. 0-15 or 3,7,42 (or 0-3,9): each image's latent comes from its own "
                         "seed, so a seed draws the same image on every call whatever else is asked; --out a "
                         ".png/.jpg/.webp grid (seeds in order, row by row), a .npy, or a folder (seedNNNN.png)")
    sp.add_argument("--trunc", type=float, metavar="PSI",
                    help="truncation ψ in (0, 1]: each latent is pulled toward the mean latent, z' = m + ψ(z - m) "
                         "(an MSG run's first features toward their mean instead; 1 = none; smaller: more typical images, less "
                         "variety; docs/sampling.md). Without "
                         "--seeds it draws seeds SEED .. SEED+N-1")
    sp.add_argument("--from", dest="from_latent", metavar="A.npy",
                    help="with --interpolate and --to: walk from this latent (e.g. latent.npy of gankit project)")
    sp.add_argument("--to", dest="to_latent", metavar="B.npy", help="with --interpolate and --from: walk to this latent")


def wanted(args: argparse.Namespace) -> bool:
    """Whether the call uses any of these options (else `gankit sample` does what it always did)."""
    return any(getattr(args, k, None) is not None for k in ("seeds", "trunc", "from_latent", "to_latent"))


def cmd(args: argparse.Namespace) -> int:
    if args.from_latent is not None or args.to_latent is not None:
        if args.from_latent is None or args.to_latent is None or args.interpolate is None:
            raise GankitError("--from and --to go together, with --interpolate K: gankit sample RUN --interpolate 8 "
                              "--from a.npy --to b.npy --out walk.png")
        if args.seeds is not None or args.trunc is not None:
            raise GankitError("--from/--to walk between the given latents; --seeds and --trunc do not apply")
        from ..project import walk_between
        from .apply import refuse_translator
        refuse_translator(args.run_dir, "a walk between latents (--from/--to)")
        png, gif = walk_between(args.run_dir, args.from_latent, args.to_latent, args.interpolate, args.out,
                                step=args.step)
        print(f"wrote a {args.interpolate}-step walk from {args.from_latent} to {args.to_latent}: {png} and {gif}")
        return 0
    if args.interpolate is not None:
        raise GankitError("--interpolate walks between random latents (or --from/--to); --seeds and --trunc draw "
                          "images by seed: use one or the other")
    from ..seeds import parse_seeds, sample_seeds
    from .apply import refuse_translator
    refuse_translator(args.run_dir, "drawing by seed (--seeds, --trunc)")
    if args.seeds is not None:
        seeds = parse_seeds(args.seeds)
    else:
        if args.n < 1:
            raise GankitError("--n must be at least 1")
        seeds = parse_seeds(f"{args.seed}-{args.seed + args.n - 1}")
    trunc = 1.0 if args.trunc is None else args.trunc
    path = sample_seeds(args.run_dir, seeds, args.out, trunc=trunc, step=args.step,
                        class_name=getattr(args, "class_name", None))
    what = f"seeds {args.seeds}" if args.seeds is not None else f"seeds {seeds[0]}-{seeds[-1]}"
    print(f"wrote {len(seeds)} images ({what}{f', truncation ψ = {trunc:g}' if trunc < 1 else ''}) to {path}")
    return 0
