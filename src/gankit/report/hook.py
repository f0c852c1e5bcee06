"""The report hook: records each session (start or resume) and writes report.html at the end of training and on
Ctrl-C."""
from __future__ import annotations

import time
from pathlib import Path

from ..reporter import Reporter
from ..rundir import RunDir
from ..train.context import TrainingContext
from ..train.hooks import Hook

_report = Reporter(__name__)


class ReportHook(Hook):
    """sessions.jsonl (a row at each start/resume and at each end) and report.html at the end
    (gankit.report.build_report); the gradient norms are in metrics.jsonl (grad_norm_g, grad_norm_d)."""

    def __init__(self) -> None:
        self.session = 0
        self.t0 = time.time()

    def on_start(self, ctx: TrainingContext) -> None:
        from .build import session_row
        run = RunDir(ctx.run_dir)
        self.t0 = time.time()
        if ctx.step == 0:  # a fresh start: what a run killed before its first checkpoint left goes
            run.log("sessions").unlink(missing_ok=True)
        self.session = sum(1 for r in run.read("sessions") if r.get("event") == "start")
        run.append("sessions", session_row(ctx, self.session))

    def on_end(self, ctx: TrainingContext) -> None:
        from .build import build_report
        run = Path(ctx.run_dir)
        RunDir(run).append("sessions", {"event": "end", "session": self.session, "step": ctx.step,
                                        "wall_s": round(time.time() - self.t0, 2),
                                        "interrupted": ctx.step < ctx.total_steps})
        try:
            path = build_report(run, data=ctx.data)
        except Exception as e:  # the run itself is saved; a report that fails must not hide that
            _report.warn(f"the report could not be written ({type(e).__name__}: {str(e)[:120]}); "
                         f"try: gankit report {run}")
            return
        _report.say(f"report: {path}", ctx.verbose)
