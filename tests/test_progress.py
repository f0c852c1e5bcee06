"""The training progress display: a line every few per cent when stderr is not a terminal, and a time estimate
that follows the progressive growth schedule."""
import io

import pytest

from gankit.config import apply_overrides, load_config
from gankit.train import progressive
from gankit.train.progress import EVERY_PERCENT, Progress, StepClock, step_levels


def test_a_log_gets_a_line_every_few_percent_not_a_redrawn_bar():
    out = io.StringIO()
    bar = Progress(1000, 0, "mnist-quick", True, [0] * 1000, file=out, terminal=False)
    for _ in range(1000):
        bar.set_postfix(loss_d="0.693", loss_g="0.701")
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 100 // EVERY_PERCENT and len(out.getvalue()) < 3000
    assert lines[0].startswith("mnist-quick: step 50/1000 (5%)") and "loss_d=0.693" in lines[0]
    assert lines[-1].startswith("mnist-quick: step 1000/1000 (100%)") and "00:00 left" in lines[-1]


def test_a_resumed_run_counts_from_where_it_is_and_a_disabled_one_prints_nothing():
    out = io.StringIO()
    bar = Progress(100, 90, "r", True, [0] * 100, file=out, terminal=False)
    for _ in range(10):
        bar.update(1)
    assert [line.split(",")[0] for line in out.getvalue().splitlines()] == ["r: step 95/100 (95%)",
                                                                             "r: step 100/100 (100%)"]
    quiet = io.StringIO()
    bar = Progress(100, 0, "r", False, [0] * 100, file=quiet, terminal=False)
    bar.update(1)
    assert quiet.getvalue() == ""


def test_step_levels_follow_the_growth_schedule():
    cfg = apply_overrides(load_config("folder-64"), ["train.steps=3000"])
    levels = step_levels(cfg, 64, 3000)
    for step in (0, 1, 500, 1000, 1500, 2999):
        pos = progressive.position_for(cfg, 64, step * cfg.train.batch_size, progressive.lengths(cfg, 64, 3000))
        assert levels[step] == pos.level, step
    assert levels[0] < levels[-1] and levels == sorted(levels)
    assert set(step_levels(load_config("mnist-quick"), 28, 10)) == {0}


def test_the_estimate_charges_the_resolutions_still_to_come():
    clock = StepClock([1] * 10 + [2] * 10 + [3] * 10, 0)
    for step in range(1, 11):
        clock.tick(step, 0.1)                      # 8 px: 0.1 s a step
    naive = 20 * 0.1                               # what a rate over the steps so far would say
    first = clock.remaining(10)
    assert first == pytest.approx(10 * 0.4 + 10 * 1.6)      # 4x the pixels per doubling while one is measured
    for step in range(11, 21):
        clock.tick(step, 0.2)                      # 16 px turned out cheaper than 4x: a fixed cost dominates
    assert clock.remaining(20) == pytest.approx(10 * 0.6)   # the line through (64, 0.1) and (256, 0.2)
    assert first > naive
