"""Line charts as inline SVG text: no plotting library, nothing fetched, crisp at any zoom.

Each chart shares the run's step axis, so the diagnoser's markers line up across charts.

Example:
    >>> svg = line_chart([Series("G", [(0, 1.2), (10, 0.9)])], x_max=10, title="losses")
    >>> svg.startswith("<svg")
    True
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]
MARKER_COLORS = {"remedy": "#2ca02c", "remedy_result": "#7f7f7f"}  # other kinds (findings): red
W, H = 560, 220
LEFT, RIGHT, TOP, BOTTOM = 58, 12, 26, 34


@dataclass
class Series:
    label: str
    points: List[Tuple[float, float]]
    smooth: bool = True          # draw a running mean, with the raw values faint behind it
    dots: bool = False           # a dot at every point (sparse curves: evaluations)


@dataclass
class Marker:
    step: float
    kind: str
    message: str
    number: int = 0              # the finding's number in the list under the charts
    extra: dict = field(default_factory=dict)


def smooth(values: Sequence[float], frac: float = 0.025) -> np.ndarray:
    """Centred running mean over ~frac of the points (at least 1; NaNs are skipped)."""
    v = np.asarray(values, dtype=float)
    k = max(1, int(round(len(v) * frac)))
    if k == 1:
        return v
    ok = np.isfinite(v)
    kernel = np.ones(2 * k + 1)
    num = np.convolve(np.where(ok, v, 0.0), kernel, mode="same")  # zero beyond the ends ...
    den = np.convolve(ok.astype(float), kernel, mode="same")      # ... so the ends average fewer points
    return np.where(den > 0, num / np.maximum(den, 1.0), np.nan)


def nice_ticks(lo: float, hi: float, n: int = 5) -> List[float]:
    """Round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10 * mag)
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 12) for i in range(int((hi - first) / step + 1e-9) + 1)]


def fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e5:
        return f"{v:.0e}"
    if a < 1e-3:
        return f"{v:.3g}"  # 0.0002, 0.00025: learning rates
    if a >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


def _y_range(series: Sequence[Series], y_range: Optional[Tuple[float, float]]) -> Tuple[float, float]:
    if y_range is not None:
        return y_range
    ys = np.array([y for s in series for _, y in s.points if math.isfinite(y)])
    if ys.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(ys, 0.5), np.percentile(ys, 99.5)  # a few spikes do not flatten the rest
    if hi - lo < 1e-12:  # a constant (a learning rate): +-50% of its value around it
        d = 0.5 * abs(lo) if lo != 0 else 0.5
        lo, hi = lo - d, hi + d
    pad = 0.05 * (hi - lo)
    return float(lo - pad), float(hi + pad)


def line_chart(series: Sequence[Series], x_max: float, title: str = "", markers: Sequence[Marker] = (),
               y_range: Optional[Tuple[float, float]] = None, y_label: str = "") -> str:
    """One chart: series against the step (0..x_max), with vertical event markers and a legend."""
    x_max = max(float(x_max), 1.0)
    y0, y1 = _y_range(series, y_range)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + pw * x / x_max

    def py(y: float) -> float:
        y = min(max(y, y0), y1)  # clipped to the plot: outliers sit on the edge
        return TOP + ph * (1 - (y - y0) / (y1 - y0))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
           f'role="img" aria-label="{html.escape(title)}">',
           f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="#fff" stroke="#ccc"/>',
           f'<text x="{LEFT}" y="16" class="ct">{html.escape(title)}</text>']
    for t in nice_ticks(y0, y1):
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="#eee"/>'
                   f'<text x="{LEFT - 4}" y="{py(t) + 4:.1f}" text-anchor="end" class="tk">{fmt(t)}</text>')
    for t in nice_ticks(0, x_max):
        out.append(f'<text x="{px(t):.1f}" y="{H - BOTTOM + 14}" text-anchor="middle" class="tk">{fmt(t)}</text>')
    out.append(f'<text x="{LEFT + pw / 2}" y="{H - 4}" text-anchor="middle" class="tk">step</text>')
    if y_label:
        out.append(f'<text x="12" y="{TOP + ph / 2}" transform="rotate(-90 12 {TOP + ph / 2})" '
                   f'text-anchor="middle" class="tk">{html.escape(y_label)}</text>')
    for m in markers:
        color = MARKER_COLORS.get(m.kind, "#d62728")
        out.append(f'<g class="mk"><title>step {int(m.step)} · {html.escape(m.kind)}: {html.escape(m.message)}'
                   f'</title><line x1="{px(m.step):.1f}" x2="{px(m.step):.1f}" y1="{TOP}" y2="{TOP + ph}" '
                   f'stroke="{color}" stroke-dasharray="4 3" stroke-width="1.5"/>'
                   f'<text x="{px(m.step) + 2:.1f}" y="{TOP + 10}" class="mn" fill="{color}">{m.number}</text></g>')
    legend_x = LEFT + pw
    for i, s in enumerate(series):
        color = COLORS[i % len(COLORS)]
        pts = [(x, y) for x, y in s.points if math.isfinite(y)]
        if not pts:
            continue
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        raw = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys))
        if s.smooth and len(pts) > 20:
            out.append(f'<polyline points="{raw}" fill="none" stroke="{color}" stroke-opacity="0.22" stroke-width="1"/>')
            sm = smooth(ys)
            line = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, sm) if math.isfinite(y))
            out.append(f'<polyline points="{line}" fill="none" stroke="{color}" stroke-width="1.8" class="series"/>')
        else:
            out.append(f'<polyline points="{raw}" fill="none" stroke="{color}" stroke-width="1.6" class="series"/>')
        if s.dots:
            out += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.6" fill="{color}"><title>step {int(x)}: '
                    f'{fmt(y)}</title></circle>' for x, y in pts]
        label = html.escape(s.label)
        legend_x -= 10 + 7 * len(s.label) + 14
        out.append(f'<rect x="{legend_x:.0f}" y="8" width="12" height="3" fill="{color}"/>'
                   f'<text x="{legend_x + 15:.0f}" y="13" class="lg">{label}</text>')
    out.append("</svg>")
    return "".join(out)
