"""Projection: the latent z whose image is closest to a real picture, and walks between two such latents.

The optimiser is StyleGAN2's projector carried over to z: start from the best of a few random latents, then Adam
on z for a few hundred steps against a pixel loss (mean squared error) plus a feature loss (EfficientNet-Lite0
block outputs, each unit-normalised over channels as LPIPS does, when its ImageNet weights are installed;
otherwise pixels only, with a line saying so). The latent regulariser is StyleGAN2's: noise added to z, large at
first and fading to none by 75% of the steps, so the search explores before it settles; the learning rate ramps
up over the first 5% of steps and down over the last 25%.

Example:
    >>> r = project("runs/mnist", "digit.png", "proj/")   # proj/reconstruction.png, latent.npy, side_by_side.png
    >>> r["psnr"]                                           # dB between the picture and the reconstruction
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from . import viz
from .data.folder import to_square
from .errors import GankitError
from .models.pyramid import finest
from .models.traits import traits_of
from .reporter import Reporter
from .run import Run, load_run
from .walk import _check_steps, latent_path

_report = Reporter(__name__)

FEATURE_LAYERS = ("b2", "b4")   # strides 8 and 16 of EfficientNet-Lite0 (the image is seen at 128 px or more)
MIN_FEATURE_SIZE = 128
MAX_STEPS = 5000


def load_target(path: Union[str, Path], shape: Tuple[int, ...]) -> torch.Tensor:
    """The picture as G draws images: (1, C, R, R) in [-1, 1], centre-cropped to a square and resized."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise GankitError(f"{path} is not a file; give a picture (.png, .jpg, ...) to project")
    try:
        img = Image.open(path)
        img.load()
    except Exception as e:  # PIL raises several types for a file that is not an image
        raise GankitError(f"{path} is not a picture PIL can read ({type(e).__name__})") from None
    c, r, _ = shape
    x = torch.tensor(to_square(img, r, c), dtype=torch.float32)   # as folders are read: over white
    return (x / 127.5 - 1.0)[None]


class Features:
    """EfficientNet-Lite0 features for a perceptual distance, or None when its weights are not installed."""

    def __init__(self) -> None:
        from .models import effnet
        self.net = effnet.pretrained()

    def __call__(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        x = (x + 1) / 2                                   # [-1, 1] -> [0, 1]
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-1] < MIN_FEATURE_SIZE:
            x = F.interpolate(x, size=MIN_FEATURE_SIZE, mode="bilinear", align_corners=False)
        taps = self.net(x, FEATURE_LAYERS)
        return {k: v / (v.norm(dim=1, keepdim=True) + 1e-8) for k, v in taps.items()}  # unit length per pixel


