"""The dependency rules of DESIGN.md, read from the source with ``ast``: arrows point down.

Every ``import`` and ``from ... import`` node of every module counts, wherever it sits
(module level, inside a function, under ``if TYPE_CHECKING``), relative ones resolved.
The rules hold with no exception:

- the layers below the families (``data/``, ``nn/``, ``metrics/``) import no family and
  nothing above them;
- a family (each package named in ``genlab.registry.FAMILIES``) imports no other family
  and nothing of the layers above the families: ``train/``, the run layer (``runs``,
  ``warm_start``), the CLI, ``inference``, ``studies/``, ``report/``;
- no circles: neither between modules nor between the top-level parts of genlab.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import genlab
from genlab.registry import FAMILIES

SRC = Path(genlab.__file__).parent
BELOW = {"data", "nn", "metrics", "ode"}
ABOVE = {"train", "runs", "warm_start", "cli", "__main__", "inference", "studies", "report"}
FAMILY_PARTS = {target.split(":")[0].split(".")[1] for target in FAMILIES.values()}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def imports_of(source: str, name: str, is_package: bool) -> set[str]:
    """The genlab modules that the module ``name`` imports anywhere in ``source``."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, base] if base else package)
            # ``from genlab.x import y`` imports the module genlab.x.y when there is one
            found |= {
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            }
    return {_known(m) for m in found if m == "genlab" or m.startswith("genlab.")}


def _known(module: str) -> str:
    while module not in MODULES and "." in module:
        module = module.rsplit(".", 1)[0]
    return module


def part(module: str) -> str:
    """The top-level part of genlab a module belongs to (``genlab.metric.miners``: metric)."""
    return module.split(".")[1] if "." in module else "genlab"


GRAPH = {
    name: imports_of(path.read_text(), name, path.name == "__init__.py") - {name}
    for name, path in MODULES.items()
}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            if component:
                found.append(sorted([v, *component]))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def arrows(rule: set[str], forbidden: set[str]) -> list[str]:
    return sorted(
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        if part(name) in rule
        for target in targets
        if part(target) in forbidden
    )


def test_the_parts_exist():
    parts = {part(m) for m in MODULES}
    assert BELOW | FAMILY_PARTS | (ABOVE - {"__main__"}) <= parts, parts
    assert {"vae", "diffusion", "flows", "ssl", "metric", "pixelwise"} <= FAMILY_PARTS


def test_the_layers_below_import_no_family_and_nothing_above():
    assert arrows(BELOW, FAMILY_PARTS | ABOVE) == []


@pytest.mark.parametrize("family", sorted(FAMILY_PARTS))
def test_a_family_imports_no_other_family_and_nothing_above(family: str):
    assert arrows({family}, (FAMILY_PARTS - {family}) | ABOVE) == []


def test_no_circle_between_modules():
    assert circles(GRAPH) == []


def test_no_circle_between_the_parts_of_genlab():
    parts: dict[str, set[str]] = {}
    for name, targets in GRAPH.items():
        parts.setdefault(part(name), set()).update(
            part(t) for t in targets if part(t) != part(name)
        )
    assert circles(parts) == []


def test_every_import_counts_wherever_it_sits():
    source = """
from typing import TYPE_CHECKING
from .miners import Miner
from .. import runs
if TYPE_CHECKING:
    from genlab.ssl.simclr import SimCLR
def f():
    import genlab.train.trainer
    from genlab.nn import encoder
"""
    found = imports_of(source, "genlab.metric.losses", is_package=False)
    assert found == {
        "genlab.metric.miners",
        "genlab.runs",
        "genlab.ssl.simclr",
        "genlab.train.trainer",
        "genlab.nn.encoder",
    }
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_library_module_is_over_400_lines():
    """One owner per concept keeps modules readable: split a module that grows past 400."""
    long = {
        p.relative_to(SRC).as_posix(): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert long == {}
