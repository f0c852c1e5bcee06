"""Training throughput: the lessons' own loops against gankit's Trainer on the same networks, batch and data.

Two contests, each run as alternating timed blocks (A B B A ...) in one process, several repeats, medians:

* ``mlp``: lesson 001's MLP GAN (batch 512). The contender is a faithful transcription of the lesson's training
  loop (code 13-22 .. 13-32): a ``DataLoader`` with per-item transforms, ``Sigmoid`` + ``nn.BCELoss``, two
  ``backward`` calls in the D step, a graph-building G forward that is detached for the D step and a fresh G
  forward for the G step, fp32. Only the dataset/transform part is replaced, because torchvision cannot be
  imported here: ``LessonMNIST`` does per item what ``torchvision.datasets.MNIST`` with
  ``transforms.Compose([ToTensor(), Normalize((0.5,), (0.5,))])`` does (uint8 array -> PIL image -> float
  tensor / 255 -> normalise), over the same MNIST tensors gankit trains on.
* ``dcgan``: a DCGAN at 32x32 on MNIST (gankit's ``dcgan`` nets, 64 base channels, batch 64). The contender is
  the pytorch/examples ``dcgan/main.py`` loop: per-item ``Resize(32)``, ``ToTensor``, ``Normalize``; ``Sigmoid``
  + ``BCELoss``; separate D forwards for real and fake; the G step reuses the D step's fake batch; fp32.

gankit runs its Trainer (``train_step``) with the recipe's mathematics unchanged and ``train.precision=bf16``.
Images/s counts real images per D update (= batch size per step).

    python benchmarks/throughput.py              # both contests, 5 repeats
    python benchmarks/throughput.py --quick      # a short re-run (2 repeats, fewer steps)
    python benchmarks/throughput.py --only mlp --repeats 7 --threads 2
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from PIL import Image
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from gankit.config import apply_overrides, load_config  # noqa: E402
from gankit.data import ImageData, load_data  # noqa: E402
from gankit.models import build_models  # noqa: E402
from gankit.train.trainer import Trainer  # noqa: E402


# ---- lesson 001, transcribed (dataset part replaced, see module docstring) ----------------------------------
class LessonMNIST(Dataset):
    """Stand-in for datasets.MNIST(..., transform=Compose([ToTensor(), Normalize((0.5,), (0.5,))])):
    per item, the uint8 image becomes a PIL image, then a float tensor in [0, 1], then (x - 0.5) / 0.5."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, resize: int = 0):
        self.data, self.targets, self.resize = images[:, 0], labels, resize  # (N, 28, 28) uint8, like torchvision

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        img = Image.fromarray(self.data[index].numpy(), mode="L")                # torchvision MNIST.__getitem__
        if self.resize:
            img = img.resize((self.resize, self.resize), Image.BILINEAR)         # transforms.Resize(32)
        x = torch.from_numpy(np.array(img, np.uint8, copy=True))                  # transforms.ToTensor()
        x = x.view(img.size[1], img.size[0], 1).permute(2, 0, 1).contiguous().float().div(255)
        x = (x - 0.5) / 0.5                                                       # transforms.Normalize
        return x, int(self.targets[index])


class Generator(nn.Module):                       # code 13-25
    def __init__(self, nz):
        super(Generator, self).__init__()
        self.nz = nz
        self.main = nn.Sequential(
            nn.Linear(self.nz, 256), nn.LeakyReLU(0.2),
            nn.Linear(256, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 1024), nn.LeakyReLU(0.2),
            nn.Linear(1024, 784), nn.Tanh(),
        )

    def forward(self, x):
        return self.main(x).view(-1, 1, 28, 28)


