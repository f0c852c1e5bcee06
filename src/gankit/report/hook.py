"""The report hook: records each session (start or resume) and the gradient norms, and writes report.html at
the end of training and on Ctrl-C."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from ..run import LOGS, read_jsonl
from ..train.hooks import Hook


def grad_norm(model: Any) -> Optional[float]:
    """L2 norm over a module's gradients from its last update (None when it holds none)."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return None
    return float(torch.stack(torch._foreach_norm(grads)).float().norm())


def _append(path: Path, row: Dict[str, Any]) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


def _truncate(path: Path, step: int) -> None:
    """Drop gradient rows logged after the checkpoint a run resumes from (they will be logged again)."""
    if path.is_file():
        rows = [r for r in read_jsonl(path) if r.get("step", 0) <= step]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))


class ReportHook(Hook):
    """sessions.jsonl (a row at each start/resume and at each end), gradients.jsonl (G's and D's gradient
    norms at every log step) and report.html at the end (gankit.report.build_report)."""

    def __init__(self) -> None:
        self.session = 0
        self.t0 = time.time()

    def on_start(self, trainer: Any) -> None:
        from .build import session_row
        run = Path(trainer.run_dir)
        self.t0 = time.time()
        if trainer.step == 0:  # a fresh start: what a run killed before its first checkpoint left goes
            for name in ("sessions", "gradients"):
                (run / LOGS[name]).unlink(missing_ok=True)
        self.session = sum(1 for r in read_jsonl(run / LOGS["sessions"]) if r.get("event") == "start")
        _truncate(run / LOGS["gradients"], trainer.step)
        _append(run / LOGS["sessions"], session_row(trainer, self.session))

    def on_step(self, trainer: Any, stats: Dict[str, float]) -> None:
        if not stats:  # only at the steps a metrics row was written
            return
        row: Dict[str, Any] = {"step": trainer.step}
        for key, name in (("grad_norm_g", "G"), ("grad_norm_d", "D")):
            model = getattr(trainer, name, None)
            value = grad_norm(model) if model is not None else None
            if value is not None:
                row[key] = value
        if len(row) > 1:
            _append(Path(trainer.run_dir) / LOGS["gradients"], row)

    def on_end(self, trainer: Any) -> None:
        from .build import build_report
        run = Path(trainer.run_dir)
        _append(run / LOGS["sessions"], {"event": "end", "session": self.session, "step": trainer.step,
                                         "wall_s": round(time.time() - self.t0, 2),
                                         "interrupted": trainer.step < trainer.total_steps})
        try:
            path = build_report(run, data=trainer.data)
        except Exception as e:  # the run itself is saved; a report that fails must not hide that
            print(f"[gankit] the report could not be written ({type(e).__name__}: {str(e)[:120]}); "
                  f"try: gankit report {run}", file=sys.stderr, flush=True)
            return
        if trainer.verbose:
            print(f"[gankit] report: {path}", file=sys.stderr, flush=True)
