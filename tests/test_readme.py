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


@pytest.fixture
def results_copy(readme, tmp_path, monkeypatch):
    """A copy of benchmarks/results/*.json that the generators read instead."""
    copy = tmp_path / "results"
    copy.mkdir()
    for path in readme.RESULTS.glob("*.json"):
        shutil.copyfile(path, copy / path.name)
    monkeypatch.setattr(readme, "RESULTS", copy)
    return copy


def _edit(path: Path, change) -> None:
    raw = json.loads(path.read_text())
    change(raw)
    path.write_text(json.dumps(raw))


def test_a_changed_speed_file_changes_the_speed_rows(readme, results_copy):
    """Planted: a genlab training speed changed in speed.json must change the README, and
    the per-FLOP ratio is the per-second ratio times the FLOP ratio."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    baseline = readme.generate(text)
    row = json.loads((results_copy / "speed.json").read_text())["rows"][0]
    per_flop = row["ratio"]["train"] * row["ratio"]["flops"]
    assert f"| {per_flop:.2f}x |" in readme.speed_section()

    def faster(raw):
        raw["rows"][0]["genlab"]["train_images_per_s"] *= 2
        raw["rows"][0]["ratio"]["train"] *= 2

    _edit(results_copy / "speed.json", faster)
    assert readme.generate(text) != baseline
    assert f"| {2 * per_flop:.2f}x |" in readme.speed_section()


def test_a_changed_quality_file_makes_the_readme_stale(readme, results_copy):
    """Planted: one bits/dim changed in fashion_quality.json must show up as a diff."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    baseline = readme.generate(text)

    def worse(raw):
        raw["vae"]["test"]["bpd"] += 0.5

    _edit(results_copy / "fashion_quality.json", worse)
    assert readme.generate(text) != baseline


def test_fd_from_a_superseded_feature_network_is_left_out(readme, results_copy):
    """The digits reference is measured in the shipped network's space: FD shown. The
    same file recording an earlier network's accuracy (planted) loses its FD column."""
    assert "| FD |" in readme.reference_digits_section()

    def superseded(raw):
        for key in ("floor_train_vs_test", "pixelwise"):
            raw[key]["feature_net_test_accuracy"] = 0.9861111111111112  # featcnn-v2's

    _edit(results_copy / "reference_digits.json", superseded)
    section = readme.reference_digits_section()
    assert "| FD |" not in section and "await re-measurement" in section
