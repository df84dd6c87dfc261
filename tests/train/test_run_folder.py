"""The run folder has one owner, and reading a run never writes.

- No module of ``src/genlab`` other than ``train/run_folder.py`` spells a file name
  inside a run folder (read from the source with ``ast``).
- ``load_run`` and ``read_config`` leave the folder byte for byte and entry for entry
  as they found it, also when a checkpoint commit was cut by a kill; they read the
  checkpoint that recovery would complete.
"""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

import genlab
from genlab import registry
from genlab.runs import load_run, make_config, read_config, train_run
from genlab.train import checkpoint as ckpt
from genlab.train import run_folder
from genlab.train.run_folder import RunFolder

sys.path.insert(0, str(Path(__file__).parent))

SRC = Path(genlab.__file__).parent
OWNER = SRC / "train" / "run_folder.py"
FILES = {
    run_folder.CONFIG,
    run_folder.METRICS,
    run_folder.STATE,
    run_folder.STAGE,
    run_folder.MARKER,
    *(f"{w}.safetensors" for w in run_folder.AUTO_ORDER),
}
FOLDERS = {run_folder.SAMPLES, run_folder.TENSORBOARD}  # generic words: flagged in paths only


def _spelled(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, literal) of every string constant that names a run folder's file."""
    in_paths = {
        id(side)
        for node in ast.walk(tree)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)
        for side in (node.left, node.right)
    }
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        text = node.value
        parts = set(text.split("/"))
        if parts & FILES or (parts & FOLDERS and ("/" in text or id(node) in in_paths)):
            found.append((node.lineno, text))
    return found


def _offenders() -> dict[str, list[tuple[int, str]]]:
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        if path == OWNER:
            continue
        hits = _spelled(ast.parse(path.read_text()))
        if hits:
            found[path.relative_to(SRC).as_posix()] = hits
    return found


def test_only_the_run_folder_module_spells_its_file_names():
    assert _offenders() == {}


def test_the_scan_finds_names_in_paths_and_literals():
    source = """
a = run / "config.yaml"
b = run / "samples" / name
c = "RUN/metrics.jsonl"
d = f["samples"]
e = "tensorboard summaries"
"""
    lines = sorted(line for line, _ in _spelled(ast.parse(source)))
    assert lines == [2, 3, 4]


# ---------------------------------------------------------------- reading never writes


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    registry.FAMILIES["toy"] = "toy_family:FAMILY"
    cfg = make_config(
        "toy",
        overrides={
            "train.steps": "20",
            "train.progress": "false",
            "train.batch_size": "32",
            "train.device": "cpu",
            "train.log_every": "5",
            "train.eval_every": "10",
            "train.ckpt_every": "10",
            "train.val_fraction": "0.2",
        },
    )
    out = train_run(cfg, tmp_path_factory.mktemp("folder") / "run")
    yield out
    registry.FAMILIES.pop("toy", None)


def _snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every entry below and including ``root``: (mode, mtime_ns, sha256 of a file)."""
    snap = {}
    for path in [root, *sorted(root.rglob("*"))]:
        st = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        snap[path.relative_to(root).as_posix()] = (st.st_mode, st.st_mtime_ns, digest)
    return snap


def _cut_commit(run: Path) -> dict[str, torch.Tensor]:
    """Stage a complete checkpoint of step 21 with doubled weights, then 'kill' the commit
    after its first move; returns the doubled raw weights."""
    folder = RunFolder(run)
    stage = run / run_folder.STAGE
    stage.mkdir()
    names = []
    for w in run_folder.AUTO_ORDER:
        if folder.has_weights(w):
            doubled = {k: 2 * v for k, v in folder.read_weights(w).items()}
            ckpt.save_weights(doubled, stage / f"{w}.safetensors", 21)
            names.append(f"{w}.safetensors")
    state = torch.load(run / run_folder.STATE, weights_only=True)
    torch.save({**state, "step": 21}, stage / run_folder.STATE)
    names.append(run_folder.STATE)
    (stage / run_folder.MARKER).write_text(json.dumps(names))
    (stage / "model.safetensors").replace(run / "model.safetensors")  # killed after this
    return ckpt.load_weights(run / "model.safetensors")[0]


@pytest.mark.parametrize("cut", [False, True], ids=["clean", "commit-cut"])
def test_reading_a_run_never_writes(trained, tmp_path, cut):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    if cut:
        _cut_commit(run)
    before = _snapshot(run)
    loaded = {w: load_run(run, weights=w) for w in ["auto", "best", "ema", "model"]}
    read_config(run)
    RunFolder(run).is_run()
    RunFolder(run).read_state()
    assert _snapshot(run) == before
    assert loaded["auto"].weights == "best"
    if cut:  # what it read is what recovery completes
        RunFolder(run).recover()
        assert not (run / run_folder.STAGE).exists()
        assert RunFolder(run).read_state().step == 21
        for w in ["best", "ema", "model"]:
            again = load_run(run, weights=w).model.state_dict()
            for k, v in loaded[w].model.state_dict().items():
                assert torch.equal(v, again[k]), (w, k)


def test_a_cut_commit_is_read_from_the_stage(trained, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    old_best = RunFolder(run).read_weights("best")
    _cut_commit(run)
    folder = RunFolder(run)
    assert folder.read_state().step == 21
    assert folder.weights_path("best").parent.name == run_folder.STAGE
    for k, v in folder.read_weights("best").items():
        assert torch.equal(v, 2 * old_best[k])
