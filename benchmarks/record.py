"""Write a benchmark's table as benchmarks/results/<name>.json, the file scripts/bench_tables.py turns into
docs/benchmarks/. Each result names the machine it ran on (the CPU model and core count, read here).

    from record import save
    save("throughput", "Throughput: the lessons' loops against gankit", ["case", "img/s"], rows,
         command="python benchmarks/throughput.py --ablation")
"""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any, List, Optional, Sequence

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    """'AMD EPYC 9R14, 2 cores' from /proc/cpuinfo where there is one, else the platform's processor string."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model or platform.processor() or 'unknown CPU'}, {os.cpu_count()} cores"


def save(name: str, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], command: str,
         notes: str = "", page: Optional[str] = None, machine_name: Optional[str] = None) -> Path:
    """Write the table; returns its path. Then run ``python scripts/bench_tables.py``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {"title": title, "machine": machine_name or machine(), "date": time.strftime("%Y-%m-%d"),
           "command": command, "columns": list(columns), "rows": [list(r) for r in rows]}
    if notes:
        out["notes"] = notes
    if page:
        out["page"] = page
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    return path


__all__: List[str] = ["save", "machine"]
