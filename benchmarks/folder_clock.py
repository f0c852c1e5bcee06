"""Quality against the clock on a folder of images: gankit's 64-px folder preset beside the pytorch/examples DCGAN.

    python benchmarks/folder_clock.py                       # emoji (3 786 real 64x64 images), 15 minutes each
    python benchmarks/folder_clock.py --folder ~/photos --minutes 10 --marks 2,5,10 --n 1000

Both trainers run at once, one process each with ``--threads`` threads (1 each on a 2-core machine), on the same
images at the same resolution, for the same wall-clock budget. At each mark (minutes of training, sampling time
excluded) each side writes ``n`` samples and a grid; afterwards KID and FID in Inception features against the
folder, and the memorisation ratio of gankit's last samples, are printed as a markdown table and saved as
``results.json`` in the output directory.

The peer is a transcription of pytorch/examples ``dcgan/main.py``: nz 100, ngf = ndf = 64, the 5-layer
transposed-conv G with BatchNorm and ReLU (Tanh out), the 5-layer conv D with LeakyReLU 0.2 and BatchNorm
(Sigmoid out), N(0, 0.02) init (BatchNorm weights N(1, 0.02)), BCELoss, Adam 2e-4 with betas (0.5, 0.999),
batch 64, real and fake through D separately, one D then one G update per batch.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gankit import api, viz  # noqa: E402
from gankit.config import DataConfig  # noqa: E402
from gankit.data import load_data  # noqa: E402
from gankit.train.trainer import Trainer  # noqa: E402


def data_config(args) -> DataConfig:
    if args.folder:
        # channels unset: a grayscale folder stays grayscale for both sides, as gankit's folder presets do
        return DataConfig(name="folder", path=str(Path(args.folder).expanduser()), resolution=64)
    return DataConfig(name="emoji", resolution=64, channels=3)


def data_overrides(args) -> List[str]:
    if args.folder:
        return [f"data.path={Path(args.folder).expanduser()}", "data.resolution=64"]
    return ["data.name=emoji", "data.path=null", "data.resolution=64"]


# ---- the peer: pytorch/examples DCGAN ---------------------------------------------------------------------
def peer_nets(nz: int = 100, ngf: int = 64, ndf: int = 64, nc: int = 3):
    def up(i, o, first=False):
        return [nn.ConvTranspose2d(i, o, 4, 1 if first else 2, 0 if first else 1, bias=False), nn.BatchNorm2d(o),
                nn.ReLU(True)]

    def down(i, o, bn=True):
        return [nn.Conv2d(i, o, 4, 2, 1, bias=False)] + ([nn.BatchNorm2d(o)] if bn else []) + \
            [nn.LeakyReLU(0.2, inplace=True)]
    G = nn.Sequential(*up(nz, ngf * 8, True), *up(ngf * 8, ngf * 4), *up(ngf * 4, ngf * 2), *up(ngf * 2, ngf),
                      nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())          # (B, 3, 64, 64)
    D = nn.Sequential(*down(nc, ndf, bn=False), *down(ndf, ndf * 2), *down(ndf * 2, ndf * 4),
                      *down(ndf * 4, ndf * 8), nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid())

    def init(m):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    G.apply(init), D.apply(init)
    return G, D


class Peer:
    def __init__(self, args):
        torch.manual_seed(args.seed)
        self.data = load_data(data_config(args), verbose=False)
        self.G, self.D = peer_nets(nc=self.data.shape[0])
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.bce, self.b, self.images = nn.BCELoss(), 64, 0
        self.perm, self.pos = torch.randperm(len(self.data)), 0

    def step(self) -> None:
        if self.pos + self.b > len(self.data):
            self.perm, self.pos = torch.randperm(len(self.data)), 0
        real = self.data.batch(self.perm[self.pos:self.pos + self.b])
        self.pos += self.b
        b = len(real)
        self.D.zero_grad()
        err_real = self.bce(self.D(real).view(-1), torch.ones(b))
        err_real.backward()
        fake = self.G(torch.randn(b, 100, 1, 1))
        err_fake = self.bce(self.D(fake.detach()).view(-1), torch.zeros(b))
        err_fake.backward()
        self.opt_d.step()
        self.G.zero_grad()
        self.bce(self.D(fake).view(-1), torch.ones(b)).backward()
        self.opt_g.step()
        self.images += b

    @torch.no_grad()
    def samples(self, n: int) -> np.ndarray:
        self.G.eval()
        gen = torch.Generator().manual_seed(12345)
        x = torch.cat([self.G(torch.randn(min(500, n - i), 100, 1, 1, generator=gen)) for i in range(0, n, 500)])
        self.G.train()
        return x.numpy().astype(np.float32)


class Ours:
    def __init__(self, args, out: Path):
        cfg = api.resolve_config(args.preset, data_overrides(args) + args.set + [f"train.threads={args.threads}",
                                 f"train.seed={args.seed}", "log.progress=false", "train.steps=10000000"])
        self.t = Trainer(cfg, out / "run", hooks=[], verbose=False)
        self.t.run_dir.mkdir(parents=True, exist_ok=True)
        self.images = 0

    def step(self) -> None:
        self.t.train_step()
        self.images += self.t.cfg.train.batch_size
        if self.t.step % 50 == 0:
            self.t.flush_stats()   # keeps the interval buffers small, as the loop does

    def samples(self, n: int) -> np.ndarray:
        return self.t.generate(n, seed=12345).numpy().astype(np.float32)


def worker(args) -> None:
    """One side: train for the budget, write samples and a grid at each mark (sampling time excluded)."""
    torch.set_num_threads(args.threads)
    out = Path(args.out) / args.worker
    out.mkdir(parents=True, exist_ok=True)
    side = Peer(args) if args.worker == "peer" else Ours(args, out)
    marks = sorted(float(m) for m in args.marks.split(","))
    trained, rows = 0.0, []
    for mark in marks:
        while trained < mark * 60:
            t0 = time.perf_counter()
            side.step()
            trained += time.perf_counter() - t0
        x = side.samples(args.n)
        np.save(out / f"samples-{mark:g}min.npy", x)
        viz.save_grid(torch.from_numpy(x[:64]), out / f"grid-{mark:g}min.png")
        rows.append({"minutes": mark, "images": side.images, "img_per_s": side.images / trained})
        print(f"[folder_clock] {args.worker}: {mark:g} min, {side.images} images, "
              f"{side.images / trained:.1f} img/s", flush=True)
    (out / "clock.json").write_text(json.dumps(rows))


def evaluate(args) -> List[Dict]:
    from gankit.metrics import evaluate as gk_evaluate
    from gankit.metrics.memorisation import memorisation
    out, rows = Path(args.out), []
    dc = data_config(args)
    for side in ("ours", "peer"):
        for r in json.loads((out / side / "clock.json").read_text()):
            x = np.load(out / side / f"samples-{r['minutes']:g}min.npy")
            m = gk_evaluate(x, data=dc, metrics=["kid", "fid"], features="inception", n=args.n,
                            precision="bf16", verbose=False)
            rows.append({"side": side, **r, "kid": m["kid_inception"], "kid_std": m.get("kid_inception_std"),
                         "fid": m["fid_inception"]})
    last = max(json.loads((out / "ours" / "clock.json").read_text()), key=lambda r: r["minutes"])
    x = torch.from_numpy(np.load(out / "ours" / f"samples-{last['minutes']:g}min.npy"))
    real = load_data(dc, verbose=False)
    mem = memorisation(x[:500], real.batch(torch.arange(len(real))), out_png=out / "memorisation.png")
    (out / "results.json").write_text(json.dumps({"rows": rows, "memorisation": mem}, indent=1, default=float))
    return rows, mem


def table(rows, mem) -> str:
    lines = ["| side | minutes | images | img/s | KID (± std) | FID |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['side']} | {r['minutes']:g} | {r['images']} | {r['img_per_s']:.1f} | "
                     f"{r['kid']:.4f} ± {r['kid_std'] or 0:.4f} | {r['fid']:.1f} |")
    lines.append(f"\nmemorisation (median NN distance of gankit's last samples to the folder over the folder's own, "
                 f"copies ~0, new images ~1): {mem['memorisation']:.3f}")
    return "\n".join(lines)


def plot(rows, out: Path) -> Path:
    """curves.png: KID and FID against minutes of training, one line per side."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for side, label in (("ours", "gankit"), ("peer", "pytorch/examples DCGAN")):
        rs = sorted((r for r in rows if r["side"] == side), key=lambda r: r["minutes"])
        for ax, key in zip(axes, ("kid", "fid")):
            ax.plot([r["minutes"] for r in rs], [r[key] for r in rs], marker="o", label=label)
    for ax, name in zip(axes, ("KID (lower is better)", "FID at n = 500 (biased upward)")):
        ax.set_xlabel("minutes of training"), ax.set_title(name), ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=100)
    plt.close(fig)
    return out / "curves.png"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folder", help="an image folder (default: the emoji data source)")
    p.add_argument("--preset", default="folder-64")
    p.add_argument("--minutes", type=float, default=15)
    p.add_argument("--marks", default="", help="minutes at which to sample (default 5, 10, 15 of --minutes)")
    p.add_argument("--n", type=int, default=500, help="samples per evaluation (KID is unbiased at this n; FID is "
                   "biased upward below ~2 000, so compare FIDs only at equal n)")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                   help="overrides for gankit's side (e.g. train.lr_g=0.005 train.lr_d=0.005), to benchmark a variant")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=f"runs/folder-clock-{time.strftime('%Y%m%d-%H%M%S')}")
    p.add_argument("--worker", choices=["ours", "peer"], help=argparse.SUPPRESS)
    p.add_argument("--eval-only", action="store_true", help="evaluate the samples of an earlier --out")
    args = p.parse_args()
    args.marks = args.marks or ",".join(f"{args.minutes * f:g}" for f in (1 / 3, 2 / 3, 1))
    if args.worker:
        return worker(args)
    if not args.eval_only:
        cmd = [sys.executable, __file__, *sys.argv[1:], "--marks", args.marks, "--out", args.out]
        procs = [subprocess.Popen(cmd + ["--worker", w]) for w in ("ours", "peer")]
        if any(p.wait() for p in procs):
            raise SystemExit("a worker failed")
    rows, mem = evaluate(args)
    text = table(rows, mem)
    (Path(args.out) / "table.md").write_text(text + "\n")
    plot(rows, Path(args.out))
    print(text)


if __name__ == "__main__":
    main()
