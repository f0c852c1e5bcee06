"""Run a trained translator (pix2pix, model.task) on new images of any size: ``gankit apply``.

What each task takes:

* ``superres`` — the low-resolution images themselves: a 16x16 PNG comes out 64x64 (4x each side);
* ``inpaint`` — images with a mask PNG (``mask``; white = hole, the image's size);
* ``colorize`` — grey or colour images (colour is made grey first), coloured at their size.

G was trained on R x R squares (data.resolution). An input (after the 4x bicubic upscaling for superres) of
exactly R x R goes through as it is; one at least R on both sides is cut into overlapping R x R tiles whose
outputs are blended (a tent window); a smaller one, or one narrower than R on a side, is resized to R x R and
the output back (for inpainting the known pixels are then put back as they were). Each image's line says which.

Example:
    >>> results = apply_translator("runs/superres", ["small/"], "out/")   # out/<name>.png, out/before_after.png
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .data.folder import EXTENSIONS, list_images
from .data.pairs import SCALE, inpaint_input, luminance, upscale
from .errors import GankitError, file_in_the_way
from .metrics.restore import translate
from .models.traits import traits_of
from .run import load_run

SHEET = "before_after.png"
SHEET_ROW = 128          # the height of a row of the sheet (px)
MAX_OUTPUT_PIXELS = 4096 * 4096   # a larger output would take gigabytes and many minutes on a CPU: refused
TILE_CHUNK = 64                   # tiles cut and run at a time, so memory stays bounded for large images


@dataclass
class Applied:
    """One input and what became of it."""
    source: Path
    out: Path
    size_in: Tuple[int, int]       # (W, H)
    size_out: Tuple[int, int]
    how: str                       # "as is", "tiled (N tiles)", "resized ..."
    before: Image.Image            # what the sheet shows as the input
    after: Image.Image


def collect_inputs(inputs: Sequence[str]) -> List[Path]:
    """Image files named, and those under folders named (recursively); an error when none is found."""
    files: List[Path] = []
    for text in inputs:
        p = Path(text).expanduser()
        if p.is_dir():
            found = list_images(p)
            if not found:
                raise GankitError(f"{text} holds no images ({', '.join(sorted(EXTENSIONS))}); "
                                  "give image files or a folder of them")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise GankitError(f"{text} does not exist; give image files or folders")
    return files


def _read(path: Path, mode: str) -> Image.Image:
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert(mode)
    except (OSError, ValueError) as e:
        raise GankitError(f"{path} cannot be read as an image ({e})") from None


def _tensor(img: Image.Image) -> torch.Tensor:
    """PIL image -> (1, C, H, W) in [-1, 1]."""
    a = np.asarray(img, dtype=np.float32)
    a = a[..., None] if a.ndim == 2 else a
    return torch.from_numpy(a).permute(2, 0, 1)[None] / 127.5 - 1


def _pil(x: torch.Tensor) -> Image.Image:
    """(1, C, H, W) in [-1, 1] -> PIL (L or RGB)."""
    a = ((x[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a)


def _windows(length: int, size: int) -> List[int]:
    """Tile starts along one side: overlapping by a quarter, the last flush with the end."""
    if length <= size:
        return [0]
    step = max(1, size * 3 // 4)
    starts = list(range(0, length - size, step))
    return starts + [length - size]


def _tiled(G: torch.nn.Module, inp: torch.Tensor, size: int) -> Tuple[torch.Tensor, int]:
    """G over overlapping size x size tiles of inp (1, C_in, H, W), blended with a tent window."""
    h, w = inp.shape[-2:]
    ramp = torch.minimum(torch.arange(size) + 1.0, size - torch.arange(size).float()) / (size / 2)
    win = (ramp[:, None] * ramp[None, :]).clamp(max=1)            # (size, size)
    tiles = [(y, x) for y in _windows(h, size) for x in _windows(w, size)]
    acc: Optional[torch.Tensor] = None
    weight = torch.zeros(1, 1, h, w)
    for i in range(0, len(tiles), TILE_CHUNK):
        chunk = tiles[i:i + TILE_CHUNK]
        outs = translate(G, torch.cat([inp[..., y:y + size, x:x + size] for y, x in chunk]))
        if acc is None:
            acc = torch.zeros(1, outs.shape[1], h, w)
        for (y, x), o in zip(chunk, outs):
            acc[..., y:y + size, x:x + size] += o * win
            weight[..., y:y + size, x:x + size] += win
    assert acc is not None  # at least one tile
    return acc / weight, len(tiles)


def output_size(task: str, path: Path) -> Tuple[int, int]:
    """(W, H) of what ``task`` makes of the image at ``path``, read from its header (nothing decoded)."""
    try:
        with Image.open(path) as img:
            w, h = img.size
    except (OSError, ValueError) as e:
        raise GankitError(f"{path} cannot be read as an image ({e})") from None
    return (w * SCALE, h * SCALE) if task == "superres" else (w, h)


def check_sizes(task: str, files: Sequence[Path]) -> None:
    """Refuse, before anything is written, an input whose output would exceed MAX_OUTPUT_PIXELS."""
    for f in files:
        w, h = output_size(task, f)
        if w * h > MAX_OUTPUT_PIXELS:
            side = int(MAX_OUTPUT_PIXELS ** 0.5)
            raise GankitError(f"{f} would come out {w}x{h} px, more than {side}x{side} (gigabytes of memory and "
                              f"a long wait on a CPU); crop or shrink it first"
                              + (f" (superres makes each side {SCALE}x)" if task == "superres" else ""))


def run_any_size(G: torch.nn.Module, inp: torch.Tensor, size: int) -> Tuple[torch.Tensor, str]:
    """G's output for one input (1, C_in, H, W) of any size, and how it was run."""
    h, w = inp.shape[-2:]
    if (h, w) == (size, size):
        return translate(G, inp), "as is"
    if h >= size and w >= size:
        out, n = _tiled(G, inp, size)
        return out, f"tiled ({n} overlapping {size}x{size} tiles)"
    small = F.interpolate(inp, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    if getattr(G, "task", "") == "inpaint":  # the mask channel stays 0/1
        small[:, -1:] = (small[:, -1:] > 0.5).float()
    out = F.interpolate(translate(G, small), size=(h, w), mode="bicubic", align_corners=False).clamp(-1, 1)
    return out, f"resized {w}x{h} -> {size}x{size} and back"


def _prepare(task: str, path: Path, channels: int, mask: Optional[Image.Image]
             ) -> Tuple[torch.Tensor, Image.Image]:
    """(G's input at the output size, the picture of the input for the sheet)."""
    img = _tensor(_read(path, "RGB" if channels == 3 else "L"))
    if task == "superres":
        h, w = img.shape[-2:]
        return upscale(img, (h * SCALE, w * SCALE)), _read(path, "RGB").resize((w * SCALE, h * SCALE),
                                                                               Image.Resampling.NEAREST)
    if task == "colorize":
        grey = luminance(img)
        return grey, _pil(grey)
    assert mask is not None
    if mask.size != (img.shape[-1], img.shape[-2]):
        raise GankitError(f"the mask is {mask.size[0]}x{mask.size[1]} but {path.name} is "
                          f"{img.shape[-1]}x{img.shape[-2]}; give a mask of the image's size (white = hole)")
    m = torch.from_numpy((np.asarray(mask) > 127).astype(np.float32))[None, None]
    inp = inpaint_input(img, m)
    return inp, _pil(inp[:, :-1])


def _names(files: List[Path]) -> List[str]:
    """Output names: each input's name as a PNG, numbered when two inputs share one."""
    seen: dict = {}
    out = []
    for f in files:
        name = f"{f.stem}.png"
        k = seen.get(name, 0)
        seen[name] = k + 1
        out.append(name if k == 0 else f"{f.stem}-{k + 1}.png")
    return out


def _mask(path: Optional[str], task: str) -> Optional[Image.Image]:
    if task != "inpaint":
        if path:
            raise GankitError(f"--mask is for inpainting; this run's task is {task}")
        return None
    if not path:
        raise GankitError("an inpainting run needs --mask PNG (white = the hole to fill, the images' size)")
    p = Path(path).expanduser()
    if not p.is_file():
        raise GankitError(f"--mask {path} does not exist")
    return _read(p, "L")


def sheet(rows: List[Applied], path: Path) -> Path:
    """Before | after, one row per image, each scaled to SHEET_ROW px high (nearest, so pixels stay visible)."""
    pairs = []
    for r in rows:
        pair = [im.convert("RGB") for im in (r.before, r.after)]
        pairs.append([im.resize((max(1, im.width * SHEET_ROW // im.height), SHEET_ROW), Image.Resampling.NEAREST)
                      for im in pair])
    pad = 4
    width = max(a.width + b.width for a, b in pairs) + 3 * pad
    canvas = Image.new("RGB", (width, len(pairs) * (SHEET_ROW + pad) + pad), (255, 255, 255))
    for i, (a, b) in enumerate(pairs):
        y = pad + i * (SHEET_ROW + pad)
        canvas.paste(a, (pad, y))
        canvas.paste(b, (2 * pad + a.width, y))
    canvas.save(path)
    return path


def apply_translator(run_dir: str, inputs: Sequence[str], out: str, mask: Optional[str] = None,
                     step: Optional[int] = None, device: str = "cpu") -> List[Applied]:
    """Translate every input image (files and folders) with a trained run; writes OUT/<name>.png for each and
    OUT/before_after.png. Returns what was done with each."""
    run = load_run(run_dir, device=device, step=step)
    G = run.sampling_model()
    if not traits_of(G).translates:
        raise GankitError(f"{run_dir} is not an image-to-image run (it has no model.task); gankit apply runs "
                          "translators: train inpaint-64, superres-64 or colorize-64")
    task, size, channels = run.cfg.model.task, run.data_shape[-1], run.data_shape[0]
    files = collect_inputs(inputs)
    check_sizes(task, files)
    m = _mask(mask, task)
    out_dir = Path(out).expanduser()
    blocker = out_dir if out_dir.exists() and not out_dir.is_dir() else file_in_the_way(out_dir)
    if blocker is not None:
        raise GankitError(f"--out {out} cannot be a folder: {blocker} is a file; choose another --out DIR")
    out_dir.mkdir(parents=True, exist_ok=True)
    done = []
    for f, name in zip(files, _names(files)):
        inp, before = _prepare(task, f, channels, m)
        y, how = run_any_size(G, inp, size)
        if task == "inpaint":  # the known pixels exactly as given
            hole = inp[:, -1:]
            y = inp[:, :-1] * (1 - hole) + y * hole
        after = _pil(y)
        target = out_dir / name
        after.save(target)
        done.append(Applied(f, target, (before.width // (SCALE if task == "superres" else 1),
                                        before.height // (SCALE if task == "superres" else 1)),
                            after.size, how, before, after))
    sheet(done, out_dir / SHEET)
    return done
