"""README.md's generated parts equal what benchmarks/readme.py writes from the results
files: a number in them that no file backs, or a file changed without regenerating the
README, fails here."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_readme_module():
    path = ROOT / "benchmarks" / "readme.py"
    spec = importlib.util.spec_from_file_location("genlab_readme", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def readme():
    return load_readme_module()


def test_readme_is_what_its_results_files_generate(readme):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "<!-- generated:studies -->" in text
    assert readme.generate(text) == text, "run: python benchmarks/readme.py"


def test_a_changed_results_file_makes_the_readme_stale(readme, tmp_path, monkeypatch):
    """Planted: a verdict changed in a collected results file must show up as a diff."""
    source = readme.STUDIES
    copy = tmp_path / "studies"
    shutil.copytree(source, copy)
    monkeypatch.setattr(readme, "STUDIES", copy)
    monkeypatch.setattr(readme, "ROOT", tmp_path)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    baseline = readme.generate(text)
    report = copy / "digits" / "report.json"
    raw = json.loads(report.read_text())
    raw["minutes"] = raw["minutes"] + 100.0
    report.write_text(json.dumps(raw))
    assert readme.generate(text) != baseline


def test_an_unknown_mark_is_an_error(readme):
    with pytest.raises(KeyError, match="unknown part 'nope'"):
        readme.generate("<!-- generated:nope -->\nx\n<!-- /generated:nope -->\n")
