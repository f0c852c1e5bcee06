"""The run directory's format, in one place: where each file lives, how checkpoints and sample pictures are
named, how each JSONL log is appended and read, and what an unfinished start leaves behind.

    runs/<name>/
        config.json                 the resolved config (written at each start and resume)
        metrics.jsonl               one row per logged step; evaluations as eval/* keys
        events.jsonl                the diagnoser's findings and remedies
        sessions.jsonl              a row at each start/resume and each end (the report hook)
        checkpoints/latest.pt       the newest checkpoint (a copy, not a link)
        checkpoints/step-0001000.pt the last checkpoint.keep step files
        samples/step-0001000.png    a picture every sample.every steps
        progress.gif losses.png report.html density.png memorisation.png
        .lock                       held by the one process that trains the run

Every module that reads or writes a run directory goes through ``RunDir``; none spells a file name itself.

Example:
    >>> rd = RunDir("runs/ring")
    >>> rd.checkpoint(1000)
    PosixPath('runs/ring/checkpoints/step-0001000.pt')
    >>> rd.append("metrics", {"step": 1000, "loss_d": 0.69})
    >>> rd.read("metrics")[-1]["loss_d"]
    0.69
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Tuple, Union

from .jsonl import parse_row, read_jsonl

CONFIG = "config.json"
# The JSONL logs (each optional): the loop and evaluation append to metrics, the diagnoser to events, the report
# hook to sessions.
LOGS = {"metrics": "metrics.jsonl", "events": "events.jsonl", "sessions": "sessions.jsonl"}
CHECKPOINTS, SAMPLES = "checkpoints", "samples"
LATEST = "latest.pt"
LOCK = ".lock"
REPORT, GIF, LOSSES = "report.html", "progress.gif", "losses.png"
DENSITY, MEMORISATION = "density.png", "memorisation.png"
# What training and evaluation write at the top of a run directory: a sample or walk never goes over them.
OWN_FILES = (CONFIG, *LOGS.values(), GIF, LOSSES, REPORT, DENSITY, MEMORISATION)


def step_name(step: int, suffix: str) -> str:
    """step-0001000.pt / step-0001000.png: seven digits, so names sort by step."""
    return f"step-{step:07d}{suffix}"


def step_of(path: Path) -> int:
    """The step in a step-XXXXXXX name; -1 when the name is not one."""
    _, _, digits = path.stem.partition("-")
    return int(digits) if path.stem.startswith("step-") and digits.isdigit() else -1


class RunDir:
    """One run directory: its paths, its logs, its checkpoint and sample names, and its unfinished state."""

    def __init__(self, path: Union[str, Path]):
        self.path = Path(path)

    def __fspath__(self) -> str:
        return str(self.path)

    # ---- paths ---------------------------------------------------------------------------------------------
    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def latest(self) -> Path:
        return self.checkpoints / LATEST

    @property
    def samples(self) -> Path:
        return self.path / SAMPLES

    @property
    def lock(self) -> Path:
        return self.path / LOCK

    def file(self, name: str) -> Path:
        """One of the run's other files by name (REPORT, GIF, LOSSES, DENSITY, MEMORISATION)."""
        return self.path / name

    def is_run(self) -> bool:
        """A gankit run directory: it holds config.json."""
        return self.config.is_file()

    # ---- checkpoints and sample pictures -------------------------------------------------------------------
    def checkpoint(self, step: int) -> Path:
        return self.checkpoints / step_name(step, ".pt")

    def step_checkpoints(self) -> List[Path]:
        """The kept step files, oldest first."""
        return sorted(p for p in self.checkpoints.glob("step-*.pt") if step_of(p) >= 0)

    def kept_steps(self) -> List[int]:
        return [step_of(p) for p in self.step_checkpoints()]

    def grid(self, step: int) -> Path:
        return self.samples / step_name(step, ".png")

    def frames(self) -> List[Tuple[int, Path]]:
        """(step, path) of the sample pictures, by step."""
        return sorted((step_of(p), p) for p in self.samples.glob("step-*.png") if step_of(p) >= 0)

    # ---- logs ----------------------------------------------------------------------------------------------
    def log(self, name: str) -> Path:
        return self.path / LOGS[name]

    def append(self, name: str, row: Dict[str, Any]) -> None:
        """One JSON row at the end of a log."""
        with open(self.log(name), "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")

    def read(self, name: str) -> List[Dict[str, Any]]:
        """A log's rows (see jsonl.py: rows cut short or malformed are skipped); [] when there is none."""
        return read_jsonl(self.log(name))

    def truncate_logs(self, step: int) -> None:
        """Drop the rows logged after ``step`` (a resume logs them again) and rows that are not rows."""
        for name in ("metrics", "events"):
            path = self.log(name)
            if not path.is_file():
                continue
            keep = []
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                row = parse_row(line)
                if row is not None and row.get("step", 0) <= step:
                    keep.append(line)
            path.write_text("".join(k + "\n" for k in keep), encoding="utf-8")

    # ---- what an unfinished start leaves -------------------------------------------------------------------
    def has_checkpoints(self) -> bool:
        return self.latest.exists() or bool(self.step_checkpoints())

    def unfinished_files(self) -> List[Path]:
        """The logs and sample pictures a start killed before its first checkpoint leaves (what a fresh start of
        the same run clears; whether it is the same run is the caller's question)."""
        if self.has_checkpoints():
            return []
        logs = [self.log(name) for name in LOGS if self.log(name).is_file()]
        return logs + [p for _, p in self.frames()]

    def clear_unfinished(self) -> None:
        for path in self.unfinished_files():
            path.unlink(missing_ok=True)

    def owns(self, path: Path) -> bool:
        """Whether writing ``path`` would go over the run's own files (its top-level files, samples/,
        checkpoints/)."""
        root, where = self.path.resolve(), Path(path).expanduser().resolve()
        if where.parent == root and where.name in OWN_FILES:
            return True
        return any(where == root / d or (root / d) in where.parents for d in (SAMPLES, CHECKPOINTS))
