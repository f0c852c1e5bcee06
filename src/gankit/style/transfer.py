"""The optimisation: repaint an image so its features match the content and its Gram matrices the style.

    >>> from gankit.style import stylize
    >>> img = stylize("cat.png", "painting.png", size=256)           # a PIL image
    >>> img = stylize(cat, painting, steps=100, out="cat-styled.png", gif=True)
"""
from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from ..errors import GankitError
from . import io
from .backbones import StyleNet, get_backbone
from .losses import content_loss, grams, style_loss, tv_loss

INITS = ("content", "noise")
OPTIMIZERS = ("lbfgs", "adam")


@dataclass
class Options:
    """Everything stylize() can be told; None weights mean "the backbone's default"."""
    size: int = 256
    steps: int = 150
    content_weight: Optional[float] = None
    style_weight: Optional[float] = None
    tv_weight: Optional[float] = None
    init: str = "content"
    optimizer: str = "lbfgs"
    scales: int = 1
    seed: int = 0
    bf16: bool = True
    frames: int = 0          # >0: keep about this many intermediate frames (for a GIF)

    def check(self) -> None:
        """Raise GankitError naming the first bad value."""
        if self.size < 16:
            raise GankitError(f"--size must be at least 16 pixels, got {self.size}")
        if self.steps < 1:
            raise GankitError(f"--steps must be at least 1, got {self.steps}")
        if self.init not in INITS:
            raise GankitError(f"--init must be one of {', '.join(INITS)}, got {self.init!r}")
        if self.optimizer not in OPTIMIZERS:
            raise GankitError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if not 1 <= self.scales <= 4 or self.size >> (self.scales - 1) < 16:
            raise GankitError(f"--scales must be 1..4 with the coarsest scale at least 16 px "
                              f"(size {self.size} allows {max(1, (self.size // 16).bit_length())})")
        for name in ("content_weight", "style_weight", "tv_weight"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise GankitError(f"--{name.replace('_', '-')} must be >= 0, got {value}")


@dataclass
class Result:
    image: Image.Image
    frames: List[Image.Image]
    losses: Dict[str, float]
    seconds: float


def _autocast(enabled: bool) -> contextlib.AbstractContextManager:
    return torch.autocast("cpu", dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


def scale_sizes(wh: tuple, size: int, scales: int) -> List[tuple]:
    """(w, h) per scale, coarse to fine: the longer side halves at each coarser scale."""
    return [io.fit_size(wh, size >> (scales - 1 - i)) for i in range(scales)]


def run(content: io.ImageLike, style: io.ImageLike, backbone: Union[str, StyleNet] = "effnet-lite0",
        opts: Optional[Options] = None, progress: bool = True) -> Result:
    """Stylise content with style; the core of stylize(), returning frames and final losses too."""
    opts = opts or Options()
    opts.check()
    c_img = io.open_image(content, "content image")
    s_img = io.open_image(style, "style image")
    net = get_backbone(backbone)
    weights = {"content": net.content_weight if opts.content_weight is None else opts.content_weight,
               "style": net.style_weight if opts.style_weight is None else opts.style_weight,
               "tv": net.tv_weight if opts.tv_weight is None else opts.tv_weight}
    sizes = scale_sizes(c_img.size, opts.size, opts.scales)
    steps = split_steps(opts.steps, opts.scales)
    gen = torch.Generator().manual_seed(opts.seed)
    x: Optional[torch.Tensor] = None
    frames: List[Image.Image] = []
    t0 = time.perf_counter()
    bar = tqdm(total=sum(steps), file=sys.stderr, disable=not progress, desc="stylize",
               dynamic_ncols=True, leave=True)
    try:
        for wh, n in zip(sizes, steps):
            target_c = io.pil_to_tensor(c_img, wh)  # (1, 3, h, w)
            target_s = io.pil_to_tensor(s_img, io.fit_size(s_img.size, max(wh)))
            x = init_image(x, target_c, opts.init, gen)
            every = max(1, sum(steps) // opts.frames) if opts.frames else 0
            x, losses = optimise(net, x, target_c, target_s, weights, n, opts, bar, frames, every,
                                 final_size=sizes[-1])
    finally:
        bar.close()
    assert x is not None
    return Result(io.tensor_to_pil(x), frames, losses, time.perf_counter() - t0)


def split_steps(steps: int, scales: int) -> List[int]:
    """Steps per scale, coarse to fine: the finest scale gets half, coarser ones share the rest."""
    if scales == 1:
        return [steps]
    fine = max(1, steps // 2)
    rest = steps - fine
    coarse = [rest // (scales - 1) + (1 if i < rest % (scales - 1) else 0) for i in range(scales - 1)]
    return [max(1, c) for c in coarse] + [fine]


def init_image(prev: Optional[torch.Tensor], content: torch.Tensor, how: str,
               gen: torch.Generator) -> torch.Tensor:
    """The starting image: the previous (coarser) result upsampled, the content, or uniform noise."""
    if prev is not None:
        return F.interpolate(prev, size=content.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
    if how == "content":
        return content.clone()
    return torch.rand(content.shape, generator=gen)


def optimise(net: StyleNet, x: torch.Tensor, content: torch.Tensor, style: torch.Tensor,
             weights: Dict[str, float], steps: int, opts: Options, bar: tqdm,
             frames: List[Image.Image], every: int, final_size: tuple) -> "tuple[torch.Tensor, Dict[str, float]]":
    """Run ``steps`` optimiser steps on the pixels of x at one scale; returns the image and last losses."""
    with torch.no_grad(), _autocast(opts.bf16):
        c_feats = {k: v.float() for k, v in net.features(content).items() if k in net.content_layers}
        s_grams = grams({k: v for k, v in net.features(style).items() if k in net.style_layers})
    x = x.clone().requires_grad_(True)
    last: Dict[str, float] = {}

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        with _autocast(opts.bf16):
            feats = net.features(x)
        parts = {"content": content_loss(feats, c_feats, net.content_layers),
                 "style": style_loss(feats, s_grams, net.style_layers),
                 "tv": tv_loss(x)}
        total = sum(weights[k] * v for k, v in parts.items())
        total.backward()
        last.update({k: weights[k] * float(v.detach()) for k, v in parts.items()})
        return total

    opt = make_optimizer(opts.optimizer, x, net.adam_lr)
    for _ in range(steps):
        opt.step(closure)
        with torch.no_grad():
            x.clamp_(0, 1)  # keep pixels displayable; L-BFGS tolerates this small projection
        bar.update(1)
        bar.set_postfix(content=f"{last['content']:.3g}", style=f"{last['style']:.3g}",
                        tv=f"{last['tv']:.3g}", refresh=False)
        if every and bar.n % every == 0:
            frames.append(io.tensor_to_pil(x).resize(final_size, Image.BICUBIC))
    return x.detach(), last


def make_optimizer(name: str, x: torch.Tensor, adam_lr: float) -> torch.optim.Optimizer:
    """L-BFGS (one iteration per step, no line search: one forward/backward each) or Adam."""
    if name == "lbfgs":
        return torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=20)
    return torch.optim.Adam([x], lr=adam_lr)


def stylize(content: io.ImageLike, style: io.ImageLike, *, size: int = 256, steps: int = 150,
            content_weight: Optional[float] = None, style_weight: Optional[float] = None,
            tv_weight: Optional[float] = None, init: str = "content", optimizer: str = "lbfgs",
            backbone: Union[str, StyleNet] = "effnet-lite0", scales: int = 1, seed: int = 0,
            out: Optional[Union[str, Path]] = None, gif: bool = False, bf16: bool = True,
            progress: bool = True) -> Image.Image:
    """Repaint ``content`` in the manner of ``style`` (Gatys et al.) and return the result as a PIL image.

    content/style: a path, PIL image, uint8 array or [0, 1] tensor. ``size`` is the result's longer side.
    Weights left as None take the backbone's defaults. ``out`` writes the image; with ``gif`` also writes
    the intermediate frames to ``out`` with a .gif suffix.

    Example:
        >>> stylize("chelsea.png", "strokes.png", size=256, out="chelsea-strokes.png")
    """
    out_path = io.check_output_path(out) if out is not None else None
    if gif and out_path is None:
        raise GankitError("gif=True needs an output path (out=...) to write the GIF next to it")
    opts = Options(size=size, steps=steps, content_weight=content_weight, style_weight=style_weight,
                   tv_weight=tv_weight, init=init, optimizer=optimizer, scales=scales, seed=seed,
                   bf16=bf16, frames=40 if gif else 0)
    result = run(content, style, backbone, opts, progress)
    if out_path is not None:
        io.save_image(result.image, out_path)
        if gif:
            io.save_gif(result.frames + [result.image], out_path.with_suffix(".gif"))
    return result.image
