"""End to end through the ``genlab`` command: datasets, train, sample, eval, resume, help."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from cli_helpers import snapshot, train_args, write_mnist
from PIL import Image
from safetensors.torch import load_file

EXACT = {"rtol": 0.0, "atol": 0.0}
DATASET_NAMES = ("digits", "toy2d", "mnist", "fashion-mnist", "cifar10", "folder")


def _table(out: str) -> dict[str, list[str]]:
    rows = [line.split() for line in out.splitlines() if line.strip()]
    return {row[0]: row for row in rows[1:] if row[0] in DATASET_NAMES}


def test_datasets_lists_every_dataset_and_its_availability(cli, tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    res = cli("datasets", "--data-dir", empty)
    assert res.code == 0, res.err
    header = res.out.splitlines()[0].split()
    assert header[:5] == ["name", "shape", "levels", "classes", "available"]
    rows = _table(res.out)
    assert set(rows) == set(DATASET_NAMES)
    assert rows["digits"][1:5] == ["1x8x8", "17", "10", "yes"]
    for name in ("mnist", "fashion-mnist", "cifar10"):
        assert rows[name][4] == "no"
    assert "--data-dir" in res.out and "GENLAB_DATA" in res.out

    write_mnist(tmp_path / "data")
    monkeypatch.setenv("GENLAB_DATA", str(tmp_path / "data"))
    res = cli("datasets")
    rows = _table(res.out)
    assert rows["mnist"][4] == "yes" and rows["fashion-mnist"][4] == "no"
    assert rows["mnist"][5] == str((tmp_path / "data" / "mnist").absolute())
    assert "fashion-mnist: fashion-mnist not found" in res.out

    system = tmp_path / "system"  # Debian's /usr/share/datasets, found with no flag
    write_mnist(system).rename(system / "fashion-mnist")
    monkeypatch.setenv("GENLAB_SYSTEM_DATA", str(system))
    rows = _table(cli("datasets").out)
    assert rows["fashion-mnist"][4:] == ["yes", str((system / "fashion-mnist").absolute())]


def test_a_run_remembers_its_data_folder(cli, tmp_path, monkeypatch, device):
    """Trained with GENLAB_DATA, evaluated from another folder in a shell without it."""
    write_mnist(tmp_path / "elsewhere")
    monkeypatch.setenv("GENLAB_DATA", str(tmp_path / "elsewhere"))
    run = tmp_path / "run"
    args = train_args(run, device.type, steps=3)
    args[args.index("digits")] = "mnist"
    assert cli(*args).code == 0
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["data"]["data_dir"] == str((tmp_path / "elsewhere").absolute())
    monkeypatch.delenv("GENLAB_DATA")
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path / "other")
    res = cli("eval", run, "--metrics", "bpd", "--json")
    assert res.code == 0, res.err
    assert math.isfinite(json.loads(res.out)["bpd"])


def test_sample_png_is_a_readable_picture(cli, digits_run, tmp_path, device):
    out = tmp_path / "grid.png"
    res = cli("sample", digits_run, "-n", 16, "--out", out, "--device", device.type)
    assert res.code == 0, res.err
    assert res.out == "" and "16 samples" in res.err
    with Image.open(out) as img:
        img.load()
        assert img.format == "PNG" and min(img.size) >= 8
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]  # no temp file left


def test_sample_npz_holds_integer_samples_in_the_data_range(cli, digits_run, tmp_path, device):
    paths = [tmp_path / "a.npz", tmp_path / "b.npz"]
    for path in paths:
        res = cli(
            "sample", digits_run, "-n", 16, "--out", path, "--seed", 3, "--device", device.type
        )
        assert res.code == 0, res.err
    with np.load(paths[0]) as f:
        assert list(f.keys()) == ["samples"]
        x = f["samples"]
    assert np.issubdtype(x.dtype, np.integer)
    assert x.shape == (16, 1, 8, 8)
    assert x.min() >= 0 and x.max() <= 16
    with np.load(paths[1]) as f:
        assert np.array_equal(f["samples"], x)  # same seed, same samples


def test_eval_bpd_json_is_one_object(cli, digits_run, device):
    res = cli("eval", digits_run, "--metrics", "bpd", "--json", "--device", device.type)
    assert res.code == 0, res.err
    assert len(res.out.splitlines()) == 1
    result = json.loads(res.out)
    assert list(result) == ["bpd", "bpd_se", "bpd_images", "bpd_seconds"]
    assert result["bpd_images"] == 360 and 0 < result["bpd_se"] < 0.05  # the whole test split
    # better than uniform over 17 levels (log2 17 = 4.09 bits), worse than any real model
    assert 1.0 < result["bpd"] < math.log2(17)


def test_eval_every_metric_json(cli, digits_run, device):
    metrics = "bpd,fd,kid,pr,sharpness"
    res = cli("eval", digits_run, "--metrics", metrics, "--json", "--n-samples", 200,
              "--device", device.type)  # fmt: skip
    assert res.code == 0, res.err
    result = json.loads(res.out)
    assert {"bpd", "fd", "fd_se", "kid", "precision", "recall", "sharpness"} <= result.keys()
    assert result["n_samples"] == 200 and result["n_reference"] == 360
    assert result.pop("feature_net") == "shipped-featcnn-v3:digits"  # the same on any machine
    assert all(isinstance(v, float) and math.isfinite(v) for v in result.values())
    assert 0 < result["fd_se"] < result["fd"]


def test_eval_takes_the_models_evaluation_keys_only(cli, tmp_path, device):
    run = tmp_path / "flow"
    res = cli("train", "flow", "--data", "digits", "--out", run, "--steps", 20,
              "train.progress=false", "--device", device.type)  # fmt: skip
    assert res.code == 0, res.err
    one = json.loads(cli("eval", run, "--metrics", "bpd", "--json").out)
    eight = json.loads(cli("eval", run, "--metrics", "bpd", "--json", "model.nll_draws=8").out)
    assert one["bpd_K"] == 1 and eight["bpd_K"] == 8
    assert eight["bpd"] < one["bpd"]  # the importance-weighted bound is tighter
    bad = cli("eval", run, "--metrics", "bpd", "model.steps=3")
    assert bad.code == 2 and "only the model's evaluation keys" in bad.err


def test_eval_fits_the_diffusion_decoder_on_train_images(cli, tmp_path, device):
    run = tmp_path / "diffusion"
    res = cli("train", "diffusion", "--data", "digits", "--out", run, "--steps", 20,
              "model.channels=8", "model.timesteps=50", "train.progress=false",
              "--device", device.type)  # fmt: skip
    assert res.code == 0, res.err
    fixed = json.loads(cli("eval", run, "--metrics", "bpd", "--json").out)
    fitted = cli("eval", run, "--metrics", "bpd", "model.nll_decoder=fitted")
    assert fitted.code == 0, fitted.err
    assert "decoder=N(x0_hat, std^2), std fitted on 1000 train images" in fitted.out
    got = json.loads(cli("eval", run, "--metrics", "bpd", "--json", "model.nll_decoder=fitted").out)
    assert "bpd_decoder_std_end" not in fixed and got["bpd_decoder_std_rest"] > 0
    assert got["bpd_images"] == fixed["bpd_images"] == 360


def test_eval_scores_a_samples_file(cli, digits_run, tmp_path, device):
    npz = tmp_path / "s.npz"
    assert cli("sample", digits_run, "-n", 16, "--out", npz, "--device", device.type).code == 0
    res = cli("eval", digits_run, "--samples", npz, "--metrics", "fd,sharpness", "--json",
              "--device", device.type)  # fmt: skip
    assert res.code == 0, res.err
    result = json.loads(res.out)
    assert result["n_samples"] == 16 and {"fd", "sharpness"} <= result.keys()
    table = cli("eval", digits_run, "--samples", npz, "--metrics", "sharpness",
                "--device", device.type)  # fmt: skip
    assert table.code == 0 and "sharpness" in table.out and "test split" in table.out


def test_sample_and_eval_leave_the_run_folder_unchanged(cli, run_copy, tmp_path, device):
    before = snapshot(run_copy)
    assert (
        cli("sample", run_copy, "-n", 8, "--out", tmp_path / "x.png", "--device", device.type).code
        == 0
    )
    assert cli("eval", run_copy, "--metrics", "bpd,sharpness", "--n-samples", 50,
               "--device", device.type).code == 0  # fmt: skip
    assert snapshot(run_copy) == before


def test_pixelwise_refuses_continuous_data(cli, tmp_path, device):
    out = tmp_path / "run"
    res = cli("train", "pixelwise", "--data", "toy2d:moons", "--out", out, "--steps", 5,
              "--device", device.type)  # fmt: skip
    res.error_line("pixelwise", "discrete", "toy2d:moons")
    assert not out.exists()


def test_a_runs_config_can_be_reused(cli, digits_run, tmp_path, device):
    again = tmp_path / "again"
    res = cli("train", "pixelwise", "--config", digits_run / "config.yaml", "--out", again,
              "--quiet", "--device", device.type)  # fmt: skip
    assert res.code == 0, res.err
    assert (again / "config.yaml").read_text() == (digits_run / "config.yaml").read_text()
    for name in ("model.safetensors", "ema.safetensors"):  # same config, same seed
        a, b = load_file(again / name), load_file(digits_run / name)
        assert a.keys() == b.keys()
        for k in a:  # CUDA's atomic adds may reorder sums
            torch.testing.assert_close(a[k], b[k], **({} if device.type == "cuda" else EXACT))


# ---------------------------------------------------------------- resume


def _state_step(run: Path) -> int:
    return int(torch.load(run / "trainer_state.pt", weights_only=True)["step"])


def test_resume_continues_to_the_new_step_count(cli, tmp_path, device):
    run = tmp_path / "run"
    res = cli(*train_args(run, device.type, "train.ckpt_every=20", "train.log_every=10", steps=40))
    assert res.code == 0, res.err
    assert _state_step(run) == 40
    res = cli("train", "pixelwise", "--out", run, "--resume", "--quiet", "train.steps=60")
    assert res.code == 0, res.err
    assert _state_step(run) == 60
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["train"]["steps"] == 60 and saved["train"]["ckpt_every"] == 20
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "train"] == [10, 20, 30, 40, 50, 60]
    assert [r["step"] for r in records if r["kind"] == "time"] == [60]  # one total, not two

    # nothing left to do: an error, and nothing changes
    before = snapshot(run)
    cli("train", "pixelwise", "--out", run, "--resume").error_line("step 60", "--steps")
    assert snapshot(run) == before


def test_resume_as_another_family_is_refused(cli, run_copy):
    before = snapshot(run_copy)
    res = cli("train", "vae", "--out", run_copy, "--resume", "--steps", 60)
    res.error_line("cannot resume", "'pixelwise' run", "'vae'")
    assert snapshot(run_copy) == before


def test_resume_on_other_data_is_refused(cli, run_copy, tmp_path):
    write_mnist(tmp_path / "data")
    before = snapshot(run_copy)
    res = cli("train", "pixelwise", "--out", run_copy, "--resume", "--steps", 60,
              "--data", "mnist", "--data-dir", tmp_path / "data")  # fmt: skip
    res.error_line("cannot resume", "digits", "mnist")
    assert snapshot(run_copy) == before


# ---------------------------------------------------------------- entry points and help


def _python_m_genlab(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "genlab", *map(str, args)]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_python_m_genlab_help(tmp_path):
    proc = _python_m_genlab("--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for command in ("datasets", "train", "sample", "eval"):
        assert command in proc.stdout


def test_python_m_genlab_user_error_is_one_line(tmp_path):
    proc = _python_m_genlab("train", "pixelwise", "--data", "digitz", "--out", "run", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [proc.stderr.strip()] and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("genlab: error: unknown dataset 'digitz'")
    assert not (tmp_path / "run").exists()


def test_console_script_is_installed(tmp_path):
    script = shutil.which("genlab", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("genlab is not installed as a console script in this environment")
    proc = subprocess.run([script, "datasets"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "digits" in proc.stdout


@pytest.mark.parametrize("command", ["train", "sample", "eval", "datasets"])
def test_every_command_has_help(cli, command):
    res = cli(command, "--help")
    assert res.code == 0 and res.err == ""
    assert f"usage: genlab {command}" in res.out
    if command == "train":
        assert "--resume" in res.out and "--force" in res.out


def test_fetch_from_a_dead_mirror_is_one_line_and_leaves_nothing(cli, tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = tmp_path / "data"
    res = cli("fetch", "fashion-mnist", "--data-dir", root, "--mirror", f"http://127.0.0.1:{port}/")
    res.error_line("cannot download", f"127.0.0.1:{port}")
    assert not root.exists()
