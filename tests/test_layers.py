"""The package's import graph: no import circles between modules, and packages import only
from their own layer or below (docs/architecture.md, "Layers"), with a short, named list of
exceptions. Every import counts, also those inside functions (a lazy import is still a
dependency); imports under ``if TYPE_CHECKING:`` do not (they never run)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "asirp"

#: Top-level modules and packages of asirp, lowest layer first (docs/architecture.md).
LAYERS: list[set[str]] = [
    {"_version", "errors", "kinds", "units", "parameters", "progress", "memo"},
    {"geometry", "torch_runtime", "counts", "filters", "history", "psf", "noise"},
    {"frame", "spectrum"},
    {"io", "analysis", "symmetry", "report"},
    {"synth"},
    {"methods"},
    {"select"},
    {"api"},
    {"xrf", "tomo", "feedback", "samples", "demo"},
    {"pipeline"},
    {"online", "view", "bench"},
    {"cli", "__init__"},
]
#: Imports up the layers that are allowed, with why (at most four, issue 14).
ALLOWED_UP = {
    ("synth", "xrf"): "synth.xrf_cube draws spectra with xrf.lines and xrf.calibration, physics tables "
                      "that import nothing of asirp but errors",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_module(name: str) -> bool:
    base = SRC / name.replace(".", "/")
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    return skipped


def _imports(path: Path) -> set[str]:
    """The asirp modules ``path`` imports (``from package import submodule`` names the submodule)."""
    name = _module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_nodes(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "asirp")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "asirp":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if _is_module(sub) else target)
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = _module_name(path)
        targets = set()
        for target in _imports(path):
            while not _is_module(target):  # "from asirp.x import function"
                target = target.rsplit(".", 1)[0]
            targets.add(target)
        graph[name] = targets - {name}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    circles: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
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
                    circles.append(sorted(component))
    return circles


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_no_module_imports_itself_through_a_circle():
    assert _circles(_graph()) == []


def test_the_circle_finder_finds_a_circle():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_packages_import_only_from_their_layer_or_below():
    layer_of = {name: level for level, names in enumerate(LAYERS) for name in names}
    present = {_top(module) for module in _graph()}
    assert present <= set(layer_of), f"place these in LAYERS (and docs/architecture.md): {present - set(layer_of)}"
    up = {(_top(a), _top(b)) for a, targets in _graph().items() for b in targets
          if layer_of[_top(b)] > layer_of[_top(a)]}
    assert up <= set(ALLOWED_UP), f"imports up the layers: {sorted(up - set(ALLOWED_UP))}"
    assert len(ALLOWED_UP) <= 4


@pytest.mark.parametrize("source, expected", [
    ("from .. import filters", {"asirp.filters"}),
    ("from ..errors import InputError", {"asirp.errors"}),
    ("if TYPE_CHECKING:\n    from ..frame import Frame", set()),
    ("def f():\n    from ..frame import Frame", {"asirp.frame"}),
])
def test_imports_are_resolved_as_python_resolves_them(monkeypatch, source, expected):
    module = PACKAGE / "symmetry" / "_layers_probe.py"
    monkeypatch.setattr(Path, "read_text", lambda self, encoding=None: source)
    assert _imports(module) == expected
