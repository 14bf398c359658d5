"""No module of gate binds one top-level name twice: with several people adding controls to the
same modules, a second `_GRANT_WORDS = …` or `def _held(…)` silently replaces the first for
every function that reads it (two such merges have happened). Conditional bindings (inside
`if`/`try`) are alternatives, not repeats, and are not counted."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

GATE = Path(__file__).resolve().parent.parent / "gate"
MODULES = sorted(p for p in GATE.rglob("*.py") if "__pycache__" not in p.parts)


def _bound(stmt: ast.stmt) -> list[str]:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [stmt.name]
    targets: list[ast.expr] = []
    if isinstance(stmt, ast.Assign):
        targets = list(stmt.targets)
    elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        targets = [stmt.target]
    names: list[str] = []
    for t in targets:
        for node in ast.walk(t):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.append(node.id)
    return names


def test_there_are_modules_to_check() -> None:
    assert len(MODULES) > 30


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(GATE)))
def test_no_top_level_name_is_bound_twice(path: Path) -> None:
    tree = ast.parse(path.read_text("utf-8"))
    counts = Counter(n for stmt in tree.body for n in _bound(stmt) if n != "_")
    twice = sorted(n for n, c in counts.items() if c > 1)
    assert not twice, f"{path.relative_to(GATE)} binds {twice} more than once at the top level"
