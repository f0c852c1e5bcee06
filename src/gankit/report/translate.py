"""The report's section for an image-to-image run: gankit against the baseline on held-out images, and a
before/after sheet (input, baseline, gankit, original)."""
from __future__ import annotations

from typing import Any

from PIL import Image

from .. import viz
from ..errors import GankitError
from ..metrics.restore import comparison_rows, evaluate_translator, heldout_images
from . import images
from .page import esc, image, kv_table

REPORT_N = 64          # held-out images the report measures (gankit eval: all of them)


def restoration(run: Any) -> str:
    """HTML: the measures of gankit and the baseline on up to REPORT_N held-out images, and 8 of them before
    and after."""
    try:
        held, split = heldout_images(run.cfg)
        result = evaluate_translator(run, n=REPORT_N, held=(held, split))
    except GankitError as e:
        return f'<p class="note">No held-out comparison: {esc(e)}</p>'
    base = result["baseline_name"]
    rows = [(k, f"gankit {v:.4f} · {base} {result['baseline'][k]:.4f}") for k, v in result["gankit"].items()]
    note = (f'<p class="note">The first {result["n"]} {split} images, step {result["step"]:,}: PSNR in dB and '
            "SSIM (higher is closer to the original), chroma error on 0-255 (lower is closer); gankit eval "
            f"measures all of them. Rows below: the input, {esc(base)}, gankit, the original.</p>")
    rows_img = comparison_rows(run.cfg.model.task, run.sampling_model(), held[:8])
    grid = viz.grid(rows_img, nrow=4)
    grid = grid.resize((grid.width * 2, grid.height * 2), Image.Resampling.NEAREST) if held.shape[-1] <= 32 else grid
    return note + kv_table(rows) + image(images.data_uri(grid, 480), "before and after", 360, True)
