"""Periodic evaluation during training: a trainer hook.

The trainer adds ``EvalHook(cfg.eval)`` when ``eval.every > 0``. Every ``eval.every`` steps it draws
``eval.n`` samples with fixed noise (seed 0, EMA weights when present), computes ``eval.metrics`` (default:
by data, see ``default_metrics``) and logs them as ``eval/<metric>`` keys, which the plots show beside the
losses. Reference features are computed once at the start and cached on disk (the same cache ``gankit eval``
reads: a folder's features are extracted once for every n). At the start it says what each evaluation costs
(for Inception on a CPU), warns when ``eval.n`` is too small for a metric, and refuses an extractor that does
not fit the data.

Example (YAML preset):
    eval:
      every: 500
      metrics: [fid, is, classes]
      n: 2000
"""
from __future__ import annotations

from typing import Dict, Optional

from ..config import EvalConfig
from ..data import dataset_info, dataset_name
from ..reporter import Reporter
from ..train.context import TrainingContext
from ..train.hooks import Hook
from .api import scalar_metrics
from .defaults import default_metrics
from .evaluate import Evaluator, duration, reference_metrics
from .inception import PIP_PACKAGE, NetworkMissing
from .sources import from_array, from_data

_report = Reporter(__name__)


class EvalHook(Hook):
    """Computes ``cfg.metrics`` on ``ctx.generate(cfg.n)`` every ``cfg.every`` steps."""

    def __init__(self, cfg: EvalConfig, seed: int = 0):
        self.cfg = cfg
        self.seed = seed
        self.evaluator: Optional[Evaluator] = None
        self.last_step = -1
        self.off = False  # the feature network is missing: nothing is evaluated

    def on_start(self, ctx: TrainingContext) -> None:
        if self.cfg.every > ctx.total_steps:  # (a resume with more steps starts the hook again)
            if ctx.verbose:
                _report.say(f"eval every {self.cfg.every} steps: none within this run's {ctx.total_steps} steps, so the "
                    "reference is not prepared; score the run afterwards with gankit eval RUN (or --set eval.every=N)")
            return
        try:
            self._prepare(ctx)
        except NetworkMissing as e:  # an optional evaluator: training goes on without it
            self.off = True
            if ctx.verbose:
                _report.say(f"periodic evaluation is off: {str(e).split(';')[0]}; to turn it on, install it "
                    f"(pip install --no-deps {PIP_PACKAGE}) and resume, or score the run afterwards with "
                    "gankit eval RUN")

    def _prepare(self, ctx: TrainingContext) -> None:
        data_cfg = ctx.cfg.data
        info, name = dataset_info(data_cfg), dataset_name(data_cfg)
        names = list(self.cfg.metrics) or default_metrics(name, info.kind)
        real = None
        if reference_metrics(names) or info.kind == "vector":  # vectors: the modes and target live there
            real = from_data(ctx.data, data_cfg, self.cfg.n)  # the cache key includes a digest of the images
        ev = Evaluator(names, real, self.cfg.features, name, toy=ctx.data if info.kind == "vector" else None,
                       mirror=bool(data_cfg.mirror))
        self.evaluator = ev
        ev.prepare(self.cfg.n)          # an extractor that does not fit is an error now; the n warnings, once
        if ctx.verbose and self.cfg.every > 0:
            seconds = ev.feature_seconds(self.cfg.n) if ev.uses_features else None
            if seconds is not None:
                _report.say(f"eval every {self.cfg.every} steps: {', '.join(names)} on {self.cfg.n} samples, about "
                    f"{duration(seconds)} of {ev.features} features each")
        if real is not None and reference_metrics(names) and ev.uses_features:
            if ctx.verbose:
                line = ev.plan()        # the reference, once (the part already cached costs nothing)
                if line:
                    _report.say(f"reference for eval: {line}")
            ev.real_features()  # pay for the reference once, up front

    def on_step(self, ctx: TrainingContext, stats: Dict[str, float]) -> None:
        if (self.cfg.every > 0 and not self.off and ctx.step % self.cfg.every == 0
                and ctx.step != self.last_step):
            self.evaluate(ctx)

    def evaluate(self, ctx: TrainingContext) -> Dict[str, float]:
        """Evaluate now and log one row; returns the logged values."""
        if self.evaluator is None:
            self._prepare(ctx)
        assert self.evaluator is not None
        fake = from_array(ctx.generate(self.cfg.n, self.seed), "generated", self.evaluator.dataset)
        values = scalar_metrics(self.evaluator(fake))
        row = {f"eval/{k}": v for k, v in values.items()}  # log_row adds step, epoch, time
        ctx.log_row(row)
        self.last_step = ctx.step
        return values
