"""The package is layered and acyclic: imports only go down (docs/architecture.md).

Every ``import`` of sslpipe code counts, including imports inside functions (deferred for
start-up time), so a cycle cannot hide behind a local import.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "sslpipe"

#: top-level modules and sub-packages by layer; a module may import its own sub-package and lower layers
LAYERS = [
    {"core", "presets_data"},
    {"data", "models", "augment", "losses", "plots", "tracking", "stats"},
    {"methods", "evaluate"},
    {"train", "checkpoint", "report"},
    {"config", "modalities"},
    {"presets", "stages", "bench", "loadtest", "fidelity"},
    {"smoke"},
    {"cli"},
    {"__main__"},  # `python -m sslpipe`: runs cli
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def _module(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for mod, path in modules.items():
        package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module or ""
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    if full.startswith("sslpipe"):
                        graph[mod].add(full if full in modules else target)
            elif isinstance(node, ast.Import):
                graph[mod].update(a.name for a in node.names if a.name.startswith("sslpipe"))
    return {m: {t for t in graph.get(m, ()) if t in modules and t != m} for m in modules}


def _top(mod: str) -> str:
    return mod.split(".")[1] if "." in mod else mod


def test_every_import_goes_down_the_layers():
    graph = import_graph()
    assert set(map(_top, graph)) - {"sslpipe"} <= set(LAYER), f"modules without a layer: {set(map(_top, graph)) - set(LAYER) - {'sslpipe'}}"
    wrong = [(a, b) for a, bs in graph.items() for b in bs
             if _top(a) != "sslpipe" and _top(b) != _top(a) and LAYER[_top(b)] >= LAYER[_top(a)]]
    assert not wrong, f"imports that go up or sideways: {sorted(wrong)}"


def test_core_imports_nothing_of_sslpipe_outside_core():
    graph = import_graph()
    assert not [(a, b) for a, bs in graph.items() if _top(a) == "core" for b in bs if _top(b) != "core"]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (cycle := visit(n)):
                return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (cycle := visit(m)):
            return cycle
    return None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_detector_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
