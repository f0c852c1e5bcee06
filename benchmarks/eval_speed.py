"""Images per second of each feature extractor, fp32 and bf16, and whether bf16 keeps the metric.

    python benchmarks/eval_speed.py                       # all extractors, markdown table on stdout
    python benchmarks/eval_speed.py --extractors mnist --n 4096

Speed: median over --repeats timed passes of ``extract`` over n images (after one warm-up batch), including
the extractor's preparation (resize, scaling). Fidelity: the relative norm of the bf16 - fp32 feature
difference, and the metric itself — FID between real test images and a noisy copy of training images (a
stand-in for early GAN samples) — in both precisions. bf16 is worth keeping only where that FID stays within
1% of fp32 (issue 5). Real MNIST is used when it can be found, else random digit-like images.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from gankit.errors import GankitError  # noqa: E402
from gankit.metrics.features import extract, get_extractor  # noqa: E402
from gankit.metrics.fid import fid_from_features  # noqa: E402


def mnist_or_standin(split: str, n: int, seed: int) -> torch.Tensor:
    """n uint8 (n, 1, 28, 28) images: real MNIST when available, else bright strokes on black."""
    try:
        from gankit.config import DataConfig
        from gankit.data import load_data
        images = load_data(DataConfig(name="mnist", split=split), verbose=False).images
        idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
        return images[idx]
    except GankitError:
        g = torch.Generator().manual_seed(seed)
        x = torch.zeros(n, 1, 28, 28, dtype=torch.uint8)
        rc = torch.randint(4, 20, (n, 2), generator=g)
        for i, (r, c) in enumerate(rc.tolist()):
            x[i, 0, r:r + 6, c:c + 3] = 255
        return x


def noisy(x: torch.Tensor, sigma: float = 32.0, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (x.float() + sigma * torch.randn(x.shape, generator=g)).round().clamp(0, 255).to(torch.uint8)


def samples_for(name: str, n: int, seed: int = 0) -> torch.Tensor:
    if name == "identity":
        return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))
    return mnist_or_standin("test", n, seed)


def images_per_second(name: str, precision: str, n: int, repeats: int) -> float:
    ext = get_extractor(name, precision)
    x = samples_for(name, n)
    extract(ext, x[:ext.batch_size])                                  # warm-up (and lazy init)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        extract(ext, x)
        times.append(time.perf_counter() - t0)
    return n / statistics.median(times)


def fidelity(name: str, fid_n: int) -> dict:
    """bf16 vs fp32: relative feature error and FID(real test, noisy train) in both precisions."""
    real, fake = samples_for(name, fid_n, 0), samples_for(name, fid_n, 1)
    fake = fake if name == "identity" else noisy(mnist_or_standin("train", fid_n, 2))
    out = {}
    for p in ("fp32", "bf16"):
        ext = get_extractor(name, p)
        fr, ff = extract(ext, real)["features"], extract(ext, fake)["features"]
        out[p] = (fr, fid_from_features(fr, ff))
    (f32, fid32), (f16, fid16) = out["fp32"], out["bf16"]
    err = float(torch.linalg.norm(torch.from_numpy(f16 - f32)) / torch.linalg.norm(torch.from_numpy(f32)))
    return {"feature_err": err, "fid_fp32": fid32, "fid_bf16": fid16, "fid_rel": abs(fid16 - fid32) / fid32}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--extractors", nargs="+", default=["inception", "mnist", "fashion", "identity"])
    p.add_argument("--n", type=int, default=2048, help="images per timed pass (classifier, identity)")
    p.add_argument("--n-inception", type=int, default=64, help="images per timed pass for inception")
    p.add_argument("--fid-n", type=int, default=2000, help="images per side for the fp32/bf16 FID check")
    p.add_argument("--fid-n-inception", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; load average at start "
          f"{open('/proc/loadavg').read().split()[0] if Path('/proc/loadavg').exists() else '?'}\n")
    print("| extractor | fp32 img/s | bf16 img/s | bf16 speed-up | feature rel. err | FID fp32 | FID bf16 "
          "| FID rel. diff | keep bf16 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.extractors:
        try:
            get_extractor(name, "fp32")
        except GankitError as e:
            print(f"| {name} | unavailable: {e} |||||||")
            continue
        n = args.n_inception if name == "inception" else args.n
        fid_n = args.fid_n_inception if name == "inception" else args.fid_n
        if name == "identity":  # no network: precision does not apply
            print(f"| identity | {images_per_second(name, 'fp32', n, args.repeats):.3g} | — | — | — | — | — | — | — |")
            continue
        speed = {pr: images_per_second(name, pr, n, args.repeats) for pr in ("fp32", "bf16")}
        f = fidelity(name, fid_n)
        keep = "yes" if f["fid_rel"] <= 0.01 else "no"
        print(f"| {name} | {speed['fp32']:.1f} | {speed['bf16']:.1f} | {speed['bf16'] / speed['fp32']:.2f}x | "
              f"{f['feature_err']:.2%} | {f['fid_fp32']:.3f} | {f['fid_bf16']:.3f} | {f['fid_rel']:.2%} | {keep} |",
              flush=True)
    print(f"\nload average at end {open('/proc/loadavg').read().split()[0] if Path('/proc/loadavg').exists() else '?'}")


if __name__ == "__main__":
    main()
