"""What a family can do is declared (its Family record, a runtime-checkable Protocol, a
frozen options dataclass), never discovered: no ``hasattr`` on models, no
``getattr(model, ...)``, no ``inspect.signature`` in the library (STYLE.md, habit 16)."""

from __future__ import annotations

import ast
from pathlib import Path

import genlab

SRC = Path(genlab.__file__).parent

# hasattr on a module of the standard library asks about the platform, not a family
PLATFORM = {"os", "sys", "torch"}
# warm start (model.init=RUN) still looks for a run's encoder; it moves to the run layer
# with a declared protocol (issue 14, item 3), and this entry goes with it
KNOWN = {"ssl/finetune.py"}


def _probes(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        first = ast.unparse(node.args[0]) if node.args else ""
        if name == "hasattr" and first not in PLATFORM:
            found.append(f"hasattr({first}, ...)")
        elif name == "getattr" and "model" in first.lower():
            found.append(f"getattr({first}, ...)")
        elif name.endswith("signature") and "inspect" in name:
            found.append(f"{name}(...)")
    return found


def test_no_module_probes_a_model_for_its_abilities():
    bad = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        found = _probes(ast.parse(path.read_text(), str(path)))
        if found and rel not in KNOWN:
            bad[rel] = found
    assert not bad, bad


def test_the_probe_finder_finds_probes():
    code = "hasattr(model, 'nll'); getattr(self.model, 'x', None); inspect.signature(f)"
    assert len(_probes(ast.parse(code))) == 3
    assert _probes(ast.parse("hasattr(os, 'sched_getaffinity'); getattr(cfg, name)")) == []
