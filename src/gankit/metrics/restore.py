"""How close a translator's outputs are to the originals: PSNR, SSIM and colour error, for gankit and for the
task's obvious baseline (bicubic upscaling; the hole filled by blurring its border in; the grey image), on the
held-out images of the run's data (``data.holdout``: a split the training never saw).

All measures take images in [-1, 1] and compare them on [0, 1]:

* PSNR = 10 log10(1 / MSE) per image, averaged over images (dB; higher is closer); for inpainting also inside
  the hole only (``psnr_hole``), where all the work is;
* SSIM (Wang et al. 2004): an 11x11 Gaussian window (sigma 1.5), C1 = 0.01^2, C2 = 0.03^2, valid positions
  only, per channel, averaged;
* chroma error: the mean absolute difference of the Cb and Cr channels (ITU-R 601, 0-255 scale), the colour
  that the luminance does not say (colourisation);
* on request (``features``: an extractor's name), KID of the outputs: the kernel distance of the outputs'
  features to the originals' (``fid.kid``), for gankit and the baseline; it asks whether the outputs look like
  the images, where PSNR and SSIM ask whether they are the same images.

Example:
    >>> result = evaluate_translator(load_run("runs/superres"))
    >>> result["gankit"]["psnr"], result["baseline"]["psnr"]
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn.functional as F

from ..data import load_data
from ..data.pairs import baseline, make_inputs
from ..errors import GankitError
from ..models.traits import traits_of
from .features import Extractor, extract, get_extractor
from .fid import kid
from .sources import to_uint8

BASELINES = {"superres": "bicubic", "inpaint": "blur fill", "colorize": "grey"}
EVAL_SEED = 7          # the holes of the evaluation: the same for every run


def _unit(x: torch.Tensor) -> torch.Tensor:
    return ((x.float().clamp(-1, 1) + 1) / 2)


def psnr(x: torch.Tensor, ref: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """(B,) PSNR in dB of images x against ref (both (B, C, H, W) in [-1, 1]); ``mask`` (B, 1, H, W): only there."""
    err = (_unit(x) - _unit(ref)) ** 2
    if mask is None:
        mse = err.flatten(1).mean(1)
    else:
        m = mask.float().expand_as(err)
        mse = (err * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp(min=1)
    return 10 * torch.log10(1 / mse.clamp(min=1e-10))


def _gauss(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-t ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def ssim(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """(B,) SSIM of images x against ref (both (B, C, H, W) in [-1, 1], at least 11x11)."""
    a, b = _unit(x).double(), _unit(ref).double()
    c = a.shape[1]
    g = _gauss()
    w = (g[:, None] * g[None, :]).expand(c, 1, 11, 11).contiguous()
    blur = lambda t: F.conv2d(t, w, groups=c)  # noqa: E731  (valid positions only)
    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b = blur(a * a) - mu_a ** 2, blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(1).float()


def chroma_error(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """(B,) mean |dCb| and |dCr| on the 0-255 scale (0 for one-channel images)."""
    if x.shape[1] != 3:
        return torch.zeros(x.shape[0])
    m = torch.tensor([[-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype=torch.float32)
    cx = torch.einsum("kc,bchw->bkhw", m, _unit(x) * 255)
    cr = torch.einsum("kc,bchw->bkhw", m, _unit(ref) * 255)
    return (cx - cr).abs().flatten(1).mean(1)


def scores(task: str, out: torch.Tensor, ref: torch.Tensor, inp: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Per-image measures of ``out`` against ``ref`` (inp: the translator's input, for the hole)."""
    s = {"psnr": psnr(out, ref), "ssim": ssim(out, ref)}
    if task == "inpaint":
        s["psnr_hole"] = psnr(out, ref, inp[:, -1:])
    if task == "colorize":
        s["chroma_error"] = chroma_error(out, ref)
    return s


