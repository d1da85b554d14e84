"""Imports point one way: no cycles in transcripts/ or workers/, and the bottom
(workers/speech/) imports neither Django nor transcripts. A small AST walk."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("transcripts", "workers")
BOTTOM = "workers.speech"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(p): p
        for package in PACKAGES
        for p in (ROOT / package).rglob("*.py")
        if "migrations" not in p.parts
    }


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every module `name` imports, at any depth in the file (imports inside
    functions count: a lazy import is still a dependency), resolved to known modules
    where it names one, else kept as written (for the Django check)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            # `from pkg import module` imports the module, not just the package.
            found.update(
                f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in known
            )
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph = {}
    for name, path in modules.items():
        edges = set()
        for target in _imports(name, path, known):
            # `import a.b.c` runs a/__init__ and a/b/__init__ too, but those
            # are the package's own business: an edge to the module named.
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                edges.add(target)
        graph[name] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_there_is_no_import_cycle_in_transcripts_or_workers():
    graph = _graph()
    assert "transcripts.pipeline.run" in graph and "workers.speech.parts" in graph  # the walk sees the tree
    assert _cycles(graph) == []


def test_the_bottom_imports_neither_django_nor_transcripts():
    modules = _modules()
    offending = {
        name: sorted(
            t for t in _imports(name, path, set(modules)) if t.split(".")[0] in ("django", "transcripts")
        )
        for name, path in modules.items()
        if name == BOTTOM or name.startswith(f"{BOTTOM}.")
    }
    assert {name: found for name, found in offending.items() if found} == {}


def test_the_check_finds_a_cycle_and_a_django_import_when_there_is_one(tmp_path):
    # The walk itself: a planted cycle is reported, through lazy and relative imports alike.
    graph = {"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}, "a.w": {"a.x"}}
    assert _cycles(graph) == [["a.x", "a.y", "a.z"]]
    planted = tmp_path / "mod.py"
    planted.write_text("def f():\n    from django.conf import settings\n    from . import sibling\n")
    assert (
        {"django.conf", "pkg.sibling", "pkg"}
        >= _imports("pkg.mod", planted, {"pkg.sibling"})
        >= {
            "django.conf",
            "pkg.sibling",
        }
    )
