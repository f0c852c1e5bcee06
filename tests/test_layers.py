"""The package's layers import downward only: no import cycles, imports inside functions included.

The graph is read from the source: every ``import`` / ``from … import`` statement of every module, at any depth
(inside functions too), except those under ``if TYPE_CHECKING:``, which never run. An edge goes to the module a
statement names (``from .base import X`` -> the package's ``base``; ``from . import X`` -> the package's
``__init__``, so a submodule that takes a name from its own package's ``__init__`` while that ``__init__``
imports it is a cycle). A second test imports every module in a fresh interpreter, in two different orders.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set

SRC = Path(__file__).parents[1] / "src"
PKG = SRC / "gankit"

# Layers from the ground up; a module may import its own layer and those before it.
LAYERS = [
    {"gankit.errors", "gankit.registry", "gankit.device", "gankit.jsonl", "gankit.rundir", "gankit.viz",
     "gankit.reporter"},
    {"gankit.config", "gankit.ranges"},
    {"gankit.data", "gankit.models"},
    {"gankit.train"},
    {"gankit.run"},
    {"gankit.metrics", "gankit.style"},
    {"gankit.diagnose"},
    {"gankit.artifacts", "gankit.report", "gankit.tensorboard", "gankit.walk", "gankit.apply", "gankit.export",
     "gankit.seeds", "gankit.project"},
    {"gankit.api"},
    {"gankit.bench"},
    {"gankit.cli", "gankit.__main__"},
]


def module_names() -> Dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _type_checking_lines(tree: ast.AST) -> Set[int]:
    skip: Set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                for n in ast.walk(sub):
                    if hasattr(n, "lineno"):
                        skip.add(n.lineno)
    return skip


def imports_of(name: str, path: Path, known: Dict[str, Path]) -> Set[str]:
    """gankit modules this module imports (resolved relative imports; `from pkg import sub` -> pkg.sub)."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_lines(tree)
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    found: Set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("gankit"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[:len(base) - node.level + 1]
                target = ".".join(anchor + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("gankit"):
                continue
            subs = {f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known}
            found.update(subs)
            if len(subs) < len(node.names):  # a name defined in the package's own module, not a submodule
                found.add(target)
    edges = set()
    for t in found:
        while t and t not in known:  # `from a.b import name`: the module a.b
            t = t.rpartition(".")[0]
        edges.add(t)
    edges.discard(name)
    edges.discard("gankit")  # the top package imports nothing at import time (its exports load lazily)
    return edges


def graph() -> Dict[str, Set[str]]:
    known = module_names()
    return {n: imports_of(n, p, known) for n, p in known.items()}


def cycles(g: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on: Set[str] = set()
    out: List[List[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def layer_of(name: str) -> int:
    for i, layer in enumerate(LAYERS):
        if any(name == m or name.startswith(m + ".") for m in layer):
            return i
    raise AssertionError(f"{name} is in no layer: add it to LAYERS in tests/test_layers.py and docs/architecture.md")


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_layers_import_downward_only():
    bad = [f"{a} -> {b}" for a, deps in graph().items() if a != "gankit" for b in deps
           if layer_of(b) > layer_of(a)]
    assert bad == []


def test_the_checker_sees_a_cycle_inside_a_function(tmp_path):
    g = {"gankit.a": {"gankit.b"}, "gankit.b": {"gankit.a"}, "gankit.c": set()}
    assert cycles(g) == [["gankit.a", "gankit.b"]]
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from .trainer import Trainer\n")
    known = {"gankit.train.loop": src, "gankit.train.trainer": src, "gankit.train": src}
    assert "gankit.train.trainer" in imports_of("gankit.train.loop", src, known)


def test_every_module_imports_in_a_fresh_interpreter_in_any_order():
    names = sorted(n for n in module_names() if n != "gankit.__main__")
    for order in (names, names[::-1]):
        code = "import importlib\nfor n in %r:\n    importlib.import_module(n)\n" % order
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=SRC)
        assert r.returncode == 0, r.stderr[-2000:]
