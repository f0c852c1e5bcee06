"""Train the small CNN behind the `mnist` / `fashion` feature extractors and ship its weights.

    python scripts/train_classifier.py --data mnist            # -> src/gankit/metrics/weights/mnist.pt
    python scripts/train_classifier.py --data fashion --epochs 8

Trains on the training split with light random affine augmentation (rotation +-10 deg, scale 0.9-1.1,
shift +-2 px) under bf16 autocast, then reports fp32 accuracy on the test split and stores it in the weights'
metadata (``load_classifier(name).meta["test_accuracy"]``).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from gankit.config import DataConfig  # noqa: E402
from gankit.data import load_data  # noqa: E402
from gankit.metrics.classifier import MnistNet, save_classifier  # noqa: E402


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random affine per image: (B, 1, 28, 28) in [-1, 1] -> same shape, background stays -1."""
    b = x.shape[0]
    angle = (torch.rand(b, generator=g) * 2 - 1) * math.radians(10)
    scale = 0.9 + 0.2 * torch.rand(b, generator=g)
    shift = (torch.rand(b, 2, generator=g) * 2 - 1) * (2 / 14)  # +-2 px in [-1, 1] grid units
    cos, sin = angle.cos() / scale, angle.sin() / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x + 1, grid, align_corners=False, padding_mode="zeros") - 1


@torch.no_grad()
def accuracy(net: MnistNet, data, batch: int = 1000) -> float:
    net.eval()
    correct = 0
    for i in range(0, len(data), batch):
        idx = torch.arange(i, min(i + batch, len(data)))
        correct += (net(data.batch(idx)).argmax(1) == data.labels[idx]).sum().item()
    return correct / len(data)


def train(name: str, epochs: int, batch: int, lr: float, seed: int) -> tuple[MnistNet, float, float]:
    train_set = load_data(DataConfig(name=name, split="train"))
    test_set = load_data(DataConfig(name=name, split="test"))
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = MnistNet()
    steps = epochs * math.ceil(len(train_set) / batch)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.2)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(train_set), generator=g)
        total, seen = 0.0, 0
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            x, y = augment(train_set.batch(idx), g), train_set.labels[idx]
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total, seen = total + loss.item() * len(idx), seen + len(idx)
        acc = accuracy(net, test_set)
        print(f"epoch {epoch + 1}/{epochs}  loss {total / seen:.4f}  test acc {acc:.4%}  "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return net, acc, time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", choices=["mnist", "fashion"], default="mnist")
    p.add_argument("--epochs", type=int, default=0, help="default: 5 for mnist, 10 for fashion")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--out", help="weights file (default: the package's metrics/weights/<data>.pt)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    epochs = args.epochs or {"mnist": 5, "fashion": 10}[args.data]
    net, acc, secs = train(args.data, epochs, args.batch, args.lr, args.seed)
    meta = {"dataset": args.data, "classes": 10, "test_accuracy": acc, "epochs": epochs, "seed": args.seed,
            "arch": "MnistNet-v1", "train_seconds": round(secs, 1), "torch": str(torch.__version__)}
    path = save_classifier(net.eval(), args.data, meta, Path(args.out) if args.out else None)
    print(f"{args.data}: test accuracy {acc:.4%} after {epochs} epochs ({secs:.0f} s); weights -> {path} "
          f"({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
