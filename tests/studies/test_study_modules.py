"""What every study module keeps to, read from the source with ``ast``: imports at the
top (what a study depends on is visible in its first lines), no module over 400 lines,
and protocol texts whose data facts are read off the dataset, not written by hand."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import genlab.studies
from genlab.data import load_dataset
from genlab.studies import dequantization, reverse_steps, self_supervised
from genlab.studies.base import describe_data

STUDIES = Path(genlab.studies.__file__).parent
MODULES = sorted(STUDIES.glob("*.py"))
MAX_LINES = 400


def local_imports(source: str) -> list[str]:
    """``function: import`` for every Import/ImportFrom inside a function or method."""
    found = []
    for fn in ast.walk(ast.parse(source)):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    found.append(f"{getattr(fn, 'name', 'lambda')}: {ast.unparse(node)}")
    return found


def test_the_modules_are_found():
    assert {"base.py", "checks.py", "contrastive.py", "reverse_steps.py"} <= {
        p.name for p in MODULES
    }


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_function_local_imports(path: Path):
    assert local_imports(path.read_text()) == []


def test_a_function_local_import_is_found():
    source = "import os\ndef f():\n    import torch\nclass A:\n    def g(self):\n" + (
        "        from genlab.runs import load_run\n"
    )
    assert local_imports(source) == ["f: import torch", "g: from genlab.runs import load_run"]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_module_over_400_lines(path: Path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_split_size_written_by_hand(path: Path):
    """The digits split sizes come from the dataset (``describe_data``), never a literal."""
    assert not re.search(r"\b(1437|360)\b", path.read_text())


def sizes(text: str) -> tuple[int, int]:
    match = re.search(r"train (\d+), test (\d+) images", text)
    assert match, text
    return int(match[1]), int(match[2])


@pytest.mark.parametrize("classes", [None, (0, 1, 2)])
def test_protocol_split_sizes_are_the_datasets(classes):
    digits = load_dataset("digits")
    dataset = digits if classes is None else digits.restrict_classes(classes)
    n = (len(dataset.train), len(dataset.test))
    assert describe_data(digits).startswith("digits (1x8x8, 17 levels; train 1437, test 360")
    texts = [
        describe_data(dataset),
        reverse_steps.protocol(reverse_steps.SETTINGS["digits"]["quick"], dataset)["data"],
        dequantization.protocol(dequantization.SETTINGS["digits"]["quick"], dataset)["data"],
        self_supervised._protocol(self_supervised.SETTINGS["digits"]["quick"], "simclr", dataset)[
            "data"
        ],
    ]
    for text in texts:
        assert sizes(text) == n
    assert (
        f"test split ({n[1]} images)"
        in reverse_steps.protocol(reverse_steps.SETTINGS["digits"]["quick"], dataset)["reference"]
    )
