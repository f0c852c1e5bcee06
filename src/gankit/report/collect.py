"""What a report says about a run, gathered from its directory through gankit.run (no checkpoint needed).

Example:
    >>> facts = collect("runs/ring")
    >>> facts.steps, [k for k, *_ in facts.changed]
    (8000, ['train.steps'])
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..config import RunConfig, config_diff, load_config
from ..errors import GankitError
from ..run import read_config, read_logs, sample_frames
from ..rundir import DENSITY, MEMORISATION, RunDir

# metrics.jsonl training keys -> what the charts call them
LOSS_KEYS = {"loss_g": "G", "loss_d": "D"}
SCORE_KEYS = {"d_real": "D(x)", "d_fake": "D(G(z))"}
GRAD_KEYS = {"grad_norm_g": "G", "grad_norm_d": "D"}
LR_KEYS = {"lr_g": "G", "lr_d": "D"}
EVAL_PREFIXES = ("eval/", "final/")


@dataclass
class RunFacts:
    run_dir: Path
    cfg: RunConfig
    preset: Optional[str]                               # the preset's name when the run started from one
    changed: List[Tuple[str, Any, Any]]                 # (key, preset value, run value)
    train_rows: List[Dict[str, Any]]
    eval_rows: List[Dict[str, Any]]
    events: List[Dict[str, Any]]
    sessions: List[Dict[str, Any]]                      # one per start or resume (report hook)
    frames: List[Tuple[int, Path]]
    steps: int
    wall_s: Optional[float]
    extra_images: Dict[str, Path] = field(default_factory=dict)  # e.g. memorisation.png, density.png

    @property
    def images_seen(self) -> int:
        """Real items D was shown: G steps x D steps per G step x batch."""
        t = self.cfg.train
        return self.steps * max(1, t.d_steps) * t.batch_size

    def series(self, keys: Dict[str, str]) -> Dict[str, List[Tuple[float, float]]]:
        """{label: [(step, value)]} for the keys present in the training rows (the gradient norms too)."""
        out = {}
        for key, label in keys.items():
            pts = [(float(r["step"]), float(r[key])) for r in self.train_rows if _number(r.get(key))]
            if pts:
                out[label] = pts
        return out

    def eval_series(self) -> Dict[str, List[Tuple[float, float]]]:
        """{metric: [(step, value)]} of the periodic evaluations (eval/* keys)."""
        out: Dict[str, List[Tuple[float, float]]] = {}
        for r in self.eval_rows:
            for k, v in r.items():
                if k.startswith("eval/") and _number(v):
                    out.setdefault(k[5:], []).append((float(r["step"]), float(v)))
        return out

    def final_metrics(self) -> Dict[str, Any]:
        """final/* values, else the last evaluation: {name: value} (numbers and short lists)."""
        finals = {k[6:]: v for r in self.eval_rows for k, v in r.items() if k.startswith("final/")}
        if finals:
            return finals
        evals = [r for r in self.eval_rows if any(k.startswith("eval/") for k in r)]
        if not evals:
            return {}
        last = evals[-1]
        return {f"{k[5:]} (step {last['step']})": v for k, v in last.items() if k.startswith("eval/")}


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def preset_changes(cfg: RunConfig) -> Tuple[Optional[str], List[Tuple[str, Any, Any]]]:
    """The preset a config came from (its name) and the settings that differ from it."""
    try:
        base = load_config(cfg.name)
    except GankitError:
        return None, []
    old, new = base.to_dict(), cfg.to_dict()
    changed = []
    for key in config_diff(old, new):
        if key in ("name", "description"):
            continue
        a, b = old, new
        for part in key.split("."):
            a, b = (a or {}).get(part), (b or {}).get(part)
        changed.append((key, a, b))
    return cfg.name, changed


def wall_time(sessions: List[Dict[str, Any]], train_rows: List[Dict[str, Any]]) -> Optional[float]:
    """Seconds of training over all sessions; a session cut off without its end row counts to its last log row."""
    if not sessions:
        times = [r["time"] for r in train_rows if _number(r.get("time"))]
        return max(times) if times else None
    total, starts = 0.0, [s for s in sessions if s.get("event") == "start"]
    for i, s in enumerate(starts):
        end = next((e for e in sessions if e.get("event") == "end" and e.get("session") == s.get("session")), None)
        if end is not None and _number(end.get("wall_s")):
            total += end["wall_s"]
            continue
        nxt = starts[i + 1]["step"] if i + 1 < len(starts) else math.inf
        times = [r["time"] for r in train_rows if s["step"] < r["step"] <= nxt and _number(r.get("time"))]
        total += max(times) if times else 0.0
    return total


def collect(run_dir: Path) -> RunFacts:
    """Everything the report shows that is written in the run directory."""
    run_dir = Path(run_dir)
    cfg = read_config(run_dir)
    logs = read_logs(run_dir)
    metrics = logs["metrics"]
    train_rows = [r for r in metrics if "loss_d" in r or "loss_g" in r]
    eval_rows = [r for r in metrics if any(k.startswith(EVAL_PREFIXES) for k in r)]
    frames = sample_frames(run_dir)
    steps = max([r.get("step", 0) for r in metrics] + [f[0] for f in frames] + [0])
    preset, changed = preset_changes(cfg)
    rd = RunDir(run_dir)
    extra = {name: rd.file(name) for name in (MEMORISATION, DENSITY) if rd.file(name).is_file()}
    return RunFacts(run_dir, cfg, preset, changed, train_rows, eval_rows, logs["events"], logs["sessions"],
                    frames, steps, wall_time(logs["sessions"], train_rows), extra)
