"""Latent walks: what G draws along a path between random noise vectors.

Gaussian noise is interpolated on the sphere (slerp: the path stays where Gaussian latents live, at radius
~sqrt(latent_dim), instead of cutting through the low-norm middle); uniform noise on a straight line (the cube
is convex, so the line stays inside it).

Example:
    >>> png, gif = interpolate("runs/mnist", 10, "walk.png", rows=4)   # a 4 x 10 strip and walk.gif
    >>> z = latent_path(torch.randn(128), torch.randn(128), 10, "normal")  # (10, 128)
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple, Union

import torch
from PIL import Image

from . import viz
from .errors import GankitError, file_in_the_way
from .models.traits import traits_of
from .run import Run, check_not_the_runs_own, check_seed, load_run

MAX_STEPS, MAX_ROWS = 200, 32  # a 32 x 200 strip and an 800-frame GIF: what fits in memory beside a large G


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of (D,) vectors at the fractions t (K,) -> (K, D); linear when a, b are parallel."""
    cos = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if omega.abs() < 1e-4:
        return torch.lerp(a[None], b[None], t[:, None])
    s = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / s)[:, None] * a + (torch.sin(t * omega) / s)[:, None] * b


def latent_path(a: torch.Tensor, b: torch.Tensor, k: int, noise: str, endpoint: bool = True) -> torch.Tensor:
    """k latents from a to b (b itself only with endpoint): slerp for normal noise, linear for uniform. (k, D)"""
    t = torch.linspace(0, 1, k) if endpoint else torch.arange(k) / k
    return slerp(a, b, t) if noise == "normal" else torch.lerp(a[None], b[None], t[:, None])


def no_latent(run_dir: Union[str, Path], task: str, what: str) -> GankitError:
    """The one line for a run whose G translates images (pix2pix): it has no latent for ``what`` to choose."""
    return GankitError(f"{run_dir} translates images (model.task={task}): it has no latent, so {what} does not "
                       "apply; gankit sample RUN --n N shows it on held-out images, gankit apply RUN IMAGES --out "
                       "DIR runs it on yours")


def check_latent(run: Run, what: str) -> None:
    """``no_latent`` raised for a translator run."""
    if traits_of(run.G).translates:
        raise no_latent(run.run_dir, run.cfg.model.task, what)


def _check(run: Run, k: int) -> None:
    check_latent(run, "a latent walk (--interpolate)")
    if len(run.data_shape) != 3:
        raise GankitError(f"latent walks draw images; {run.cfg.data.name} samples are vectors "
                          "(sample them to a .npy file instead)")
    _check_steps(k)


def _check_steps(k: int) -> None:
    if k < 2 or k > MAX_STEPS:
        raise GankitError(f"--interpolate takes 2 to {MAX_STEPS} steps (a strip of K images a row, and a GIF of "
                          f"4K frames), got {k}")


def _draw(run: Run, z: torch.Tensor, per_class: int = 0) -> torch.Tensor:
    """G's images of z (N, C, H, W) in [-1, 1]; a conditional run draws one class for each ``per_class`` latents
    in turn (one class a walk), else the classes in turn."""
    labels = None
    if per_class and getattr(run, "classes", None):
        labels = (torch.arange(len(z)) // per_class) % len(run.classes)
    return run.generate(len(z), z=z.to(run.device), labels=labels)


def strip(run: Run, k: int = 10, rows: int = 1, seed: int = 0) -> Image.Image:
    """rows walks of k steps between random latents, one walk a row."""
    _check(run, k)
    gen = torch.Generator(run.device).manual_seed(seed)
    ends = run.noise(2 * rows, gen).cpu()  # (2 rows, latent)
    z = torch.cat([latent_path(ends[2 * r], ends[2 * r + 1], k, run.cfg.model.noise) for r in range(rows)])
    return viz.grid(_draw(run, z, per_class=k), nrow=k)


def loop_frames(run: Run, k: int = 10, rows: int = 1, stops: int = 4, seed: int = 0,
                min_size: int = 112) -> List[Image.Image]:
    """A closed walk through `stops` random latents, k frames a leg; each frame holds `rows` walks side by side."""
    _check(run, k)
    gen = torch.Generator(run.device).manual_seed(seed + 1)
    walks = []
    for _ in range(rows):
        pts = run.noise(stops, gen).cpu()
        legs = [latent_path(pts[i], pts[(i + 1) % stops], k, run.cfg.model.noise, endpoint=False)
                for i in range(stops)]
        walks.append(torch.cat(legs))  # (stops k, latent), back to the start
    z = torch.stack(walks, 1).reshape(-1, walks[0].shape[1])  # frame-major: (frames rows, latent)
    x = _draw(run, z)
    scale = max(1, -(-min_size // x.shape[-1]))
    frames = []
    for f in range(stops * k):
        img = viz.grid(x[f * rows:(f + 1) * rows], nrow=rows)
        frames.append(img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST))
    return frames


def interpolate(run_dir: Union[str, Path, Run], k: int, out: Union[str, Path], seed: int = 0,
                step: Optional[int] = None, rows: int = 4, device: str = "auto") -> Tuple[Path, Path]:
    """Write a PNG strip of k steps between random latents (``rows`` walks) and a looping GIF walk beside it
    (same name, .gif). Returns (png, gif)."""
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise GankitError(f"--out for --interpolate must end in .png (the GIF walk is written beside it); got {out}")
    if rows < 1 or rows > MAX_ROWS:
        raise GankitError(f"--rows must be 1 to {MAX_ROWS}, got {rows}")
    _check_steps(k)
    check_seed(seed)
    out = out.expanduser()
    gif = out.with_suffix(".gif")
    for path in (out, gif):
        if path.is_dir():
            raise GankitError(f"cannot write {path}: it is a folder; give --out another name")
        parent = file_in_the_way(path)
        if parent is not None:
            raise GankitError(f"cannot write {path}: {parent} is a file, not a folder")
    if not isinstance(run_dir, Run):
        check_not_the_runs_own(out, Path(run_dir).expanduser(), also=[gif])
    run = run_dir if isinstance(run_dir, Run) else load_run(run_dir, device=device, step=step)
    img = strip(run, k, rows, seed)
    frames = loop_frames(run, k, rows, seed=seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out)
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=90, loop=0)
    return out, gif
