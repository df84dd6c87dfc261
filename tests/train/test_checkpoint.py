"""Atomic checkpoints: an interrupted write never leaves a mixed or broken run."""

import json

import pytest
import torch

from genlab.errors import CheckpointError
from genlab.train import checkpoint as ckpt
from genlab.train import run_folder


def _write(run, step):
    state = {"w": torch.full((3,), float(step))}
    run_folder.write_checkpoint(
        run,
        {
            "model.safetensors": lambda p: ckpt.save_weights(state, p, step),
            "trainer_state.pt": lambda p: torch.save({"step": step}, p),
        },
    )


def test_write_then_load(tmp_path):
    _write(tmp_path, 5)
    weights, step = ckpt.load_weights(tmp_path / "model.safetensors")
    assert step == 5 and weights["w"].tolist() == [5.0] * 3
    assert ckpt.load_state(tmp_path / "trainer_state.pt")["step"] == 5
    assert not (tmp_path / run_folder.STAGE).exists()


def test_incomplete_stage_is_discarded(tmp_path):
    _write(tmp_path, 1)
    stage = tmp_path / run_folder.STAGE
    stage.mkdir()
    ckpt.save_weights({"w": torch.zeros(3)}, stage / "model.safetensors", 2)  # killed here
    run_folder.recover(tmp_path)
    assert not stage.exists()
    assert ckpt.load_weights(tmp_path / "model.safetensors")[1] == 1


def test_complete_stage_is_rolled_forward(tmp_path):
    _write(tmp_path, 1)
    stage = tmp_path / run_folder.STAGE
    stage.mkdir()
    ckpt.save_weights({"w": torch.zeros(3)}, stage / "model.safetensors", 2)
    torch.save({"step": 2}, stage / "trainer_state.pt")
    (stage / run_folder.MARKER).write_text(json.dumps(["model.safetensors", "trainer_state.pt"]))
    # killed after moving the first file: the second is still staged
    (stage / "model.safetensors").replace(tmp_path / "model.safetensors")
    run_folder.recover(tmp_path)
    assert ckpt.load_weights(tmp_path / "model.safetensors")[1] == 2
    assert ckpt.load_state(tmp_path / "trainer_state.pt")["step"] == 2
    assert not stage.exists()


def test_corrupt_files_are_one_clear_error(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="is corrupt"):
        ckpt.load_weights(tmp_path / "model.safetensors")
    (tmp_path / "trainer_state.pt").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="is corrupt"):
        ckpt.load_state(tmp_path / "trainer_state.pt")
    with pytest.raises(CheckpointError, match="is missing"):
        ckpt.load_weights(tmp_path / "ema.safetensors")


def test_trainer_state_never_executes_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (exec, (f"open({str(tmp_path / 'pwned')!r}, 'w').close()",))

    torch.save({"step": 1, "x": Evil()}, tmp_path / "trainer_state.pt")
    with pytest.raises(CheckpointError):
        ckpt.load_state(tmp_path / "trainer_state.pt")
    assert not (tmp_path / "pwned").exists()
