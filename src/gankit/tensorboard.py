"""TensorBoard logging (``--set log.tensorboard=true``; ``pip install gankit[tensorboard]``).

The hook mirrors what the run writes anyway — metrics.jsonl (gradient norms too), events.jsonl and the sample
pictures — into RUN_DIR/tensorboard, with tags grouped as the field names them: ``Loss/G``, ``Loss/D``,
``Scores/real`` (D(x)), ``Scores/fake`` (D(G(z))), ``Gradients/G``, ``Progress/lr_d``, ``Metrics/fid_mnist``,
``Final/ks``; the pictures under ``Samples`` and the diagnoser's findings as text under ``Diagnoser/<kind>``.
``tensorboard --logdir runs`` then shows every run side by side.

Example:
    $ gankit train ring-2d --set log.tensorboard=true --out runs/ring
    $ tensorboard --logdir runs
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
from PIL import Image

from .errors import GankitError
from .jsonl import parse_jsonl
from .rundir import LOGS, RunDir
from .train.context import TrainingContext
from .train.hooks import Hook

TB_DIR = "tensorboard"
TAGS = {"loss_g": "Loss/G", "loss_d": "Loss/D", "d_real": "Scores/real", "d_fake": "Scores/fake",
        "lr_g": "Progress/lr_g", "lr_d": "Progress/lr_d", "d_skipped": "Progress/d_skipped",
        "grad_norm_g": "Gradients/G", "grad_norm_d": "Gradients/D"}
PREFIXES = {"eval/": "Metrics/", "final/": "Final/"}
SKIP = ("step", "epoch", "time")


def tag_for(key: str) -> str:
    """The TensorBoard tag of a metrics.jsonl key: ``loss_g`` -> ``Loss/G``, ``eval/fid_mnist`` -> ``Metrics/fid_mnist``."""
    if key in TAGS:
        return TAGS[key]
    for prefix, group in PREFIXES.items():
        if key.startswith(prefix):
            return group + key[len(prefix):]
    return "Other/" + key


def require_tensorboard() -> None:
    if importlib.util.find_spec("tensorboard") is None:
        raise GankitError("log.tensorboard=true needs TensorBoard: pip install gankit[tensorboard] "
                          "(or pip install tensorboard)")


class _Tail:
    """New complete lines of a growing JSONL file since the last read."""

    def __init__(self, path: Path):
        self.path, self.pos = path, 0

    def skip_to_end(self) -> None:
        self.pos = self.path.stat().st_size if self.path.is_file() else 0

    def rows(self):
        if not self.path.is_file() or self.path.stat().st_size <= self.pos:
            return []
        with open(self.path, "rb") as f:
            f.seek(self.pos)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1  # a line still being written waits for the next read
        self.pos += end
        return parse_jsonl(chunk[:end].decode("utf-8", errors="replace"))


class TensorBoardHook(Hook):
    """Writes RUN_DIR/tensorboard event files while training (see the module docstring)."""

    def __init__(self) -> None:
        require_tensorboard()  # before any data is loaded: the mistake is reported at once
        self.writer: Optional[Any] = None
        self.tails: Dict[str, _Tail] = {}
        self._last_picture: Optional[Path] = None

    def on_start(self, ctx: TrainingContext) -> None:
        from torch.utils.tensorboard import SummaryWriter
        run = Path(ctx.run_dir)
        # purge_step: after a resume, TensorBoard hides what an earlier session logged past the checkpoint
        self.writer = SummaryWriter(str(run / TB_DIR), purge_step=ctx.step if ctx.step > 0 else None)
        self.tails = {name: _Tail(run / LOGS[name]) for name in ("metrics", "events")}
        for tail in self.tails.values():  # rows already on disk were mirrored by the session that wrote them
            tail.skip_to_end()
        self._picture(ctx)

    def on_step(self, ctx: TrainingContext, stats: Dict[str, float]) -> None:
        self._mirror()
        self._picture(ctx)

    def on_end(self, ctx: TrainingContext) -> None:
        if self.writer is None:
            return
        self._mirror()
        self._picture(ctx)
        self.writer.flush()
        self.writer.close()
        self.writer = None

    def _mirror(self) -> None:
        assert self.writer is not None
        for row in self.tails["metrics"].rows():
            step = int(row.get("step", 0))
            for key, value in row.items():
                if key not in SKIP and isinstance(value, (int, float)) and not isinstance(value, bool):
                    self.writer.add_scalar(tag_for(key), float(value), step)
        for row in self.tails["events"].rows():
            self.writer.add_text(f"Diagnoser/{row.get('kind', 'event')}", str(row.get("message", "")),
                                 int(row.get("step", 0)))

    def _picture(self, ctx: TrainingContext) -> None:
        """The sample picture of this step, if the sample hook just saved one."""
        assert self.writer is not None
        path = RunDir(ctx.run_dir).grid(ctx.step)
        if path.is_file() and self._last_picture != path:
            with Image.open(path) as im:
                arr = np.asarray(im.convert("RGB"))  # (H, W, 3) uint8
            self.writer.add_image("Samples", arr, ctx.step, dataformats="HWC")
            self._last_picture = path