class Discriminator(nn.Module):                   # code 13-26
    def __init__(self):
        super(Discriminator, self).__init__()
        self.n_input = 784
        self.main = nn.Sequential(
            nn.Linear(self.n_input, 1024), nn.LeakyReLU(0.2), nn.Dropout(0.3),
            nn.Linear(1024, 512), nn.LeakyReLU(0.2), nn.Dropout(0.3),
            nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Dropout(0.3),
            nn.Linear(256, 1), nn.Sigmoid(),
        )

    def forward(self, x):
        x = x.view(-1, 784)
        return self.main(x)


class LessonMLP:
    """Code 13-23 .. 13-32 (train_discriminator is elided in the seed text; it is the book's two-backward
    version: BCE(D(real), 1).backward(); BCE(D(fake), 0).backward(); step)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        device = torch.device("cpu")
        self.device, self.batch_size, self.nz, self.k = device, 512, 128, 1
        train_dataset = LessonMNIST(images, labels)
        self.train_loader = DataLoader(train_dataset, batch_size=self.batch_size, shuffle=True)
        self.generator = Generator(self.nz).to(device)
        self.discriminator = Discriminator().to(device)
        self.optim_g = optim.Adam(self.generator.parameters(), lr=0.0002)
        self.optim_d = optim.Adam(self.discriminator.parameters(), lr=0.0002)
        self.criterion = nn.BCELoss()
        self.generator.train()
        self.batches = iter(self.train_loader)
        self.loss_g, self.loss_d = 0.0, 0.0

    def train_discriminator(self, optimizer, data_real, data_fake):
        b_size = data_real.size(0)
        real_label = torch.ones(b_size, 1).to(self.device)
        fake_label = torch.zeros(b_size, 1).to(self.device)
        optimizer.zero_grad()
        output_real = self.discriminator(data_real)
        loss_real = self.criterion(output_real, real_label)
        output_fake = self.discriminator(data_fake)
        loss_fake = self.criterion(output_fake, fake_label)
        loss_real.backward()
        loss_fake.backward()
        optimizer.step()
        return loss_real + loss_fake

    def train_generator(self, optimizer, data_fake):
        b_size = data_fake.size(0)
        real_label = torch.ones(b_size, 1).to(self.device)
        optimizer.zero_grad()
        output = self.discriminator(data_fake)
        loss = self.criterion(output, real_label)
        loss.backward()
        optimizer.step()
        return loss

    def next_batch(self):
        try:
            return next(self.batches)
        except StopIteration:  # a new epoch: the lesson's `for epoch in range(epochs)`
            self.batches = iter(self.train_loader)
            self.loss_g, self.loss_d = 0.0, 0.0
            return next(self.batches)

    def steps(self, n: int) -> int:
        images_seen = 0
        for _ in range(n):
            image, _ = self.next_batch()
            image = image.to(self.device)
            b_size = len(image)
            for step in range(self.k):
                data_fake = self.generator(torch.randn(b_size, self.nz).to(self.device)).detach()
                data_real = image
                self.loss_d += self.train_discriminator(self.optim_d, data_real, data_fake)
            data_fake = self.generator(torch.randn(b_size, self.nz).to(self.device))
            self.loss_g += self.train_generator(self.optim_g, data_fake)
            images_seen += b_size
        return images_seen


# ---- pytorch/examples dcgan/main.py loop, on gankit's DCGAN nets -----------------------------------------------
class ExamplesDCGAN:
    def __init__(self, images: torch.Tensor, labels: torch.Tensor, cfg):
        self.nz, self.device = cfg.model.latent_dim, torch.device("cpu")
        dataset = LessonMNIST(images, labels, resize=cfg.data.resolution)
        self.dataloader = DataLoader(dataset, batch_size=cfg.train.batch_size, shuffle=True)
        torch.manual_seed(cfg.train.seed)
        netG, D = build_models(cfg.model, (1, cfg.data.resolution, cfg.data.resolution))
        self.netG, self.netD = netG, nn.Sequential(D, nn.Sigmoid())  # the example's D ends in Sigmoid
        self.criterion = nn.BCELoss()
        self.optimizerD = optim.Adam(self.netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.optimizerG = optim.Adam(self.netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.batches = iter(self.dataloader)

    def next_batch(self):
        try:
            return next(self.batches)
        except StopIteration:
            self.batches = iter(self.dataloader)
            return next(self.batches)

    def steps(self, n: int) -> int:
        real_label, fake_label, seen = 1.0, 0.0, 0
        netD, netG, criterion, device = self.netD, self.netG, self.criterion, self.device
        for _ in range(n):
            data = self.next_batch()
            netD.zero_grad()
            real_cpu = data[0].to(device)
            batch_size = real_cpu.size(0)
            label = torch.full((batch_size,), real_label, dtype=real_cpu.dtype, device=device)
            output = netD(real_cpu)
            errD_real = criterion(output, label)
            errD_real.backward()
            D_x = output.mean().item()
            noise = torch.randn(batch_size, self.nz, device=device)
            fake = netG(noise)
            label.fill_(fake_label)
            output = netD(fake.detach())
            errD_fake = criterion(output, label)
            errD_fake.backward()
            D_G_z1 = output.mean().item()
            errD = errD_real + errD_fake
            self.optimizerD.step()
            netG.zero_grad()
            label.fill_(real_label)
            output = netD(fake)
            errG = criterion(output, label)
            errG.backward()
            D_G_z2 = output.mean().item()
            self.optimizerG.step()
            del D_x, D_G_z1, D_G_z2, errD
            seen += batch_size
        return seen


# ---- gankit --------------------------------------------------------------------------------------------------
class GankitContender:
    def __init__(self, cfg, data: ImageData):
        self.trainer = Trainer(cfg, Path("/tmp/gankit-bench-unused"), data=data, hooks=[], verbose=False)

    def steps(self, n: int) -> int:
        for _ in range(n):
            self.trainer.train_step()
        self.trainer.flush_stats()  # what the loop does at log rows: keeps the per-step records bounded
        return n * self.trainer.cfg.train.batch_size


# ---- timing --------------------------------------------------------------------------------------------------
def race(contenders: Dict[str, Callable[[int], int]], steps: int, repeats: int, warmup: int):
    """img/s (wall) and img per CPU second of each contender over `repeats` timed blocks of `steps` steps,
    order alternating (ABBA...)."""
    for fn in contenders.values():
        fn(warmup)
    names = list(contenders)
    rates: Dict[str, List[float]] = {k: [] for k in names}
    cpu_rates: Dict[str, List[float]] = {k: [] for k in names}
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            t0, c0 = time.perf_counter(), time.process_time()
            seen = contenders[name](steps)
            rates[name].append(seen / (time.perf_counter() - t0))
            cpu_rates[name].append(seen / max(time.process_time() - c0, 1e-9))
    return rates, cpu_rates


def report(title: str, timed, base: str) -> List[list]:
    """Print the table; returns its rows (contender, img/s, paired x base, img/CPU-s) for --save."""
    rates, cpu_rates = timed
    rows = []
    names = list(rates)
    print(f"\n{title}")
    print(f"{'contender':<36} {'img/s':>7} {'min':>6} {'max':>6} {'x base':>7} {'paired x':>8} "
          f"{'img/CPU-s':>9} {'x base':>7}")
    med0, cmed0 = statistics.median(rates[base]), statistics.median(cpu_rates[base])
    for name in names:
        r, c = rates[name], cpu_rates[name]
        paired = statistics.median(a / b for a, b in zip(r, rates[base]))  # per-repeat ratio, then median
        print(f"{name:<36} {statistics.median(r):>7.0f} {min(r):>6.0f} {max(r):>6.0f} "
              f"{statistics.median(r) / med0:>7.2f} {paired:>8.2f} {statistics.median(c):>9.0f} "
              f"{statistics.median(c) / cmed0:>7.2f}")
        rows.append([f"{title.split(',')[0]}: {name}", round(statistics.median(r)), round(paired, 2),
                     round(statistics.median(c))])
    print("(img/s: wall clock, medians of the blocks; paired x: median of the per-repeat ratios; img/CPU-s: per "
          "second of the process's CPU time, all threads)")
    return rows


def mnist(resolution: int) -> ImageData:
    cfg = load_config("mnist-mlp").data
    cfg.resolution = resolution
    return load_data(cfg, verbose=False)


def bench_mlp(args) -> List[list]:
    data = mnist(28)
    cfg = apply_overrides(load_config("mnist-mlp"), [f"train.precision={args.precision}", "log.progress=false"])
    contenders = {"lesson 001 loop (fp32, DataLoader)": LessonMLP(data.images, data.labels).steps,
                  f"gankit mnist-mlp ({args.precision})": GankitContender(cfg, data).steps}
    if args.ablation:
        c32 = apply_overrides(cfg, ["train.precision=fp32"])
        contenders["gankit mnist-mlp (fp32)"] = GankitContender(c32, data).steps
    steps = 8 if args.quick else args.steps
    rates = race(contenders, steps, args.repeats, warmup=3)
    return report(f"MLP GAN, lesson 001 (batch 512), {steps} steps per block, {args.repeats} repeats, "
           f"{torch.get_num_threads()} threads", rates, next(iter(contenders)))


def dcgan_config(precision: str):
    return apply_overrides(load_config("mnist-dcgan"), [
        "data.resolution=32", "model.latent_dim=100", "model.g_channels=64", "model.d_channels=64",
        "train.batch_size=64", "train.beta1=0.5", f"train.precision={precision}", "log.progress=false"])


def bench_dcgan(args) -> List[list]:
    data = mnist(32)
    cfg = dcgan_config(args.precision)
    contenders = {"pytorch/examples loop (fp32)": ExamplesDCGAN(data.images, data.labels, cfg).steps,
                  f"gankit dcgan-32 ({args.precision})": GankitContender(cfg, data).steps}
    if args.ablation:
        contenders["gankit dcgan-32 (fp32)"] = GankitContender(dcgan_config("fp32"), data).steps
    steps = 6 if args.quick else max(4, args.steps // 2)
    rates = race(contenders, steps, args.repeats, warmup=2)
    return report(f"DCGAN 32x32 on MNIST (64 channels, batch 64), {steps} steps per block, {args.repeats} repeats, "
           f"{torch.get_num_threads()} threads", rates, next(iter(contenders)))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", choices=["mlp", "dcgan"], help="run one contest")
    p.add_argument("--quick", action="store_true", help="2 repeats of short blocks (a fast re-run)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=20, help="steps per timed block (mlp; dcgan uses half)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--precision", default="bf16", choices=["bf16", "fp32"], help="gankit's precision")
    p.add_argument("--ablation", action="store_true", help="also time gankit in fp32")
    p.add_argument("--save", metavar="NAME", help="also write the table to benchmarks/results/NAME.json (record.py) "
                   "for scripts/bench_tables.py")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats = min(args.repeats, 2) if "--repeats" not in (argv or sys.argv) else args.repeats
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    rows: List[list] = []
    if args.only in (None, "mlp"):
        rows += bench_mlp(args)
    if args.only in (None, "dcgan"):
        rows += bench_dcgan(args)
    load = os.getloadavg()[0]
    print(f"\nload average {load:.1f} at the end (above ~2 means other work shared the cores)")
    if args.save:
        from record import save  # benchmarks/record.py, beside this script
        path = save(args.save, "Throughput: the lessons' own loops against gankit",
                    ["contender", "img/s (median)", "x the first contender (paired)", "img/CPU-s"], rows,
                    command="python benchmarks/throughput.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                    notes=f"{torch.get_num_threads()} threads; load average {load:.1f} at the end.", page="speed")
        print(f"wrote {path}; python scripts/bench_tables.py puts it in docs/benchmarks/")


if __name__ == "__main__":
    main()
