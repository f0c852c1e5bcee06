"""The default hooks of a run: sample pictures from fixed noise, and the GIF and curves at the end."""
from __future__ import annotations

from typing import Any, Dict

from .data import ImageData
from .train.hooks import Hook
from . import viz


def save_picture(trainer: Any, path, title: str = "") -> None:
    """A sample grid (images) or a density/scatter plot (toy data) from the fixed noise."""
    data = trainer.data
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, ImageData):
        x = trainer.generate(len(trainer.fixed_z), z=trainer.fixed_z)
        viz.save_grid(x, path, scale=2 if x.shape[-1] <= 32 else 1)
    elif data.dim > 2 or data.name == "gaussian-1d":
        x = trainer.generate(5000, seed=trainer.cfg.train.seed + 1).numpy()
        viz.plot_1d(x, data.target["mean"], data.target["std"], path, title)
    else:
        x = trainer.generate(2000, seed=trainer.cfg.train.seed + 1).numpy()
        modes = None if data.modes is None else data.modes.numpy()
        viz.plot_2d(x, path, modes, title)


class SampleHook(Hook):
    """samples/step-XXXXXXX.png every `sample.every` steps, or once per epoch when it is 0."""

    def _save(self, trainer: Any) -> None:
        path = trainer.run_dir / "samples" / f"step-{trainer.step:07d}.png"
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


class SummaryHook(Hook):
    """At the end (or on interruption): progress.gif from the sample pictures and losses.png from metrics."""

    def on_end(self, trainer: Any) -> None:
        run = trainer.run_dir
        frames = sorted((run / "samples").glob("step-*.png"))
        viz.make_gif(frames, run / "progress.gif", trainer.cfg.sample.gif_frames)
        viz.plot_losses(run / "metrics.jsonl", run / "losses.png", trainer.cfg.name)


class ToyReportHook(Hook):
    """The 1-D lesson's verdict at the end: density plot, KS statistic and W1 distance on 10 000 samples."""

    def on_end(self, trainer: Any) -> None:
        from .metrics.onedim import normal_fit
        target = trainer.data.target
        x = trainer.generate(10000, seed=trainer.cfg.train.seed + 7).numpy().ravel()
        ks, w1 = normal_fit(x, target["mean"], target["std"])
        viz.plot_1d(x, target["mean"], target["std"], trainer.run_dir / "density.png",
                    f"step {trainer.step}: KS {ks:.4f}, W1 {w1:.4f}")
        trainer.log_row({"final/ks": ks, "final/w1": w1, "final/mean": float(x.mean()), "final/std": float(x.std())})
        if trainer.verbose:
            print(f"[gankit] 1-D fit on 10000 samples: KS {ks:.4f}, W1 {w1:.4f}, mean {x.mean():.3f}, "
                  f"std {x.std():.3f} (target {target['mean']:g}, {target['std']:g}); see density.png", flush=True)
