"""The optimisation: repaint an image so its features match the content and its Gram matrices the style.

    >>> from gankit.style import stylize
    >>> img = stylize("cat.png", "painting.png", size=256)           # a PIL image
    >>> img = stylize(cat, painting, steps=100, out="cat-styled.png", gif=True)
"""
from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

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
Size = Tuple[int, int]


@dataclass
class Options:
    """Everything stylize() can be told; None means "the backbone's default"."""
    size: int = 256
    steps: int = 150
    content_weight: Optional[float] = None
    style_weight: Optional[float] = None
    tv_weight: Optional[float] = None
    init: str = "content"
    optimizer: Optional[str] = None
    scales: int = 2
    seed: int = 0
    bf16: Optional[bool] = None
    threads: Optional[int] = None   # None: auto_threads()
    frames: int = 0          # > 0: keep about this many intermediate frames (for a GIF)

    def check(self) -> None:
        """Raise GankitError naming the first bad value."""
        if self.size < 16:
            raise GankitError(f"--size must be at least 16 pixels, got {self.size}")
        if self.threads is not None and self.threads < 1:
            raise GankitError(f"--threads must be at least 1, got {self.threads}")
        if self.steps < 1:
            raise GankitError(f"--steps must be at least 1, got {self.steps}")
        if self.init not in INITS:
            raise GankitError(f"--init must be one of {', '.join(INITS)}, got {self.init!r}")
        if self.optimizer is not None and self.optimizer not in OPTIMIZERS:
            raise GankitError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if not 1 <= self.scales <= 4 or self.size >> (self.scales - 1) < 16:
            raise GankitError(f"--scales must be 1..4 and leave the coarsest scale at least 16 px "
                              f"(--size {self.size} allows up to {min(4, (self.size // 16).bit_length())})")
        for name in ("content_weight", "style_weight", "tv_weight"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise GankitError(f"--{name.replace('_', '-')} must be >= 0, got {value}")


@dataclass
class Result:
    """The stylised image, kept frames, the weighted losses of every evaluation (all scales, L-BFGS
    line-search trials included) and the seconds taken (network and image loading included)."""
    image: Image.Image
    frames: List[Image.Image] = field(default_factory=list)
    history: List[Dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def losses(self) -> Dict[str, float]:
        return self.history[-1]


@dataclass
class _Loop:
    """State shared by the scales of one run."""
    net: StyleNet
    weights: Dict[str, float]
    opts: Options
    bar: tqdm
    final_size: Size
    every: int
    result: Result


def _autocast(enabled: bool) -> contextlib.AbstractContextManager:
    return torch.autocast("cpu", dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


def auto_threads() -> int:
    """torch's thread count, lowered to the cores other jobs leave free (at least 1).

    Measured on a 2-core machine at load average ~15: 2 threads took 486 s for the 256 px default run,
    1 thread 46 s (probably threads spinning at barriers while their partner is descheduled).
    """
    n = torch.get_num_threads()
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):  # not available on this platform
        return n
    return max(1, min(n, int((os.cpu_count() or n) - busy + 0.5)))


def scale_sizes(wh: Size, size: int, scales: int) -> List[Size]:
    """(w, h) per scale, coarse to fine: the longer side halves at each coarser scale."""
    return [io.fit_size(wh, size >> (scales - 1 - i)) for i in range(scales)]


def split_steps(steps: int, scales: int) -> List[int]:
    """Steps per scale, coarse to fine: the finest scale gets half, coarser ones share the rest."""
    if scales == 1:
        return [steps]
    fine = max(1, steps // 2)
    rest = steps - fine
    coarse = [rest // (scales - 1) + (1 if i < rest % (scales - 1) else 0) for i in range(scales - 1)]
    return [max(1, c) for c in coarse] + [fine]


def run(content: io.ImageLike, style: io.ImageLike, backbone: Union[str, StyleNet] = "effnet-lite0",
        opts: Optional[Options] = None, progress: bool = True) -> Result:
    """Stylise content with style; the core of stylize(), returning frames and the loss history too."""
    t0 = time.perf_counter()  # the reported time includes loading the network and the images
    opts = opts or Options()
    opts.check()
    net = get_backbone(backbone)
    c_img = io.open_image(content, "content image")
    s_img = io.open_image(style, "style image")
    opts = replace(opts, optimizer=opts.optimizer or net.optimizer,
                   bf16=net.bf16 if opts.bf16 is None else opts.bf16)
    weights = {"content": net.content_weight if opts.content_weight is None else opts.content_weight,
               "style": net.style_weight if opts.style_weight is None else opts.style_weight,
               "tv": net.tv_weight if opts.tv_weight is None else opts.tv_weight}
    io.check_proportions(c_img, opts.size, "content image")
    io.check_proportions(s_img, opts.size, "style image")
    sizes, steps = scale_sizes(c_img.size, opts.size, opts.scales), split_steps(opts.steps, opts.scales)
    gen = torch.Generator().manual_seed(opts.seed)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(opts.threads or auto_threads())
    bar = tqdm(total=sum(steps), file=sys.stderr, disable=not progress, desc="stylize", dynamic_ncols=True)
    loop = _Loop(net, weights, opts, bar, sizes[-1], max(1, sum(steps) // opts.frames) if opts.frames else 0,
                 Result(c_img))
    x: Optional[torch.Tensor] = None
    try:
        for wh, n in zip(sizes, steps):
            target_c = io.pil_to_tensor(c_img, wh)  # (1, 3, h, w)
            target_s = io.pil_to_tensor(s_img, io.fit_size(s_img.size, max(wh)))
            x = optimise(loop, init_image(x, target_c, opts.init, gen), target_c, target_s, n)
    finally:
        bar.close()
        torch.set_num_threads(threads_before)
    assert x is not None
    loop.result.image, loop.result.seconds = io.tensor_to_pil(x), time.perf_counter() - t0
    return loop.result


def init_image(prev: Optional[torch.Tensor], content: torch.Tensor, how: str,
               gen: torch.Generator) -> torch.Tensor:
    """The starting image: the previous (coarser) result upsampled, the content, or uniform noise."""
    if prev is not None:
        return F.interpolate(prev, size=content.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
    if how == "content":
        return content.clone()
    return torch.rand(content.shape, generator=gen)


def targets(net: StyleNet, content: torch.Tensor, style: torch.Tensor,
            bf16: bool) -> "tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor]]":
    """Content features and style Gram matrices, computed once per scale."""
    with torch.no_grad(), _autocast(bf16):
        c_feats = {k: v.float() for k, v in net.features(content).items() if k in net.content_layers}
        s_grams = grams({k: v for k, v in net.features(style).items() if k in net.style_layers})
    return c_feats, s_grams


def loss_terms(net: StyleNet, x: torch.Tensor, c_feats: Dict[str, torch.Tensor],
               s_grams: Dict[str, torch.Tensor], bf16: bool = False) -> Dict[str, torch.Tensor]:
    """Unweighted content, style and total-variation losses of image x (1, 3, H, W)."""
    with _autocast(bf16):
        feats = net.features(x)
    return {"content": content_loss(feats, c_feats, net.content_layers),
            "style": style_loss(feats, s_grams, net.style_layers), "tv": tv_loss(x)}


def optimise(loop: _Loop, x: torch.Tensor, content: torch.Tensor, style: torch.Tensor,
             steps: int) -> torch.Tensor:
    """Spend ``steps`` loss evaluations (forward + backward) on the pixels of x at one scale."""
    net, weights, bf16 = loop.net, loop.weights, bool(loop.opts.bf16)
    c_feats, s_grams = targets(net, content, style, bf16)
    x = x.clone().requires_grad_(True)

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        parts = loss_terms(net, x, c_feats, s_grams, bf16)
        total = sum(weights[k] * v for k, v in parts.items())
        total.backward()
        record(loop, x, {k: weights[k] * float(v.detach()) for k, v in parts.items()})
        return total

    if loop.opts.optimizer == "lbfgs":
        # One call: each iteration costs one evaluation plus what the line search needs; no clamping on
        # the way (a projection would break L-BFGS's curvature history). Tolerances near zero: the budget
        # decides when to stop, and small loss scales must still move.
        opt: torch.optim.Optimizer = torch.optim.LBFGS(
            [x], lr=1.0, max_iter=steps, max_eval=steps, history_size=20, line_search_fn="strong_wolfe",
            tolerance_grad=1e-15, tolerance_change=1e-15)
        opt.step(closure)
    else:
        opt = torch.optim.Adam([x], lr=net.adam_lr)
        for _ in range(steps):
            opt.step(closure)
            with torch.no_grad():
                x.clamp_(0, 1)  # projected Adam: pixels stay displayable
    last = loop.result.history[-1]
    if not all(math.isfinite(v) for v in last.values()):
        raise GankitError(f"the optimisation diverged (losses {last}); lower --style-weight or use "
                          "--optimizer adam")
    return x.detach().clamp(0, 1)


def record(loop: _Loop, x: torch.Tensor, losses: Dict[str, float]) -> None:
    """After each evaluation: loss history, progress bar with the three losses, GIF frames."""
    loop.result.history.append(losses)
    loop.bar.update(1)
    loop.bar.set_postfix(content=f"{losses['content']:.3g}", style=f"{losses['style']:.3g}",
                         tv=f"{losses['tv']:.3g}", refresh=False)
    if loop.every and loop.bar.n % loop.every == 0:
        loop.result.frames.append(io.tensor_to_pil(x.detach()).resize(loop.final_size, Image.Resampling.BICUBIC))


def stylize(content: io.ImageLike, style: io.ImageLike, *, size: int = 256, steps: int = 150,
            content_weight: Optional[float] = None, style_weight: Optional[float] = None,
            tv_weight: Optional[float] = None, init: str = "content", optimizer: Optional[str] = None,
            backbone: Union[str, StyleNet] = "effnet-lite0", scales: int = 2, seed: int = 0,
            out: Optional[Union[str, Path]] = None, gif: bool = False, bf16: Optional[bool] = None,
            threads: Optional[int] = None, progress: bool = True) -> Image.Image:
    """Repaint ``content`` in the manner of ``style`` (Gatys et al.) and return the result as a PIL image.

    content/style: a path, PIL image, uint8 array or [0, 1] tensor. ``size`` is the result's longer side;
    ``scales`` > 1 optimises coarse-to-fine (half of the steps at full size). Weights, optimizer and bf16
    left as None take the backbone's defaults; ``threads`` sets torch's CPU threads for the run (None:
    the cores other jobs leave free, see auto_threads). ``out`` writes the image; ``gif`` also writes
    the intermediate frames next to it with a .gif suffix.

    Example:
        >>> stylize("chelsea.png", "strokes.png", size=256, out="chelsea-strokes.png")
    """
    out_path = io.check_output_path(out) if out is not None else None
    if gif and out_path is None:
        raise GankitError("gif=True needs an output path (out=...) to write the GIF next to it")
    opts = Options(size=size, steps=steps, content_weight=content_weight, style_weight=style_weight,
                   tv_weight=tv_weight, init=init, optimizer=optimizer, scales=scales, seed=seed,
                   bf16=bf16, threads=threads, frames=40 if gif else 0)
    result = run(content, style, backbone, opts, progress)
    if out_path is not None:
        io.save_image(result.image, out_path)
        if gif:
            io.save_gif(result.frames + [result.image], out_path.with_suffix(".gif"))
    return result.image