def feature_distance(a: Dict[str, torch.Tensor], b: Dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean over layers of the squared distance of unit-normalised features (LPIPS without learned weights)."""
    return sum(((a[k] - b[k]) ** 2).sum(1).mean() for k in a) / len(a)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two images in [-1, 1], as 8-bit pictures."""
    x, y = (torch.from_numpy(viz.to_uint8(t).astype(np.float64)) for t in (a, b))
    mse = float(((x - y) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def _features(use: bool) -> Optional[Features]:
    if not use:
        return None
    try:
        return Features()
    except GankitError as e:
        _report.say(f"pixel loss only: {e}")
        return None


def _start(run: Run, target: torch.Tensor, tries: int, seed: int) -> torch.Tensor:
    """The best of ``tries`` random latents by pixel error: (1, L)."""
    z = run.noise(tries, torch.Generator(run.device).manual_seed(seed)).cpu()
    with torch.no_grad():
        err = ((run.generate(tries, z=z) - target) ** 2).flatten(1).mean(1)
    return z[int(err.argmin())][None].clone()


def optimise(run: Run, target: torch.Tensor, steps: int = 300, lr: float = 0.05, feature_weight: float = 0.5,
             features: Optional[Features] = None, seed: int = 0, noise: float = 0.05) -> torch.Tensor:
    """The latent (1, L) whose image matches ``target`` (1, C, R, R): Adam with a noise-regularised z."""
    G = run.sampling_model().float().cpu().eval()
    G.requires_grad_(False)
    z = _start(run, target, 16, seed).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr, betas=(0.9, 0.999))
    want = features(target) if features is not None else None
    gen = torch.Generator().manual_seed(seed + 1)
    for t in range(steps):
        frac = t / steps
        ramp = min(1.0, (1 - frac) / 0.25)                          # StyleGAN2's cosine ramp-down, linear ramp-up
        opt.param_groups[0]["lr"] = lr * min(1.0, (t + 1) / (0.05 * steps)) * (0.5 - 0.5 * math.cos(math.pi * ramp))
        sigma = noise * max(0.0, 1 - frac / 0.75) ** 2           # StyleGAN2: noise on the latent, fading out
        x = finest(G(z + sigma * torch.randn(z.shape, generator=gen)))
        loss = F.mse_loss(x, target)
        if want is not None:
            loss = loss + feature_weight * feature_distance(features(x), want)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return z.detach()


def project(run_dir: Union[str, Path, Run], image: Union[str, Path], out: Union[str, Path], steps: int = 300,
            use_features: bool = True, seed: int = 0, step: Optional[int] = None) -> Dict[str, Any]:
    """Project a picture: write out/reconstruction.png, out/latent.npy (L,) float32 and out/side_by_side.png
    (the picture | its reconstruction); returns {"psnr", "feature_distance", "paths", ...}."""
    if not 1 <= steps <= MAX_STEPS:
        raise GankitError(f"--steps takes 1 to {MAX_STEPS}, got {steps}")
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise GankitError(f"--out {out} is a file; give a folder for the reconstruction, latent and side-by-side")
    run = run_dir if isinstance(run_dir, Run) else load_run(run_dir, device="cpu", step=step)
    if len(run.data_shape) != 3:
        raise GankitError(f"{run.cfg.data.name} samples are vectors; projection finds the latent of a picture")
    if traits_of(run.sampling_model()).num_classes:
        raise GankitError("projecting into a class-conditional run is not supported yet (its class would have to "
                          "be found too)")
    target = load_target(image, tuple(run.data_shape))
    feats = _features(use_features)
    z = optimise(run, target, steps=steps, features=feats, seed=seed)
    with torch.no_grad():
        x = run.generate(1, z=z)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"reconstruction": out / "reconstruction.png", "latent": out / "latent.npy",
             "side_by_side": out / "side_by_side.png"}
    viz.grid(x, pad=0).save(paths["reconstruction"])
    np.save(paths["latent"], z[0].numpy().astype(np.float32))
    pair = viz.grid(torch.cat([target, x]), nrow=2)
    scale = max(1, -(-256 // pair.width))
    pair.resize((pair.width * scale, pair.height * scale), Image.Resampling.NEAREST).save(paths["side_by_side"])
    dist = float(feature_distance(feats(x), feats(target))) if feats is not None else None
    return {"psnr": psnr(x, target), "feature_distance": dist, "features": feats is not None, "paths": paths,
            "steps": steps}


def load_latent(path: Union[str, Path], width: int) -> torch.Tensor:
    """A saved latent (.npy of shape (L,) or (1, L)) as (L,) float32; one line when it does not fit the run."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise GankitError(f"{path} does not exist; give a latent .npy (as gankit project writes)")
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as e:
        raise GankitError(f"{path} is not a .npy array ({type(e).__name__})") from None
    if z.dtype.kind not in "fiu" or z.size != width or z.ndim > 2:
        raise GankitError(f"{path} holds an array of shape {z.shape}, not a latent of {width} values for this run")
    z = torch.from_numpy(z.astype(np.float32).reshape(width))
    if not torch.isfinite(z).all():
        raise GankitError(f"{path} holds values that are not finite")
    return z


def walk_between(run_dir: Union[str, Path, Run], a: Union[str, Path], b: Union[str, Path], k: int,
                 out: Union[str, Path], step: Optional[int] = None) -> Tuple[Path, Path]:
    """A K-image strip from latent a to latent b (.png) and a GIF there and back beside it (same name, .gif)."""
    _check_steps(k)
    out = Path(out).expanduser()
    if out.suffix.lower() != ".png":
        raise GankitError(f"--out for --interpolate must end in .png (the GIF walk is written beside it); got {out}")
    run = run_dir if isinstance(run_dir, Run) else load_run(run_dir, step=step)
    if len(run.data_shape) != 3:
        raise GankitError(f"latent walks draw images; {run.cfg.data.name} samples are vectors")
    width = run.cfg.model.latent_dim
    za, zb = load_latent(a, width), load_latent(b, width)
    x = run.generate(k, z=latent_path(za, zb, k, run.cfg.model.noise).to(run.device))
    out.parent.mkdir(parents=True, exist_ok=True)
    viz.grid(x, nrow=k).save(out)
    scale = max(1, -(-112 // x.shape[-1]))
    frames = [viz.grid(x[i:i + 1], pad=0) for i in list(range(k)) + list(range(k - 2, 0, -1))]
    frames = [f.resize((f.width * scale, f.height * scale), Image.Resampling.NEAREST) for f in frames]
    gif = out.with_suffix(".gif")
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=90, loop=0)
    return out, gif
