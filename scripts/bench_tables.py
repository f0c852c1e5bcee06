"""Write docs/benchmarks/*.md from the benchmarks' results (benchmarks/results/*.json), so the figures in the docs
are the figures measured and cannot drift from them.

    python scripts/bench_tables.py            # rewrite docs/benchmarks/
    python scripts/bench_tables.py --check    # exit 1 when docs/benchmarks/ differs from what the JSON gives

A result file is one table: ``{"title", "machine", "command", "columns": [...], "rows": [[...], ...]}`` with
optional ``"date"``, ``"notes"`` (a paragraph under the table) and ``"page"`` (the docs/benchmarks/<page>.md it
belongs to; default: the file's own name). The benchmark scripts write them with ``benchmarks/record.py``;
figures measured before that were copied from the docs once, each with the machine it ran on.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
OUT = ROOT / "docs" / "benchmarks"
REQUIRED = ("title", "machine", "command", "columns", "rows")
HEADER = "<!-- written by scripts/bench_tables.py from benchmarks/results/*.json: edit those, not this file -->"


def load(path: Path) -> Dict[str, Any]:
    result = json.loads(path.read_text())
    missing = [k for k in REQUIRED if k not in result]
    if missing:
        raise SystemExit(f"{path}: missing {', '.join(missing)}")
    width = len(result["columns"])
    for row in result["rows"]:
        if len(row) != width:
            raise SystemExit(f"{path}: a row has {len(row)} cells for {width} columns: {row}")
    return result


def cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}".replace(",", " ")
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}".replace(",", " ")
    return "—" if v is None else str(v).replace("|", "\\|")


def table(result: Dict[str, Any]) -> List[str]:
    when = f", {result['date']}" if result.get("date") else ""
    lines = [f"## {result['title']}", "", f"Machine: {result['machine']}{when}. Command: `{result['command']}`.", "",
             "| " + " | ".join(result["columns"]) + " |", "|" + "---|" * len(result["columns"])]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in result["rows"]]
    if result.get("notes"):
        lines += ["", result["notes"]]
    return lines + [""]


def pages() -> Dict[str, str]:
    """{page name: markdown} from every result file, tables in file-name order."""
    grouped: Dict[str, List[Dict[str, Any]]] = defaultdict(list)
    for path in sorted(RESULTS.glob("*.json")):
        result = load(path)
        grouped[result.get("page", path.stem)].append(result)
    out = {}
    for page, results in grouped.items():
        lines = [HEADER, f"# Benchmarks: {page.replace('-', ' ')}", ""]
        for r in results:
            lines += table(r)
        out[f"{page}.md"] = "\n".join(lines)
    index = [HEADER, "# Benchmarks", "", "Measured figures, one table per result file in `benchmarks/results/`; "
             "each names the machine it ran on. The scripts are listed in benchmarks/README.md.", ""]
    index += [f"- [{p[:-3].replace('-', ' ')}]({p})" for p in sorted(out)]
    index += ["", "Logs kept as they were measured: [folder tuning](folder-tuning.md), [speed](speed-log.md)."]
    out["README.md"] = "\n".join(index) + "\n"
    return out


def generated() -> List[Path]:
    """The pages in docs/benchmarks/ this script wrote (hand-written logs there are left alone)."""
    return [p for p in OUT.glob("*.md") if p.read_text().startswith(HEADER)]


def main(argv: List[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="compare instead of writing")
    args = p.parse_args(argv)
    want = pages()
    if args.check:
        stale = sorted(n for n, text in want.items() if not (OUT / n).is_file() or (OUT / n).read_text() != text)
        stale += sorted(p.name for p in generated() if p.name not in want)
        if stale:
            print(f"docs/benchmarks differs from benchmarks/results for: {', '.join(stale)}; "
                  "run python scripts/bench_tables.py")
            return 1
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in want.items():
        (OUT / name).write_text(text)
    for old in generated():
        if old.name not in want:
            old.unlink()
    print(f"wrote {len(want)} pages to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
