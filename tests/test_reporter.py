"""gankit reports through logging ("gankit" and its children): a library user can silence or redirect it, and
the CLI's lines stay where they were (status on stderr, results such as the resume line on stdout)."""
import logging

import pytest

from gankit import api
from gankit.cli import main
from gankit.reporter import CONSOLE

SMALL = ["log.progress=false", "sample.every=0", "train.batch_size=16", "train.threads=1", "model.g_hidden=[16]",
         "model.d_hidden=[16]", "train.steps=2"]


@pytest.fixture
def gankit_logger():
    logger = logging.getLogger("gankit")
    level, handlers = logger.level, list(logger.handlers)
    yield logger
    logger.setLevel(level)
    logger.handlers[:] = handlers


def _train(tiny_mnist, out, resume=False, steps=2):
    args = [*SMALL, f"data.root={tiny_mnist}", f"train.steps={steps}"]
    return api.train(str(out) if resume else "mnist-mlp", args, out=None if resume else str(out), resume=resume)


def test_a_silenced_gankit_logger_silences_training_and_resuming(tiny_mnist, tmp_path, capsys, gankit_logger):
    _train(tiny_mnist, tmp_path / "loud")
    said = capsys.readouterr()
    assert "[gankit] mnist train: 64 images from" in said.err  # the library speaks by default
    gankit_logger.setLevel(logging.WARNING)
    run = _train(tiny_mnist, tmp_path / "r")
    _train(tiny_mnist, run, resume=True, steps=3)
    said = capsys.readouterr()
    assert "[gankit]" not in said.out + said.err
    gankit_logger.setLevel(logging.DEBUG)  # DEBUG also shows what a caller asked not to see (verbose=False)
    api.train(str(run), [*SMALL, f"data.root={tiny_mnist}", "train.steps=4"], resume=True, verbose=False)
    assert "[gankit] resuming" in capsys.readouterr().out


def test_a_handler_of_ones_own_gets_the_lines_with_their_modules(tiny_mnist, tmp_path, capsys, gankit_logger):
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    gankit_logger.removeHandler(CONSOLE)
    gankit_logger.addHandler(Keep())
    run = _train(tiny_mnist, tmp_path / "r")
    _train(tiny_mnist, run, resume=True, steps=3)
    said = capsys.readouterr()
    assert "[gankit]" not in said.out + said.err
    by_name = {r.name: r.getMessage() for r in records}
    assert by_name["gankit.data.idx"].startswith("mnist train: 64 images from")
    assert by_name["gankit.api"] == f"resuming {run} at step 2/3"


def test_the_cli_keeps_status_on_stderr_and_results_on_stdout(tiny_mnist, tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["train", "mnist-mlp", "--out", str(run), "--set", *SMALL, f"data.root={tiny_mnist}"]) == 0
    said = capsys.readouterr()
    assert said.out == f"run directory: {run}\n"
    assert said.err == f"[gankit] mnist train: 64 images from {tiny_mnist}\n[gankit] report: {run}/report.html\n"
    assert main(["train", str(run), "--resume", "--set", "train.steps=3"]) == 0
    said = capsys.readouterr()
    assert said.out == f"[gankit] resuming {run} at step 2/3\nrun directory: {run}\n"
    assert said.err == f"[gankit] mnist train: 64 images from {tiny_mnist}\n[gankit] report: {run}/report.html\n"
