"""The layout's import rules, read from the source with ``ast`` (function-level imports included):
no import cycle among the modules of ``ml_backend/`` and ``sync/``; ``sync/`` imports nothing of
``ml_backend``; only ``ml_backend/cli/`` imports ``ml_backend.cli``. Imports under
``if TYPE_CHECKING:`` are left out: they never run, so they cannot form a cycle at import time."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the two packages."""
    found = {}
    for package in ("ml_backend", "sync"):
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for inner in ast.walk(node))
    return skipped


def imports_of(module: str) -> set[str]:
    """The project modules ``module`` imports anywhere in its file; ``from a import b`` counts as
    ``a.b`` when that is a module, else as ``a``."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    skipped = _type_checking_nodes(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in MODULES else base)
    return {name for name in found if name in MODULES and name != module}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


GRAPH = {module: imports_of(module) for module in MODULES}


def test_the_reader_sees_function_level_and_relative_imports() -> None:
    """The rules below are only as good as the reader: a lazy import inside a function and a
    relative import must both count."""
    assert "ml_backend.engine.answers" in GRAPH["ml_backend.cli.local"]  # imported inside ``parse``
    assert "ml_backend.store.agents" in GRAPH["ml_backend.store"]  # ``from .agents import ...``


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle() -> None:
    assert _cycles(GRAPH) == []


@pytest.mark.parametrize("module", sorted(name for name in MODULES if name.startswith("sync")))
def test_sync_imports_nothing_of_ml_backend(module: str) -> None:
    assert not [name for name in GRAPH[module] if name.startswith("ml_backend")]


def test_only_the_cli_imports_the_cli() -> None:
    offenders = {module: sorted(name for name in imports if name.startswith("ml_backend.cli"))
                 for module, imports in GRAPH.items() if not module.startswith("ml_backend.cli")}
    assert {module: names for module, names in offenders.items() if names} == {}
