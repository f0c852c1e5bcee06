"""The largest modules and functions of the package: ``python scripts/sizes.py [N]``."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

PKG = Path(__file__).parents[1] / "src" / "gankit"


def main(n: int = 5) -> None:
    files, funcs = [], []
    for path in sorted(PKG.rglob("*.py")):
        text = path.read_text()
        rel = path.relative_to(PKG.parent)
        files.append((len(text.splitlines()), str(rel)))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                funcs.append((node.end_lineno - node.lineno + 1, f"{rel}:{node.lineno} {node.name}"))
    print(f"{len(files)} modules; largest files (lines):")
    for size, name in sorted(files, reverse=True)[:n]:
        print(f"  {size:5d}  {name}")
    print("longest functions (lines):")
    for size, name in sorted(funcs, reverse=True)[:n]:
        print(f"  {size:5d}  {name}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
