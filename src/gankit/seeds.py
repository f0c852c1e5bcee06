"""Images by seed, and truncation toward the mean latent.

One image per seed, the same on every call: seed s gives the latent ``RandomState(s).standard_normal(L)``
(``random_sample`` for uniform noise) — NumPy's legacy generator, whose stream is fixed across NumPy versions and
machines — cast to float32. Images are drawn one seed at a time, so an image does not depend on which other seeds
were asked for. In fp32 two calls give the same bits; a run trained in bf16/fp16 draws under autocast, where a
different CPU or GPU kernel may round differently (the images then agree to within that rounding, not bit for bit).

Truncation with ψ in (0, 1] pulls each latent toward the mean latent: ``z' = m + ψ (z - m)``, m the mean of the
noise (0 for normal, 0.5 for uniform), as StyleGAN does with its mean w. ψ = 1 is no truncation; smaller ψ
trades variety for typical images (docs/sampling.md measures it). A generator that normalises z (MSG's pixel norm,
the folder presets) draws the same image from ψz as from z; there truncation pulls the first block's 4x4 features
toward their mean over 4 096 latents instead (``models/msg.py``, ``traits.feature_truncation``), the nearest
thing such a G has to StyleGAN's mean w. Any other G that ignores the scale of z is refused in one line rather
than silently doing nothing.

Example:
    >>> parse_seeds("0-3,7")
    [0, 1, 2, 3, 7]
    >>> x = draw(load_run("runs/mnist"), [3, 7, 42], trunc=0.7)   # (3, 1, 28, 28) in [-1, 1]
"""
from __future__ import annotations

import contextlib
import math
import re
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from .errors import GankitError, file_in_the_way
from .models.pyramid import finest
from .models.traits import traits_of
from .run import Run, load_run
from .train import checkpoint as ckpt

MAX_SEEDS = 10_000        # images in one call (a .png grid of 10 000 is what api.sample allows too)
MAX_SEED = 2 ** 32 - 1    # NumPy's RandomState takes seeds 0 .. 2^32 - 1
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
_PART = re.compile(r"^(\d+)(?:-(\d+))?$")


def parse_seeds(spec: str) -> List[int]:
    """``"0-15"``, ``"3,7,42"`` or a mix (``"0-3,9"``) -> the seeds in the order given; one line for a mistake."""
    text = str(spec).strip()
    if not text:
        raise GankitError("--seeds is empty; give seeds such as 0-15 or 3,7,42")
    seeds: List[int] = []
    for part in text.split(","):
        part = part.strip()
        m = _PART.match(part)
        if not m:
            raise GankitError(f"--seeds takes whole numbers and ranges such as 0-15 or 3,7,42; {part!r} is neither")
        a, b = int(m.group(1)), int(m.group(2) if m.group(2) is not None else m.group(1))
        if b < a:
            raise GankitError(f"--seeds range {part} is reversed (it would be empty); write {b}-{a}")
        if b > MAX_SEED:
            raise GankitError(f"--seeds go from 0 to {MAX_SEED}, got {b}")
        if len(seeds) + b - a + 1 > MAX_SEEDS:
            raise GankitError(f"--seeds asks for more than {MAX_SEEDS} images; ask for fewer")
        seeds.extend(range(a, b + 1))
    return seeds


def check_trunc(psi: float) -> float:
    """ψ must be in (0, 1]."""
    if not isinstance(psi, (int, float)) or isinstance(psi, bool) or not math.isfinite(psi) or not 0 < psi <= 1:
        raise GankitError(f"--trunc takes ψ in (0, 1] (1 = no truncation, 0.7 a usual choice), got {psi}")
    return float(psi)


def seed_latents(seeds: Sequence[int], width: int, noise: str) -> torch.Tensor:
    """(len(seeds), width) float32: each row from its own seed (NumPy's fixed legacy stream)."""
    rows = [np.random.RandomState(s).standard_normal(width) if noise == "normal"
            else np.random.RandomState(s).random_sample(width) for s in seeds]
    return torch.from_numpy(np.asarray(rows, dtype=np.float32).reshape(len(seeds), width))


def scale_free(G: nn.Module, width: int, noise: str) -> bool:
    """Whether G draws the same image from z and from a scaled z (a G that normalises its latent, as MSG's pixel
    norm does): truncation toward the mean latent then changes nothing."""
    if noise != "normal":
        return False
    z = torch.randn(2, width, generator=torch.Generator().manual_seed(0))
    try:
        with torch.no_grad():
            a, b = (finest(G(v.to(next(G.parameters()).device))).float() for v in (z, 0.5 * z))
    except Exception:  # a G that needs more than z (class labels): scaling is assumed to matter
        return False
    return bool(torch.allclose(a, b, atol=1e-5))


MEAN_LATENTS = 4096   # latents averaged for the mean features of feature truncation


@contextlib.contextmanager
def feature_truncation(G: nn.Module, width: int, psi: float) -> Iterator[None]:
    """Inside the block G (a ``traits.feature_truncation`` generator) pulls its first features toward their mean
    over MEAN_LATENTS fixed latents by psi; afterwards it is as before."""
    z = torch.randn(MEAN_LATENTS, width, generator=torch.Generator().manual_seed(0))
    dev = next(G.parameters()).device
    was = G.training
    G.eval()
    try:
        with torch.no_grad():
            mean = torch.cat([G.start_features(z[i:i + 1024].to(dev)).float()  # type: ignore[operator]
                              for i in range(0, MEAN_LATENTS, 1024)]).mean(0, keepdim=True)
        G.set_truncation(mean, psi)  # type: ignore[operator]
        yield
    finally:
        G.set_truncation(None)  # type: ignore[operator]
        G.train(was)


