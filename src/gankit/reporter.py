"""gankit's lines for a person, through the standard ``logging`` module.

Every module reports through ``Reporter(__name__)``, a child of the ``"gankit"`` logger (``gankit.data.folder``,
``gankit.train.trainer``, ``gankit.metrics.hook``, ...). The ``"gankit"`` logger has one handler of its own, ``CONSOLE``: it
writes ``[gankit] <line>`` to stderr (status, warnings) or stdout (a result: the resume line, the growth plan,
the 1-D fit), looked up when the line is written, above a progress bar that is showing. The logger does not
propagate, so a program that configures logging sees each line once. A library user can

    >>> import logging
    >>> logging.getLogger("gankit").setLevel(logging.WARNING)      # only warnings
    >>> logging.getLogger("gankit.data").setLevel(logging.ERROR)   # nothing about data loading
    >>> logging.getLogger("gankit").removeHandler(CONSOLE)         # then add a handler of one's own

A line a caller asked not to see (``verbose=False``) is logged at DEBUG, so ``setLevel(logging.DEBUG)`` shows
every line. The progress bar (``train/progress.py``) is a separate channel, turned off by ``log.progress=false``.
"""
from __future__ import annotations

import logging
import sys

ROOT = "gankit"
STDOUT = "gankit_stdout"  # the attribute of a record that goes to stdout


class Console(logging.Handler):
    """``[gankit] <line>`` to the current sys.stderr (sys.stdout for a result), above any tqdm bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            stream = sys.stdout if getattr(record, STDOUT, False) else sys.stderr
            from tqdm import tqdm
            tqdm.write(line, file=stream)
            stream.flush()
        except Exception:  # a closed stream must not stop training
            self.handleError(record)


CONSOLE = Console()
CONSOLE.setFormatter(logging.Formatter("[gankit] %(message)s"))


def _install() -> None:
    root = logging.getLogger(ROOT)
    if not any(isinstance(h, Console) for h in root.handlers):
        root.addHandler(CONSOLE)
    if root.level == logging.NOTSET:  # a level the user set first stays
        root.setLevel(logging.INFO)
    root.propagate = False


_install()


class Reporter:
    """Lines of one module: ``Reporter(__name__)`` in gankit/data/idx.py logs to ``gankit.data.idx``.

    >>> Reporter("gankit.data.idx").say("mnist train: 60000 images")   # stderr: [gankit] mnist train: 60000 images
    """

    def __init__(self, name: str = ROOT) -> None:
        self.logger = logging.getLogger(name)

    def say(self, msg: str, verbose: bool = True) -> None:
        """A status line (stderr); DEBUG when the caller is not verbose."""
        self.logger.log(logging.INFO if verbose else logging.DEBUG, msg)

    def result(self, msg: str, verbose: bool = True) -> None:
        """A line about the result (stdout); DEBUG when the caller is not verbose."""
        self.logger.log(logging.INFO if verbose else logging.DEBUG, msg, extra={STDOUT: True})

    def warn(self, msg: str) -> None:
        """Something the user should know even when not verbose (stderr)."""
        self.logger.warning(msg)