@torch.no_grad()
def translate(G: torch.nn.Module, inp: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """G's outputs for inputs (N, C_in, H, W), batch at a time, in eval mode, float32 on the CPU, clamped."""
    was = G.training
    G.eval()
    dev = next(G.parameters()).device
    try:
        out = [G(inp[i:i + batch].to(dev)).float().cpu() for i in range(0, len(inp), batch)]
    finally:
        G.train(was)
    return torch.cat(out).clamp(-1, 1)


def output_kid(extractor: Extractor, images: torch.Tensor, **outputs: torch.Tensor) -> Dict[str, float]:
    """KID (the mean over subsets) of each set of ``outputs`` (N, C, H, W) in [-1, 1] to the originals
    ``images``, on the extractor's features of the images rounded to uint8 (as written to PNG)."""
    if len(images) < 2:
        raise GankitError(f"KID of the outputs needs at least 2 held-out images, got {len(images)}; "
                          "raise data.holdout or leave out --metrics kid")
    real = extract(extractor, to_uint8(images))["features"]
    return {name: round(kid(real, extract(extractor, to_uint8(x))["features"])[0], 6)
            for name, x in outputs.items()}


def compare(task: str, G: torch.nn.Module, images: torch.Tensor, seed: int = EVAL_SEED,
            extractor: Optional[Extractor] = None) -> Dict[str, Any]:
    """gankit and the baseline on target images (N, C, H, W) in [-1, 1]: the mean of each measure (and with
    ``extractor``, ``kid_<its name>`` of the outputs)."""
    inp = make_inputs(task, images, torch.Generator().manual_seed(seed))
    out = translate(G, inp)
    base = baseline(task, inp, images.shape[1]).clamp(-1, 1)
    mean = lambda d: {k: round(float(v.mean()), 4) for k, v in d.items()}  # noqa: E731
    result: Dict[str, Any] = {"task": task, "n": len(images), "baseline_name": BASELINES[task],
              "gankit": mean(scores(task, out, images, inp)), "baseline": mean(scores(task, base, images, inp))}
    if extractor is not None:
        k = output_kid(extractor, images, gankit=out, baseline=base)
        result["gankit"][f"kid_{extractor.name}"] = k["gankit"]
        result["baseline"][f"kid_{extractor.name}"] = k["baseline"]
    return result


def heldout_images(cfg: Any, verbose: bool = False) -> Tuple[torch.Tensor, str]:
    """The run's held-out images (N, C, H, W) in [-1, 1] and which split they are: "held-out", or "training"
    for a run that held none out (data.holdout=0)."""
    data = load_data(cfg.data, verbose)
    held = getattr(data, "heldout", None)
    if held is not None and len(held):
        return held.float().div(127.5).sub(1.0), "held-out"
    return data.images.float().div(127.5).sub(1.0), "training"


def evaluate_translator(run: Any, n: int = 0, append: bool = False, verbose: bool = False,
                        held: Optional[Tuple[torch.Tensor, str]] = None, features: str = "") -> Dict[str, Any]:
    """PSNR/SSIM (and the hole's PSNR, the chroma error) of a translator run and of the baseline on its held-out
    images (the first ``n``; 0 = all; ``held``: them and their split when the caller has loaded them), and with
    ``features`` (an extractor's name) KID of the outputs; with ``append``, one ``eval/*`` row in
    RUN_DIR/metrics.jsonl."""
    if not traits_of(run.G).translates:
        raise GankitError(f"{run.run_dir} is not an image-to-image run (model.task); use gankit eval's "
                          "sample metrics for it")
    images, split = held if held is not None else heldout_images(run.cfg, verbose)
    images = images[:n] if n > 0 else images
    ext = get_extractor(features, device="cpu") if features else None
    result = {**compare(run.cfg.model.task, run.sampling_model(), images, extractor=ext), "split": split,
              "step": run.step}
    if append:
        row = {f"eval/{k}": v for k, v in result["gankit"].items()}
        row.update({f"eval/{k}_{result['baseline_name'].replace(' ', '_')}": v
                    for k, v in result["baseline"].items()})
        with open(Path(run.run_dir) / "metrics.jsonl", "a") as f:
            f.write(json.dumps({"step": run.step, **row, "eval/split": split, "eval/n": result["n"]}) + "\n")
    return result


@torch.no_grad()
def comparison_rows(task: str, G: torch.nn.Module, images: torch.Tensor, seed: int = EVAL_SEED) -> torch.Tensor:
    """(4 N, 3, H, W) in [-1, 1], one row per image: the input as a picture, the baseline, gankit, the original
    (for a before/after sheet: ``viz.save_grid(rows, path, nrow=4)``)."""
    inp = make_inputs(task, images, torch.Generator().manual_seed(seed))
    out = translate(G, inp)
    base = baseline(task, inp, images.shape[1]).clamp(-1, 1)
    shown = inp[:, :-1] if task == "inpaint" else inp
    if task == "inpaint":  # the hole drawn in magenta so it shows on any image
        hole = inp[:, -1:].bool()
        paint = torch.tensor([1.0, -1.0, 1.0][:images.shape[1]]).view(1, -1, 1, 1)
        shown = torch.where(hole, paint.expand_as(shown), shown)
    shown = shown.expand(-1, images.shape[1], -1, -1)
    return torch.stack([shown, base, out, images], 1).flatten(0, 1)
