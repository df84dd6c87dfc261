"""Fixtures of the end-to-end CLI tests: run ``genlab`` in-process, a trained run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli_helpers import Result, train_args

from genlab.cli import main


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """``cli("train", "pixelwise", ...)`` runs genlab.cli.main and returns a Result."""

    def run(*args: object) -> Result:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory: pytest.TempPathFactory, device) -> Path:
    """A pixelwise run trained 30 steps on digits; tests copy it before changing it."""
    run = tmp_path_factory.mktemp("cli") / "digits-run"
    assert main([str(a) for a in train_args(run, device.type)]) == 0
    return run


@pytest.fixture
def run_copy(digits_run: Path, tmp_path: Path) -> Path:
    """A private copy of the trained run."""
    return Path(shutil.copytree(digits_run, tmp_path / "run"))
