"""Data flows one way: core -> methods -> render -> atlas -> web (data and zoo beside
methods). Every import of every module under src/neuronscope is read (also imports
inside functions) and checked against that order. Two imports inside functions are let
through: a method's result drawing itself (render, in ``show()``) and a method training
a built-in model with it (zoo, as ``ns.train_with_lca`` does)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "neuronscope"

# what each package may import from neuronscope (besides itself)
ALLOWED = {
    "core": set(),
    "data": {"core"},
    "zoo": {"core", "data"},
    "methods": {"core", "data"},
    "render": {"core", "methods"},
    "atlas": {"core", "data", "methods", "render"},
    "web": {"core", "data", "methods", "render", "atlas"},
    "commands": {"core", "data", "zoo", "methods", "render", "atlas", "web"},
}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported neuronscope module, whether the import sits inside a function)."""
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    package = ".".join(parts[:-1])  # what a relative import starts from
    found = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")
                    base = ".".join(parts[:len(parts) - child.level + 1] + ([base] if base else []))
                names = [f"{base}.{a.name}" for a in child.names]  # from x import y: x.y
                found.extend((n, inner) for n in names if n.startswith("neuronscope"))
            elif isinstance(child, ast.Import):
                found.extend((a.name, inner) for a in child.names
                             if a.name.startswith("neuronscope"))
            visit(child, inner)

    visit(ast.parse(path.read_text()), False)
    return found


def _part(module: str, depth: int = 1) -> str:
    parts = module.split(".")
    return ".".join(parts[1:1 + depth]) if len(parts) > depth else ""


FILES = sorted(p for p in SRC.rglob("*.py") if p.parent != SRC)


def _violations(here: str, imports: list[tuple[str, bool]]) -> list[str]:
    layer = _part(here)
    bad = []
    for target, nested in imports:
        other = _part(target)
        if not other or other == layer:
            if layer == "methods" and _part(target, 2) != _part(here, 2):
                bad.append(f"{target} (a method imports another method)")
            continue
        lazy_render = layer == "methods" and other == "render" and nested  # a result's show()
        lazy_zoo = layer == "methods" and other == "zoo" and nested  # train a built-in model
        if other not in ALLOWED.get(layer, set()) and not (lazy_render or lazy_zoo):
            bad.append(f"{target} ({layer} may import only {sorted(ALLOWED.get(layer, []))})")
    return bad


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_follow_the_flow(path: Path) -> None:
    here = ".".join(path.relative_to(SRC.parent).with_suffix("").parts)
    bad = _violations(here, _imports(path))
    assert bad == [], f"{here} imports against the flow: {bad}"


def test_the_checker_sees_imports_and_violations() -> None:
    found = dict(_imports(SRC / "atlas" / "sections" / "ablation.py"))
    assert "neuronscope.methods.ablation.unit_sweep" in found
    assert any(name.startswith("neuronscope.atlas.sections.") for name in found)
    here = "neuronscope.methods.ablation.study"
    assert _violations(here, [("neuronscope.methods.selectivity", False)])
    assert _violations(here, [("neuronscope.render.grid", False)])  # at import time
    assert not _violations(here, [("neuronscope.render.grid", True)])  # inside show()
    assert _violations(here, [("neuronscope.zoo.training", False)])  # at import time
    assert not _violations(here, [("neuronscope.zoo.training", True)])  # inside a function
    assert _violations("neuronscope.core.model", [("neuronscope.zoo", True)])
    assert "neuronscope.zoo" in dict(_imports(SRC / "__init__.py"))  # from . import zoo
    assert not _violations(here, [("neuronscope.methods.ablation.sweep", False)])
