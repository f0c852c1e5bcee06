"""`gankit export RUN_DIR --out model.onnx|model.pt|model.safetensors`: the generator as a file to share."""
from __future__ import annotations

import argparse


def add_parsers(sub) -> None:
    sp = sub.add_parser("export", help="write a run's generator to .onnx, TorchScript .pt or .safetensors",
                        description="Write the run's generator alone (its EMA copy when the run keeps one; a "
                                    "multi-scale G gives its finest image), fp32, with its latent size, noise, "
                                    "classes, output shape and range and resolution in the file's metadata. "
                                    ".onnx runs in ONNX Runtime without gankit or PyTorch; .pt is TorchScript "
                                    "(torch.jit.load); .safetensors holds the weights only. docs/sharing.md "
                                    "has an example.")
    sp.add_argument("run_dir", help="a run directory (the --out of `gankit train`)")
    sp.add_argument("--out", required=True, help="model.onnx, model.pt (TorchScript) or model.safetensors")
    sp.add_argument("--step", type=int, metavar="N",
                    help="export the checkpoint saved at step N (one still kept in checkpoints/) instead of the latest")
    sp.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from ..export import describe, export, read_metadata
    path = export(args.run_dir, args.out, step=args.step)
    print(describe(path, read_metadata(path)))
    return 0
