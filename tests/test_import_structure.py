"""The package's import graph: no cycles, and the server independent of the lab.

Every module of ``t5spec/`` is parsed with :mod:`ast` (nothing is imported); an edge
``a -> b`` is any ``import``/``from … import`` of ``b`` inside ``a``, at module level or in a
function. ``from t5spec.x import y`` counts as an import of ``t5spec.x.y`` when that is a
module, else of ``t5spec.x``. A package's ``__init__`` re-exporting its own submodules is not
an edge (importing a submodule runs its package's ``__init__`` anyway).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "t5spec"


def _modules(root: Path) -> dict[str, Path]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _targets(module: str, path: Path, node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:  # relative: resolved against the importing module's package
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    return [f"{base}.{a.name}" for a in node.names] + [base]


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the package's modules it imports (see module doc)."""
    modules = _modules(root)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            for target in _targets(module, path, node):
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != module and not target.startswith(module + "."):
                    graph[module].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle ``[a, b, …, a]`` of ``graph``, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for start in sorted(graph):
        if start in state:
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def test_the_graph_sees_module_and_function_level_imports():
    graph = import_graph()
    assert "t5spec.tokenization" in graph["t5spec.serve.engine"]  # module level
    assert "t5spec.models.decoding" in graph["t5spec.serve.engine"]  # inside a method
    assert "t5spec.errors" in graph["t5spec.cli"]


def test_find_cycle_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("client", ["t5spec.serve", "t5spec.tokenization"])
def test_the_server_does_not_import_the_lab(client):
    graph = import_graph()
    inside = [m for m in graph if m == client or m.startswith(client + ".")]
    assert inside
    lab = sorted((m, d) for m in inside for d in graph[m] if d.split(".")[:2] == ["t5spec", "lab"])
    assert not lab, f"{client} imports the lab: {lab}"
