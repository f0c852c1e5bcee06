"""``gankit eval`` / ``gankit fid`` results as a table a person reads: each number with what it means and which
direction is better (from the metrics' registered ``MetricInfo``), the sample counts and the feature network.
``--json`` prints the same result as one JSON line instead.

Example:
    >>> print(result_table({"fid_identity": 2.0, "n_a": 10, "n_b": 10, "a": "a.npy", "b": "b.npy",
    ...                     "features": "identity", "seconds": 0.1}))   # doctest: +SKIP
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

# Keys that describe the evaluation rather than measure the samples; shown in the heading.
BOOKKEEPING = {"run", "step", "n", "n_ref", "reference", "features", "seconds", "a", "b", "n_a", "n_b",
               "memorisation_png"}
ARROW = {"lower": "lower", "higher": "higher", "": "-"}


def number(v: Any) -> str:
    """A value at a readable precision: whole numbers as such, others to 4 significant digits."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int):
        return f"{v:,}".replace(",", " ")
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"
    if isinstance(v, list):
        shown = ", ".join(number(x) for x in v[:10])
        return f"[{shown}{', ...' if len(v) > 10 else ''}]"
    return str(v)


def _descriptions(features: str) -> Dict[str, Tuple[str, str]]:
    """key -> (meaning, better) for every output of every registered metric, with the extractor's name."""
    from ..metrics import METRICS
    out: Dict[str, Tuple[str, str]] = {}
    for name in METRICS.names():
        for o in METRICS.info(name).outputs:
            out[o.key_for(features)] = (o.meaning, o.better)
    return out


def _heading(result: Dict[str, Any]) -> List[str]:
    from ..metrics import EXTRACTORS
    lines = []
    if "run" in result:
        step = result.get("step")
        lines.append(f"run {result['run']}" + (f" at step {number(step)}" if step is not None else ""))
    if "n_a" in result:
        lines.append(f"{number(result['n_a'])} samples from {result['a']} against {number(result['n_b'])} "
                     f"from {result['b']}")
    elif "n" in result:
        ref = (f" against {number(result['n_ref'])} real from {result['reference']}"
               if "n_ref" in result else "")
        lines.append(f"{number(result['n'])} generated samples{ref}")
    feats = result.get("features")
    if feats:
        about = EXTRACTORS.get(feats).about if feats in EXTRACTORS else ""
        lines.append(f"features: {feats}" + (f" — {about}" if about else ""))
    return lines


def result_table(result: Dict[str, Any]) -> str:
    """The result as a heading, then one row per number: key, value (± its std), better, meaning."""
    described = _descriptions(str(result.get("features") or ""))
    rows: List[Tuple[str, str, str, str]] = []
    lists: List[str] = []                  # histograms: a line each below the table
    for key, v in result.items():
        if key in BOOKKEEPING or (key.endswith("_std") and key[:-4] in result):
            continue
        meaning, better = described.get(key, ("", ""))
        if isinstance(v, list):
            lists.append(f"{key}: {number(v)}" + (f"  ({meaning})" if meaning else ""))
            continue
        value = number(v) + (f" ± {number(result[key + '_std'])}" if key + "_std" in result else "")
        rows.append((key, value, ARROW[better], meaning))
    head = ("metric", "value", "better", "what it measures")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(3)]
    lines = _heading(result)
    lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths + [0])).rstrip())
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths + [0])).rstrip() for r in rows]
    lines += lists
    tail = _tail(result)
    return "\n".join(lines + ([tail] if tail else []))


def _tail(result: Dict[str, Any]) -> Optional[str]:
    parts = []
    if "memorisation_png" in result:
        parts.append(f"nearest training images: {result['memorisation_png']}")
    if "seconds" in result:
        parts.append(f"took {number(result['seconds'])} s")
    return "; ".join(parts) or None
