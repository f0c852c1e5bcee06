"""The default hooks of a run: sample pictures from fixed noise, and the GIF and curves at the end.

What a run draws and reports follows its dataset's descriptor: ``DatasetInfo.picture`` names one of the
``PICTURES`` below, ``DatasetInfo.report`` one of the end-of-run ``REPORTS``.
"""
from __future__ import annotations

from typing import Dict

import torch

from . import viz
from .data import dataset_info
from .registry import CALLABLE, Registry, subclass_of
from .reporter import Reporter
from .rundir import DENSITY, GIF, LOSSES, RunDir
from .train.context import TrainingContext
from .train.hooks import Hook

_report = Reporter(__name__)

# A picture is a function (ctx, path, title) that draws samples of the run into path.
PICTURES = Registry("sample picture", expects=CALLABLE)


@PICTURES.register("grid")
def _grid(ctx: TrainingContext, path, title: str) -> None:
    """Images: a grid from the fixed noise (a class-conditional run: one row per class)."""
    rows = ctx.class_rows(len(ctx.fixed_z))
    if rows is None:
        x, nrow = ctx.generate(len(ctx.fixed_z), z=ctx.fixed_z), None
    else:
        labels, nrow = rows
        z = ctx.fixed_z[torch.arange(len(labels)) % nrow]  # column j: the same noise in every row
        x = ctx.generate(len(labels), z=z, labels=labels)
    viz.save_grid(x, path, nrow=nrow, scale=2 if x.shape[-1] <= 32 else 1, caption=title)  # says its step


@PICTURES.register("density-1d")
def _density(ctx: TrainingContext, path, title: str) -> None:
    """All values of 5 000 samples as a density against the N(mean, std) target, with D's curve (lesson 002)."""
    from .report.fields import d_curve_1d
    target = ctx.data.target
    x = ctx.generate(5000, seed=ctx.cfg.train.seed + 1).numpy()
    curve = d_curve_1d(ctx, x) if getattr(ctx, "D", None) is not None else None
    viz.plot_1d(x, target["mean"], target["std"], path, title, d_curve=curve)


@PICTURES.register("scatter-2d")
def _scatter(ctx: TrainingContext, path, title: str) -> None:
    """2 000 points in the plane over the mode centres and D's decision map with G's gradient (GAN Lab's view)."""
    from .report.fields import d_field_2d
    modes = ctx.data.modes
    x = ctx.generate(2000, seed=ctx.cfg.train.seed + 1).numpy()
    span = float(modes.abs().max()) * 1.5 + 0.5 if modes is not None else float(abs(x).max()) * 1.1 + 0.5
    field = d_field_2d(ctx, x, span) if getattr(ctx, "D", None) is not None else None
    viz.plot_2d(x, path, None if modes is None else modes.numpy(), title, field=field)


def save_picture(ctx: TrainingContext, path, title: str = "") -> None:
    """A sample grid (images) or a density/scatter plot (toy data), as the dataset's descriptor says."""
    path.parent.mkdir(parents=True, exist_ok=True)
    PICTURES.get(dataset_info(ctx.cfg.data).picture)(ctx, path, title)


class SampleHook(Hook):
    """samples/step-XXXXXXX.png every `sample.every` steps, or once per epoch when it is 0."""

    def _save(self, ctx: TrainingContext) -> None:
        path = RunDir(ctx.run_dir).grid(ctx.step)
        save_picture(ctx, path, f"step {ctx.step} (epoch {ctx.epoch})")

    def on_start(self, ctx: TrainingContext) -> None:
        if ctx.step == 0:
            self._save(ctx)

    def on_step(self, ctx: TrainingContext, stats: Dict[str, float]) -> None:
        every = ctx.cfg.sample.every
        if every > 0 and ctx.step % every == 0:
            self._save(ctx)

    def on_epoch(self, ctx: TrainingContext) -> None:
        if ctx.cfg.sample.every <= 0:
            self._save(ctx)

    def on_end(self, ctx: TrainingContext) -> None:
        """Every run ends with a picture of its final state (also when stopped early, or shorter than an epoch)."""
        if not RunDir(ctx.run_dir).grid(ctx.step).is_file():
            self._save(ctx)


class SummaryHook(Hook):
    """At the end (or on interruption): progress.gif from the sample pictures and losses.png from metrics."""

    def on_end(self, ctx: TrainingContext) -> None:
        run = RunDir(ctx.run_dir)
        frames = [path for _, path in run.frames()]
        viz.make_gif(frames, run.file(GIF), ctx.cfg.sample.gif_frames)
        viz.plot_losses(run.log("metrics"), run.file(LOSSES), ctx.cfg.name)


# An end-of-run report is a Hook class, built without arguments when the dataset's descriptor names it.
REPORTS = Registry("end-of-run report", expects=subclass_of(Hook))


@REPORTS.register("normal-fit")
class ToyReportHook(Hook):
    """The 1-D lesson's verdict at the end: density plot, KS statistic and W1 distance on 10 000 samples."""

    def on_end(self, ctx: TrainingContext) -> None:
        from .metrics.onedim import normal_fit
        target = ctx.data.target
        x = ctx.generate(10000, seed=ctx.cfg.train.seed + 7).numpy().ravel()
        ks, w1 = normal_fit(x, target["mean"], target["std"])
        viz.plot_1d(x, target["mean"], target["std"], RunDir(ctx.run_dir).file(DENSITY),
                    f"step {ctx.step}: KS {ks:.4f}, W1 {w1:.4f}")
        ctx.log_row({"final/ks": ks, "final/w1": w1, "final/mean": float(x.mean()), "final/std": float(x.std())})
        _report.result(f"1-D fit on 10000 samples: KS {ks:.4f}, W1 {w1:.4f}, mean {x.mean():.3f}, "
                       f"std {x.std():.3f} (target {target['mean']:g}, {target['std']:g}); see density.png",
                       ctx.verbose)
