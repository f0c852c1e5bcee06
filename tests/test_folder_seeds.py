"""benchmarks/folder_seeds.py: what it reads from a run's logs — best and last KID, their ratio, the verdict."""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import folder_seeds  # noqa: E402


def _run(root: Path, kids, events=()) -> dict:
    run = root / "f-s0"
    (run / "samples").mkdir(parents=True)
    rows = [{"step": 100 * (i + 1), "time": 10.0 * (i + 1), "eval/kid_inception": k, "eval/swd": 50.0 + i}
            for i, k in enumerate(kids)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return {"folder": "f", "seed": 0, "dir": "f-s0"}


def test_an_improving_run_is_ok(tmp_path):
    r = folder_seeds.summarise(_run(tmp_path, [0.3, 0.2, 0.1]), tmp_path)
    assert (r["kid_best"], r["best_step"], r["kid_end"], r["ratio"]) == (0.1, 300, 0.1, 1.0)
    assert r["within"] and not r["collapsed"] and r["swd_end"] == 52.0
    assert folder_seeds.rows_of([r])[0][-1] == "ok"


def test_a_run_that_ends_far_above_its_best(tmp_path):
    r = folder_seeds.summarise(_run(tmp_path, [0.3, 0.1, 0.2]), tmp_path)
    assert r["ratio"] == 2.0 and not r["within"] and not r["collapsed"]
    assert folder_seeds.rows_of([r])[0][-1] == "ended > 1.5x best"
    r = folder_seeds.summarise(_run(tmp_path / "b", [0.3, 0.1, 0.35]), tmp_path / "b")
    assert r["collapsed"]                                            # > 3x its best


def test_a_late_collapse_finding_marks_the_run(tmp_path):
    events = [{"step": 290, "kind": "collapse", "message": "m"}, {"step": 50, "kind": "d_wins", "message": "m"}]
    r = folder_seeds.summarise(_run(tmp_path, [0.3, 0.2, 0.1], events), tmp_path)
    assert r["collapsed"] and r["findings"] == ["collapse@290", "d_wins@50"]


def test_a_run_without_evaluations_says_so(tmp_path):
    r = folder_seeds.summarise(_run(tmp_path, []), tmp_path)
    assert "kid_best" not in r and folder_seeds.rows_of([r])[0][-1] == "no evaluation"