def draw(run: Run, seeds: Sequence[int], trunc: float = 1.0, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
    """One image per seed, (N, C, H, W) in [-1, 1] (vectors (N, D)), drawn one seed at a time (batch-independent)."""
    psi = check_trunc(trunc)
    G = run.sampling_model()
    traits = traits_of(G)
    width = 1 if traits.elementwise else run.cfg.model.latent_dim
    noise = run.cfg.model.noise
    z = seed_latents(seeds, width, noise)
    if psi < 1 and traits.feature_truncation and not traits.num_classes:
        with feature_truncation(G, width, psi):
            return _draw(run, z, labels)
    if psi < 1 and traits.clusters and labels is None:
        labels = G.labels_of(z).cpu()  # type: ignore[operator]  # a G on clusters: each seed keeps its cluster; truncation acts within it
    if psi < 1:
        if scale_free(G, width, noise):
            raise GankitError(f"this run's generator ({run.cfg.model.name}) normalises its latent, so truncation "
                              "toward the mean latent changes nothing; --trunc applies to generators that read z "
                              "as it is (mlp, dcgan, resnet, ...)")
        mean = 0.0 if noise == "normal" else 0.5
        z = mean + psi * (z - mean)
    return _draw(run, z, labels)


def _draw(run: Run, z: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
    out = []
    for i in range(len(z)):
        if labels is None:
            out.append(run.generate(1, z=z[i:i + 1]))
        else:  # a class-conditional run: sample i of class labels[i]
            out.append(run.generate(1, z=z[i:i + 1], labels=labels[i:i + 1]))
    return torch.cat(out)


def check_out(out: Path) -> None:
    """A .png/.jpg/.webp grid, a .npy file, or a folder (one PNG per seed)."""
    suffix = out.suffix.lower()
    if suffix and suffix not in IMAGE_SUFFIXES + (".npy",):
        raise GankitError(f"--out must end in .png, .jpg, .webp or .npy, or be a folder; got {out}")
    if out.is_dir() and suffix:
        raise GankitError(f"--out {out} is a folder; give a file name inside it, such as {out / 'seeds.png'}")
    if out.exists() and not out.is_dir() and not suffix:
        raise GankitError(f"--out {out} is an existing file without an extension; give a .png/.jpg/.webp/.npy "
                          "file, or a folder")
    parent = file_in_the_way(out)
    if parent is not None:
        raise GankitError(f"cannot write {out}: {parent} is a file, not a folder")


def _save_npy(path: Path, x: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, np.ascontiguousarray(x, dtype="<f4"))


def save_image(img, out: Path) -> None:
    """A PIL image to .png / .jpg / .webp, atomically (JPEG has no alpha: RGBA becomes RGB on black)."""
    suffix = out.suffix.lower()
    fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}[suffix]
    if fmt == "JPEG" and img.mode not in ("L", "RGB"):
        img = img.convert("RGB")
    extra = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    out.parent.mkdir(parents=True, exist_ok=True)
    ckpt.atomic_write(out, lambda tmp: img.save(tmp, format=fmt, **extra))


def seed_labels(run: Run, n: int, class_name: Optional[str]) -> Optional[torch.Tensor]:
    """(n,) labels for a class-conditional run: the class asked for (name or number), else the classes in turn;
    None for an unconditional run (asking it for a class is one line)."""
    classes = list(getattr(run, "classes", None) or [])
    if not classes:
        if class_name is not None:
            raise GankitError(f"--class: {run.run_dir} is not class-conditional, so it draws no class on request")
        return None
    if class_name is None:
        return torch.arange(n) % len(classes)
    from .data.labels import class_index
    i = class_index(classes, str(class_name))
    if i is None:
        raise GankitError(f"--class: {run.run_dir} has no class {str(class_name)[:60]!r}; its classes are "
                          f"{', '.join(classes[:40])} (a name or its number from 0)")
    return torch.full((n,), i, dtype=torch.long)


def sample_seeds(run_dir: Union[str, Path, Run], seeds: Union[str, Sequence[int]], out: Union[str, Path],
                 trunc: float = 1.0, step: Optional[int] = None, device: str = "auto",
                 class_name: Optional[str] = None) -> Path:
    """Write one image per seed: a grid (.png/.jpg/.webp, seeds in order, row by row), a .npy (N, ...) float32,
    or a folder with seedNNNN.png per seed. A class-conditional run draws ``class_name`` (else its classes in
    turn)."""
    from . import viz
    seeds = parse_seeds(seeds) if isinstance(seeds, str) else list(seeds)
    check_trunc(trunc)
    out = Path(out).expanduser()
    check_out(out)
    run = run_dir if isinstance(run_dir, Run) else load_run(run_dir, device=device, step=step)
    x = draw(run, seeds, trunc, labels=seed_labels(run, len(seeds), class_name))
    suffix = out.suffix.lower()
    if x.dim() != 4 and suffix != ".npy":
        raise GankitError(f"{run.cfg.data.name} samples are vectors; write them to a .npy file (--out seeds.npy)")
    if suffix == ".npy":
        out.parent.mkdir(parents=True, exist_ok=True)
        ckpt.atomic_write(out, lambda tmp: _save_npy(tmp, x.numpy()))
    elif suffix:
        save_image(viz.grid(x), out)
    else:
        from PIL import Image
        out.mkdir(parents=True, exist_ok=True)
        for s, img in zip(seeds, viz.to_uint8(x)):
            Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).save(out / f"seed{s:04d}.png")
    return out
