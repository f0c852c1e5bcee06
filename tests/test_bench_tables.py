"""docs/benchmarks/ is written from benchmarks/results/*.json: the two agree, and a changed figure shows."""
import importlib.util
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tables():
    spec = importlib.util.spec_from_file_location("bench_tables", ROOT / "scripts" / "bench_tables.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_docs_are_what_the_results_give():
    assert tables().main(["--check"]) == 0, "run python scripts/bench_tables.py"


def test_every_result_names_its_machine_and_command():
    for path in (ROOT / "benchmarks" / "results").glob("*.json"):
        result = json.loads(path.read_text())
        assert result["machine"].strip() and result["command"].strip(), path.name


def test_a_changed_figure_makes_the_docs_stale(tmp_path, monkeypatch):
    mod = tables()
    shutil.copytree(ROOT / "benchmarks" / "results", tmp_path / "results")
    shutil.copytree(ROOT / "docs" / "benchmarks", tmp_path / "docs")
    monkeypatch.setattr(mod, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(mod, "OUT", tmp_path / "docs")
    assert mod.main(["--check"]) == 0
    path = next((tmp_path / "results").glob("*.json"))
    result = json.loads(path.read_text())
    result["rows"][0][-1] = "changed"
    path.write_text(json.dumps(result))
    assert mod.main(["--check"]) == 1
    assert mod.main([]) == 0 and mod.main(["--check"]) == 0
    assert "changed" in (tmp_path / "docs" / f"{result.get('page', path.stem)}.md").read_text()
