"""Example images: content photos from scikit-image and style images gankit draws itself.

    python -m gankit.style.examples docs/images/style     # writes content/style/result triples + timings

The drawn styles are deterministic (seeded) so the documentation can be regenerated exactly.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ..errors import GankitError

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
    return img.resize((size, size), Image.BICUBIC)


STYLES: Dict[str, Callable[[], Image.Image]] = {
    "strokes": draw_strokes,
    "mosaic": draw_mosaic,
    "hubble": lambda: skimage_photo("hubble_deep_field"),
    "ihc": lambda: skimage_photo("immunohistochemistry"),
}
# (content, style, what the result shows)
PAIRS: List[Tuple[str, str, str]] = [
    ("chelsea", "strokes", ""),
    ("astronaut", "mosaic", ""),
    ("coffee", "ihc", ""),
    ("rocket", "hubble", ""),
]


def make_examples(out_dir: Path, size: int = 256, steps: int = 150, big: int = 512) -> List[dict]:
    """Write content/style/result PNGs for every pair and return the timings (first pair also at big)."""
    from .transfer import Options, run
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (content, style, _) in enumerate(PAIRS):
        c_img, s_img = skimage_photo(content), STYLES[style]()
        c_img.resize((size, size), Image.BICUBIC).save(out_dir / f"content-{content}.png")
        s_img.resize((size, size), Image.BICUBIC).save(out_dir / f"style-{style}.png")
        for px in ([size, big] if i == 0 and big else [size]):
            res = run(c_img, s_img, "effnet-lite0", Options(size=px, steps=steps), progress=True)
            suffix = "" if px == size else f"-{px}"
            res.image.save(out_dir / f"result-{content}-{style}{suffix}.png")
            rows.append({"content": content, "style": style, "size": px, "steps": steps,
                         "seconds": round(res.seconds, 1), "losses": res.losses})
            print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def main(argv: "List[str] | None" = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gankit.style.examples")
    p.add_argument("out_dir", type=Path)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--big", type=int, default=512, help="also time the first pair at this size (0: no)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    rows = make_examples(args.out_dir, args.size, args.steps, args.big)
    print(json.dumps({"rows": rows, "total_seconds": round(time.perf_counter() - t0, 1)}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
