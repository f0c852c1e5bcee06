"""The peer of the folder clock: a transcription of pytorch/examples ``dcgan/main.py`` (nz 100, ngf = ndf = 64,
the 5-layer transposed-conv G with BatchNorm and ReLU (Tanh out), the 5-layer conv D with LeakyReLU 0.2 and
BatchNorm (Sigmoid out), N(0, 0.02) init (BatchNorm weights N(1, 0.02)), BCELoss, Adam 2e-4 with betas (0.5,
0.999), batch 64, real and fake through D separately, one D then one G update per batch), trained in its own
loop for a wall-clock budget with samples at marks (``python benchmarks/peer_dcgan.py --help``; the folder clock
starts it as one of its contenders).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from gankit import viz  # noqa: E402
from gankit.config import DataConfig  # noqa: E402
from gankit.data import load_data  # noqa: E402


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
        self.data = load_data(DataConfig(**json.loads(args.data)), verbose=False)
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="a DataConfig as JSON")
    p.add_argument("--minutes", type=float, required=True, help="wall-clock budget from the start of the process")
    p.add_argument("--marks", required=True, help="minutes at which to write samples and a grid")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    t0 = time.perf_counter()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    side = Peer(args)
    rows = []
    for mark in sorted(float(m) for m in args.marks.split(",")):
        while time.perf_counter() - t0 < mark * 60:   # wall clock, the start-up included, as for gankit's runs
            side.step()
        x = side.samples(args.n)
        np.save(out / f"samples-{mark:g}min.npy", x)
        viz.save_grid(torch.from_numpy(x[:64]), out / f"grid-{mark:g}min.png")
        rows.append({"minutes": mark, "steps": side.images // side.b, "images": side.images,
                     "img_per_s": side.images / (time.perf_counter() - t0)})
        print(f"[peer] {mark:g} min: {side.images} images", flush=True)
    (out / "clock.json").write_text(json.dumps(rows))


if __name__ == "__main__":
    main()
