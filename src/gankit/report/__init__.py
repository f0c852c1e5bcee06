"""A run explains itself: one self-contained HTML page per run directory (report.html).

The page holds what was run (preset, changed settings, torch, device, threads, precision, wall time, steps,
each resume), the loss, D-score, gradient-norm and learning-rate curves with the diagnoser's findings on the
same step axis, the evaluation curves and final metrics, a filmstrip of the fixed-noise pictures with a slider,
real and generated images side by side, a latent walk, and the memorisation panel when a run has one. Charts
are inline SVG, pictures data URIs, the script inline: the file opens from disk with no network.

Example:
    >>> from gankit.report import build_report
    >>> build_report("runs/ring")                      # runs/ring/report.html
    >>> build_report("runs/ring", out="ring.html")
"""
from __future__ import annotations

from .build import REPORT, build_report
from .hook import ReportHook

__all__ = ["REPORT", "build_report", "ReportHook"]
