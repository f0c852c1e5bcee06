"""Example images: content photos from scikit-image and style images gankit draws itself.

    python -m gankit.style.examples docs/img/style --threads 1 --compare --sweep

writes content/style/result triples, the plain-Gram comparison, the SWAG temperature sweep and
timings.json (with the load average at the time of each run).

The drawn styles are deterministic (seeded) so the documentation can be regenerated exactly.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

from ..errors import GankitError
from ..reporter import Reporter

_report = Reporter(__name__)

Palette = List[Tuple[int, int, int]]
WARM_NIGHT: Palette = [(18, 35, 92), (38, 70, 160), (70, 120, 200), (240, 200, 60), (250, 235, 140),
                       (25, 25, 40), (110, 160, 210)]
STAINED: Palette = [(200, 30, 40), (240, 170, 20), (30, 90, 170), (20, 140, 80), (120, 40, 140),
                    (235, 235, 210)]


def draw_strokes(size: int = 512, seed: int = 0, palette: Palette = WARM_NIGHT) -> Image.Image:
    """Swirling short brush strokes in a night-sky palette (an impressionist texture)."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (size, size), palette[0])
    draw = ImageDraw.Draw(img)
    for _ in range(size * 9):
        x, y = rng.uniform(0, size, 2)
        # Direction follows a smooth swirl field so strokes flow like paint.
        angle = math.sin(x / size * 6.0) * 2.0 + math.cos(y / size * 5.0) * 2.0
        length, width = rng.uniform(size / 40, size / 14), int(rng.integers(2, max(3, size // 80)))
        dx, dy = math.cos(angle) * length / 2, math.sin(angle) * length / 2
        color = palette[int(rng.integers(len(palette)))]
        shade = rng.uniform(0.8, 1.15)
        color = tuple(int(min(255, c * shade)) for c in color)
        draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=color, width=width)
    return img.filter(ImageFilter.SMOOTH)


def draw_mosaic(size: int = 512, seed: int = 1, palette: Palette = STAINED, cells: int = 140) -> Image.Image:
    """Stained glass: Voronoi cells of bright colours with dark lead lines."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, size, (cells, 2))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    d = (xx[..., None] - pts[:, 0]) ** 2 + (yy[..., None] - pts[:, 1]) ** 2  # (size, size, cells)
    order = np.argsort(d, axis=2)
    nearest, second = order[..., 0], order[..., 1]
    d1 = np.sqrt(np.take_along_axis(d, nearest[..., None], 2)[..., 0])
    d2 = np.sqrt(np.take_along_axis(d, second[..., None], 2)[..., 0])
    colors = np.array(palette, np.float32)[rng.integers(len(palette), size=cells)]
    colors *= rng.uniform(0.75, 1.1, (cells, 1))
    img = colors[nearest]
    img[(d2 - d1) < size / 170] = (25, 20, 20)  # lead lines
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def skimage_photo(name: str, size: int = 512) -> Image.Image:
    """A scikit-image sample (astronaut, chelsea, coffee, rocket, ...) centre-cropped to a square."""
    try:
        import skimage.data
    except ImportError:
        raise GankitError("the examples need scikit-image: pip install scikit-image") from None
    arr = getattr(skimage.data, name)()
    img = Image.fromarray(arr).convert("RGB")
    w, h = img.size
    s = min(w, h)
    img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    return img.resize((size, size), Image.Resampling.BICUBIC)


STYLES: Dict[str, Callable[[], Image.Image]] = {
    "strokes": draw_strokes,
    "mosaic": draw_mosaic,
    "hubble": lambda: skimage_photo("hubble_deep_field"),
    "ihc": lambda: skimage_photo("immunohistochemistry"),
}
# (content photo, style) pairs shown in docs/style.md
PAIRS: List[Tuple[str, str]] = [("chelsea", "strokes"), ("astronaut", "mosaic"), ("coffee", "ihc"),
                                ("rocket", "hubble")]


def make_examples(out_dir: Path, size: int = 256, steps: int = 150, big: int = 512,
                  threads: "int | None" = None, compare: bool = False) -> List[dict]:
    """Write content/style/result PNGs for every pair with the default settings and return the timings.

    The first pair is also run at ``big`` pixels; ``compare`` adds plain-Gram results (effnet-lite0-gram).
    """
    from .transfer import Options, run
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (content, style) in enumerate(PAIRS):
        c_img, s_img = skimage_photo(content), STYLES[style]()
        c_img.resize((size, size), Image.Resampling.BICUBIC).save(out_dir / f"content-{content}.png")
        s_img.resize((size, size), Image.Resampling.BICUBIC).save(out_dir / f"style-{style}.png")
        jobs = [("effnet-lite0", size, "")] + ([("effnet-lite0", big, f"-{big}")] if i == 0 and big else [])
        jobs += [("effnet-lite0-gram", size, "-gram")] if compare else []
        for backbone, px, suffix in jobs:
            res = run(c_img, s_img, backbone, Options(size=px, steps=steps, threads=threads), progress=True)
            res.image.save(out_dir / f"result-{content}-{style}{suffix}.png")
            rows.append({"content": content, "style": style, "backbone": backbone, "size": px,
                         "steps": steps, "threads": threads or "default", "seconds": round(res.seconds, 1),
                         "load_avg_1min": round(os.getloadavg()[0], 1)})
            _report.say(json.dumps(rows[-1]))
    return rows


def temperature_sweep(out_dir: Path, temps: Tuple[float, ...] = (1.0, 8.0, 32.0, 128.0, 0.0),
                      pairs: Tuple[int, ...] = (0, 1), size: int = 256, steps: int = 150,
                      threads: "int | None" = None) -> List[dict]:
    """effnet-lite0 at several SWAG temperatures (0: no softmax, plain Gram) for some pairs.

    The style weight is rescaled so every run starts with the same weighted style loss as the default
    (T=32, weight 3e5): the comparison is between transformations, not between loss scales.
    """
    from .backbones import effnet_lite0
    from .io import pil_to_tensor
    from .transfer import Options, loss_terms, run, targets
    rows = []
    for i in pairs:
        content, style = PAIRS[i]
        c_img, s_img = skimage_photo(content), STYLES[style]()
        c_t, s_t = pil_to_tensor(c_img, (size, size)), pil_to_tensor(s_img, (size, size))

        def start_loss(net) -> float:
            with torch.no_grad():
                return float(loss_terms(net, c_t, *targets(net, c_t, s_t, False))["style"])
        reference = effnet_lite0()
        target = reference.style_weight * start_loss(reference)
        for t in temps:
            net = effnet_lite0()
            net.smooth, net.temperature = t > 0, t or 1.0
            net.style_weight = target / start_loss(net)
            res = run(c_img, s_img, net, Options(size=size, steps=steps, threads=threads), progress=False)
            res.image.save(out_dir / f"sweep-{content}-T{int(t)}.png")
            rows.append({"content": content, "T": t, "style_weight": float(f"{net.style_weight:.3g}"),
                         "seconds": round(res.seconds, 1)})
            _report.say(json.dumps(rows[-1]))
    return rows


def main(argv: "List[str] | None" = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gankit.style.examples")
    p.add_argument("out_dir", type=Path)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--big", type=int, default=512, help="also time the first pair at this size (0: no)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--compare", action="store_true", help="also run the plain-Gram backbone")
    p.add_argument("--sweep", action="store_true", help="also run the SWAG temperature sweep")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    rows = make_examples(args.out_dir, args.size, args.steps, args.big, args.threads, args.compare)
    sweep = temperature_sweep(args.out_dir, threads=args.threads) if args.sweep else []
    summary = {"rows": rows, "sweep": sweep, "total_seconds": round(time.perf_counter() - t0, 1)}
    (args.out_dir / "timings.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
