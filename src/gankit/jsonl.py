"""The JSONL logs a run appends to (metrics.jsonl, events.jsonl, ...), read back defensively.

A log may end in a row cut short by a hard kill, or hold lines a person wrote; readers get the rows that are
JSON objects whose ``step`` (when they have one) is a whole number >= 0, and nothing else.

Example:
    >>> parse_jsonl('{"step": 3, "loss_d": 0.7}\\n{"step": "abc"}\\n{"step": 4, "lo')
    [{'step': 3, 'loss_d': 0.7}]
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional


def parse_row(line: str) -> Optional[Dict[str, Any]]:
    """One line as a row, or None when it is not one (not JSON, not an object, a step that is not a count)."""
    try:
        row = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(row, dict):
        return None
    step = row.get("step", 0)
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        return None
    return row


def parse_jsonl(text: str) -> List[Dict[str, Any]]:
    """The rows of a JSONL text, one per line; lines that are not rows are skipped."""
    return [row for row in map(parse_row, text.splitlines()) if row is not None]


def read_jsonl(path: Path) -> List[Dict[str, Any]]:
    """The rows of a JSONL file ([] when there is none)."""
    path = Path(path)
    if not path.is_file():
        return []
    return parse_jsonl(path.read_text(encoding="utf-8", errors="replace"))
