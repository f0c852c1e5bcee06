"""Pictures of a run: sample grids, the progress GIF, loss/metric curves, 1-D densities and 2-D scatters."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import matplotlib
import numpy as np
import torch
from PIL import Image

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .jsonl import read_jsonl  # noqa: E402


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) floats in [-1, 1] -> (N, H, W, C) uint8."""
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def grid(x: torch.Tensor, nrow: Optional[int] = None, pad: int = 2) -> Image.Image:
    """A grid image of (N, C, H, W) samples in [-1, 1], nrow per row (default: square), dark padding."""
    imgs = to_uint8(x)
    n, h, w, c = imgs.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    canvas = np.zeros((rows * (h + pad) + pad, nrow * (w + pad) + pad, c), np.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        canvas[pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = imgs[i]
    return Image.fromarray(canvas[..., 0] if c == 1 else canvas)


def captioned(img: Image.Image, text: str) -> Image.Image:
    """img with a dark band above it holding `text` (e.g. "step 1200"), so a frame says where it is from."""
    from PIL import ImageDraw
    band = 14
    out = Image.new(img.mode, (img.width, img.height + band), 0)
    out.paste(img, (0, band))
    ImageDraw.Draw(out).text((4, 1), text, fill=255 if img.mode == "L" else (255, 255, 255))
    return out


def save_grid(x: torch.Tensor, path: Path, nrow: Optional[int] = None, scale: int = 1, caption: str = "") -> Path:
    img = grid(x, nrow)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    if caption:
        img = captioned(img, caption)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def _read_frame(path: Path) -> Optional[Image.Image]:
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (OSError, SyntaxError, ValueError):
        return None


def make_gif(frames: Sequence[Path], out: Path, max_frames: int = 100, ms: int = 200) -> Optional[Path]:
    """progress.gif from (at most max_frames, evenly spaced) frame files; the last frame lingers."""
    frames = list(frames)
    if not frames:
        return None
    if len(frames) > max_frames:
        idx = np.linspace(0, len(frames) - 1, max_frames).round().astype(int)
        frames = [frames[i] for i in sorted(set(idx))]
    images = [im for im in map(_read_frame, frames) if im is not None]  # a frame cut short by a kill is skipped
    if not images:
        return None
    size = images[-1].size
    images = [im if im.size == size else im.resize(size) for im in images]
    durations = [ms] * (len(images) - 1) + [ms * 10]
    images[0].save(out, save_all=True, append_images=images[1:], duration=durations, loop=0)
    return out


def read_metrics(path: Path) -> List[Dict]:
    return read_jsonl(path)  # rows cut short by a hard kill, or garbage, are skipped


def _num(v: object) -> float:
    """A logged value as a float for a curve: NaN for anything that is not a number (a gap in the line)."""
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else float("nan")


def plot_losses(metrics: Path, out: Path, title: str = "") -> Optional[Path]:
    """losses.png: D/G losses, D(x) and D(G(z)), and any eval/* metrics, against the step."""
    rows = read_metrics(metrics)
    train = [r for r in rows if "loss_d" in r]
    evals = sorted({k for r in rows for k in r if k.startswith("eval/") and isinstance(r[k], (int, float))})
    if not train:
        return None
    panels = 2 + (1 if evals else 0)
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.6))
    steps = [r["step"] for r in train]
    for key, label in (("loss_d", "discriminator loss"), ("loss_g", "generator loss")):
        axes[0].plot(steps, [_num(r.get(key)) for r in train], label=label, lw=1)
    axes[0].set_xlabel("step")
    axes[0].legend()
    axes[0].set_title("losses")
    for key, label in (("d_real", "D(x)"), ("d_fake", "D(G(z))")):
        axes[1].plot(steps, [_num(r.get(key)) for r in train], label=label, lw=1)
    axes[1].set_ylim(-0.02, 1.02)
    axes[1].set_xlabel("step")
    axes[1].legend()
    axes[1].set_title("discriminator outputs (sigmoid)")
    if evals:
        for key in evals:
            pts = [(r["step"], r[key]) for r in rows if key in r and isinstance(r[key], (int, float))]
            axes[2].plot(*zip(*pts), marker="o", ms=3, label=key[5:])
        axes[2].set_xlabel("step")
        axes[2].legend(fontsize=7)
        axes[2].set_title("evaluation")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def plot_1d(samples: np.ndarray, mean: float, std: float, out: Path, title: str = "",
            d_curve: Optional[tuple] = None) -> Path:
    """Histogram of generated values over the target normal density; with ``d_curve`` = (xs, D(xs)) also the
    discriminator's curve on a right-hand axis (lesson 002's figure: data, generator and D over x)."""
    fig, ax = plt.subplots(figsize=(5.6, 3.6) if d_curve is not None else (5, 3.6))
    lo, hi = mean - 5 * std, mean + 5 * std
    ax.hist(samples.ravel(), bins=80, range=(lo, hi), density=True, alpha=0.6, label="generated")
    xs = np.linspace(lo, hi, 400)
    ax.plot(xs, np.exp(-0.5 * ((xs - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi)), "k", lw=1.5,
            label=f"target N({mean:g}, {std:g}²)")
    if d_curve is not None:
        right = ax.twinx()
        right.plot(d_curve[0], d_curve[1], "--", color="tab:green", lw=1.6, label="D(x)")
        lo_d, hi_d = float(np.min(d_curve[1])), float(np.max(d_curve[1]))
        pad = max(0.02, 0.1 * (hi_d - lo_d))
        right.set_ylim(max(0.0, lo_d - pad), min(1.0, hi_d + pad))
        right.set_ylabel("D(x): a set of G's draws with one at x", fontsize=7, color="tab:green")
        right.tick_params(labelsize=7, colors="tab:green")
        right.legend(fontsize=8, loc="upper right")
        ax.legend(fontsize=8, loc="upper left")
    else:
        ax.legend(fontsize=8)
    ax.set_title(title or "generated vs target density")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def plot_2d(samples: np.ndarray, out: Path, modes: Optional[np.ndarray] = None, title: str = "",
            field: Optional[dict] = None) -> Path:
    """Scatter of generated points with the mixture's mode centres. With ``field`` (gankit.report.fields
    .d_field_2d) GAN Lab's view: D's output as a heat map (green: judged real, pink: judged fake), real points,
    and arrows at generated points along -d loss_G / dx, the way D's gradient moves them."""
    fig, ax = plt.subplots(figsize=(4.6, 4.6) if field is not None else (4.2, 4.2))
    if field is not None:
        ax.imshow(field["heat"], extent=field["extent"], origin="lower", cmap="PiYG", vmin=0, vmax=1,
                  alpha=0.75, interpolation="bilinear")
        uv = field["uv"]
        size = np.percentile(np.linalg.norm(uv, axis=1), 95) + 1e-12  # the 95th-percentile arrow: 8% of the view
        uv = uv / size * 0.08 * (field["extent"][1] - field["extent"][0])
        ax.quiver(field["at"][:, 0], field["at"][:, 1], uv[:, 0], uv[:, 1], angles="xy", scale_units="xy",
                  scale=1, width=0.004, color="#40004b", alpha=0.7)
    ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.4, label="generated",
               c="#762a83" if field is not None else None)
    if field is not None:  # real points over the generated ones: where G should be
        ax.scatter(field["real"][:, 0], field["real"][:, 1], s=4, c="#00a651", alpha=0.6, label="real")
    if modes is not None:
        if field is None:  # with the field the real points mark the modes, and crosses would hide them
            ax.scatter(modes[:, 0], modes[:, 1], s=40, c="red", marker="x", label="modes")
        span = np.abs(modes).max() * 1.5 + 0.5
        ax.set_xlim(-span, span)
        ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
