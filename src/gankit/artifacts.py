"""The default hooks of a run: sample pictures from fixed noise, and the GIF and curves at the end.

What a run draws and reports follows its dataset's descriptor: ``DatasetInfo.picture`` names one of the
``PICTURES`` below, ``DatasetInfo.report`` one of the end-of-run ``REPORTS``.
"""
from __future__ import annotations

from typing import Any, Dict

import torch

from .data import dataset_info
from .registry import CALLABLE, Registry, subclass_of
from .rundir import DENSITY, GIF, LOSSES, RunDir
from .train.hooks import Hook
from . import viz
from .reporter import Reporter

_report = Reporter(__name__)

# A picture is a function (trainer, path, title) that draws samples of the run into path.
PICTURES = Registry("sample picture", expects=CALLABLE)


@PICTURES.register("grid")
def _grid(trainer: Any, path, title: str) -> None:
    """Images: a grid from the fixed noise (a class-conditional run: one row per class)."""
    rows = trainer.class_rows(len(trainer.fixed_z))
    if rows is None:
        x, nrow = trainer.generate(len(trainer.fixed_z), z=trainer.fixed_z), None
    else:
        labels, nrow = rows
        z = trainer.fixed_z[torch.arange(len(labels)) % nrow]  # column j: the same noise in every row
        x = trainer.generate(len(labels), z=z, labels=labels)
    viz.save_grid(x, path, nrow=nrow, scale=2 if x.shape[-1] <= 32 else 1, caption=title)  # says its step


@PICTURES.register("density-1d")
def _density(trainer: Any, path, title: str) -> None:
    """All values of 5 000 samples as a density against the N(mean, std) target, with D's curve (lesson 002)."""
    from .report.fields import d_curve_1d
    target = trainer.data.target
    x = trainer.generate(5000, seed=trainer.cfg.train.seed + 1).numpy()
    curve = d_curve_1d(trainer, x) if getattr(trainer, "D", None) is not None else None
    viz.plot_1d(x, target["mean"], target["std"], path, title, d_curve=curve)


@PICTURES.register("scatter-2d")
def _scatter(trainer: Any, path, title: str) -> None:
    """2 000 points in the plane over the mode centres and D's decision map with G's gradient (GAN Lab's view)."""
    from .report.fields import d_field_2d
    modes = trainer.data.modes
    x = trainer.generate(2000, seed=trainer.cfg.train.seed + 1).numpy()
    span = float(modes.abs().max()) * 1.5 + 0.5 if modes is not None else float(abs(x).max()) * 1.1 + 0.5
    field = d_field_2d(trainer, x, span) if getattr(trainer, "D", None) is not None else None
    viz.plot_2d(x, path, None if modes is None else modes.numpy(), title, field=field)


def save_picture(trainer: Any, path, title: str = "") -> None:
    """A sample grid (images) or a density/scatter plot (toy data), as the dataset's descriptor says."""
    path.parent.mkdir(parents=True, exist_ok=True)
    PICTURES.get(dataset_info(trainer.cfg.data).picture)(trainer, path, title)


class SampleHook(Hook):
    """samples/step-XXXXXXX.png every `sample.every` steps, or once per epoch when it is 0."""

    def _save(self, trainer: Any) -> None:
        path = RunDir(trainer.run_dir).grid(trainer.step)
        save_picture(trainer, path, f"step {trainer.step} (epoch {trainer.epoch})")

    def on_start(self, trainer: Any) -> None:
        if trainer.step == 0:
            self._save(trainer)

    def on_step(self, trainer: Any, stats: Dict[str, float]) -> None:
        every = trainer.cfg.sample.every
        if every > 0 and trainer.step % every == 0:
            self._save(trainer)

    def on_epoch(self, trainer: Any) -> None:
        if trainer.cfg.sample.every <= 0:
            self._save(trainer)

    def on_end(self, trainer: Any) -> None:
        """Every run ends with a picture of its final state (also when stopped early, or shorter than an epoch)."""
        if not RunDir(trainer.run_dir).grid(trainer.step).is_file():
            self._save(trainer)


class SummaryHook(Hook):
    """At the end (or on interruption): progress.gif from the sample pictures and losses.png from metrics."""

    def on_end(self, trainer: Any) -> None:
        run = RunDir(trainer.run_dir)
        frames = [path for _, path in run.frames()]
        viz.make_gif(frames, run.file(GIF), trainer.cfg.sample.gif_frames)
        viz.plot_losses(run.log("metrics"), run.file(LOSSES), trainer.cfg.name)


# An end-of-run report is a Hook class, built without arguments when the dataset's descriptor names it.
REPORTS = Registry("end-of-run report", expects=subclass_of(Hook))


@REPORTS.register("normal-fit")
class ToyReportHook(Hook):
    """The 1-D lesson's verdict at the end: density plot, KS statistic and W1 distance on 10 000 samples."""

    def on_end(self, trainer: Any) -> None:
        from .metrics.onedim import normal_fit
        target = trainer.data.target
        x = trainer.generate(10000, seed=trainer.cfg.train.seed + 7).numpy().ravel()
        ks, w1 = normal_fit(x, target["mean"], target["std"])
        viz.plot_1d(x, target["mean"], target["std"], RunDir(trainer.run_dir).file(DENSITY),
                    f"step {trainer.step}: KS {ks:.4f}, W1 {w1:.4f}")
        trainer.log_row({"final/ks": ks, "final/w1": w1, "final/mean": float(x.mean()), "final/std": float(x.std())})
        _report.result(f"1-D fit on 10000 samples: KS {ks:.4f}, W1 {w1:.4f}, mean {x.mean():.3f}, "
                       f"std {x.std():.3f} (target {target['mean']:g}, {target['std']:g}); see density.png",
                       trainer.verbose)
