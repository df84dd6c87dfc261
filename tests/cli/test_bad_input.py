"""Bad input as a new user would try it: one line on stderr, non-zero exit, nothing written."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import IDX_NAMES, snapshot, train_args, write_mnist

import genlab.train

# ---------------------------------------------------------------- train: nothing is created


def _fails_and_writes_nothing(cli, out: Path, args: list[object], *fragments: str) -> str:
    line = cli(*args).error_line(*fragments)
    assert not out.exists(), f"{out} was created: {sorted(out.rglob('*'))}"
    return line


BAD_TRAIN = {
    "unknown dataset": (
        ["--data", "digitz"],
        ["unknown dataset 'digitz'", "did you mean 'digits'"],
    ),
    "unknown toy set": (["--data", "toy2d:moon"], ["'moon'", "did you mean 'moons'"]),
    "unknown key": (
        ["train.lrr=1"],
        ["unknown config key 'train.lrr'", "'train.lr'", "valid keys"],
    ),
    "unknown section": (["optim.lr=1"], ["unknown config section 'optim'", "train."]),
    "wrong type": (["train.batch_size=abc"], ["train.batch_size='abc'", "integer"]),
    "given twice": (
        ["train.steps=10"],
        ["train.steps is given twice", "--steps 5", "train.steps=10"],
    ),
    "out of range": (["train.ema=1.5"], ["train.ema=1.5", "[0, 1)"]),
    "bad model option": (["model.prior=-1"], ["model.prior=-1.0 is out of range", "at least 0"]),
    "not key=value": (["lr"], ["unrecognized arguments: lr", "key=value", "genlab train --help"]),
    "misspelt flag": (["--stpes", "5"], ["--stpes", "did you mean --steps?"]),
    "steps zero": (["--steps", "0"], ["--steps", "positive integer"]),
    "bad device": (["--device", "tpu"], ["unknown device 'tpu'"]),
    "missing config file": (["--config", "nope.yaml"], ["config file nope.yaml does not exist"]),
}


@pytest.mark.parametrize("case", list(BAD_TRAIN))
def test_bad_train_arguments(cli, tmp_path, device, case):
    extra, fragments = BAD_TRAIN[case]
    out = tmp_path / "run"
    _fails_and_writes_nothing(cli, out, train_args(out, device.type, *extra, steps=5), *fragments)


def test_unknown_family(cli, tmp_path):
    out = tmp_path / "run"
    args = ["train", "pixelwize", "--out", out]
    _fails_and_writes_nothing(cli, out, args, "unknown family 'pixelwize'", "'pixelwise'")


def test_missing_out_is_one_argparse_line(cli, tmp_path):
    res = cli("train", "pixelwise", "--data", "digits")
    res.error_line("genlab train: error:", "--out", "genlab train --help")
    assert res.code == 2 and not list(tmp_path.iterdir())
    cli("sample", tmp_path).error_line("genlab sample: error:", "--out")
    cli("evaluate", tmp_path).error_line("invalid choice: 'evaluate'")
    cli().error_line("genlab: error:", "command")


def test_config_file_that_is_not_yaml(cli, tmp_path, device):
    bad = tmp_path / "cfg.yaml"
    bad.write_text("train: {steps: [\n")
    out = tmp_path / "run"
    args = train_args(out, device.type, "--config", bad, steps=5)
    _fails_and_writes_nothing(cli, out, args, "cfg.yaml", "not valid YAML")
    bad.write_text("train: 5\n")
    _fails_and_writes_nothing(cli, out, args, "config section 'train'")


def test_missing_mnist_names_the_files_and_where(cli, tmp_path):
    empty, out = tmp_path / "empty", tmp_path / "run"
    empty.mkdir()
    args = ["train", "pixelwise", "--data", "mnist", "--data-dir", empty, "--out", out]
    line = _fails_and_writes_nothing(cli, out, args, "mnist not found", "--data-dir", "GENLAB_DATA")
    for name in IDX_NAMES:
        assert name in line
    assert str(empty) in line


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_idx_file(cli, tmp_path, gz):
    import gzip

    folder = write_mnist(tmp_path / "data")
    victim = folder / "t10k-images-idx3-ubyte"
    data = victim.read_bytes()[:-100]
    if gz:
        victim.unlink()
        victim = victim.with_name(victim.name + ".gz")
        data = gzip.compress(data)
    victim.write_bytes(data)
    out = tmp_path / "run"
    args = ["train", "pixelwise", "--data", "mnist", "--data-dir", tmp_path / "data", "--out", out]
    _fails_and_writes_nothing(cli, out, args, victim.name, "truncated", "re-download")


def test_training_that_fails_midway_leaves_no_half_run(cli, tmp_path, device, monkeypatch):
    def boom(self):
        raise RuntimeError("simulated crash\nsecond line")

    monkeypatch.setattr(genlab.train.Trainer, "fit", boom)
    out = tmp_path / "run"
    res = cli(*train_args(out, device.type, steps=5))
    assert res.code == 1
    res.error_line("internal error", "RuntimeError: simulated crash", "GENLAB_DEBUG")
    assert not out.exists()
    out.mkdir()  # an empty folder given as --out stays, still empty
    cli(*train_args(out, device.type, steps=5)).error_line("simulated crash")
    assert out.is_dir() and not any(out.iterdir())


# ---------------------------------------------------------------- existing runs are protected


def test_existing_run_needs_force(cli, run_copy, device):
    before = snapshot(run_copy)
    line = cli(*train_args(run_copy, device.type, steps=5)).error_line("already holds a run")
    assert "--force" in line and "--resume" in line
    assert snapshot(run_copy) == before
    # --force replaces it with the new run
    res = cli(*train_args(run_copy, device.type, "--force", steps=5))
    assert res.code == 0, res.err
    assert "steps: 5" in (run_copy / "config.yaml").read_text()


def test_force_refuses_a_folder_that_is_not_a_run(cli, tmp_path, device):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    (precious / "config.yaml").write_text("project: not genlab\n")
    before = snapshot(precious)
    for flags in ([], ["--force"]):
        res = cli(*train_args(precious, device.type, *flags, steps=5))
        res.error_line("not a genlab run", "choose another --out")
        assert snapshot(precious) == before


def test_out_is_a_file(cli, tmp_path, device):
    target = tmp_path / "file"
    target.write_text("x")
    cli(*train_args(target, device.type, steps=5)).error_line("is a file")
    assert target.read_text() == "x"


@pytest.mark.parametrize("exists", [False, True])
def test_resume_a_folder_that_is_not_a_run(cli, tmp_path, exists):
    out = tmp_path / "run"
    if exists:
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    res = cli("train", "pixelwise", "--out", out, "--resume")
    res.error_line("cannot resume", "not a genlab run")
    assert out.exists() == exists
    if exists:
        assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_resume_and_force_together(cli, run_copy):
    res = cli("train", "pixelwise", "--out", run_copy, "--resume", "--force")
    res.error_line("--force", "--resume")


def test_resume_with_a_corrupt_trainer_state_changes_nothing(cli, run_copy):
    (run_copy / "trainer_state.pt").write_bytes(b"garbage" * 10)
    before = snapshot(run_copy)
    res = cli("train", "pixelwise", "--out", run_copy, "--resume", "--steps", 60, "--quiet")
    res.error_line("trainer_state.pt", "corrupt")
    assert snapshot(run_copy) == before


# ---------------------------------------------------------------- corrupt runs: sample and eval


def _sample_and_eval_fail(cli, run: Path, tmp_path: Path, device, *fragments: str) -> None:
    before = snapshot(run)
    out = tmp_path / "s.png"
    cli("sample", run, "-n", 4, "--out", out, "--device", device.type).error_line(*fragments)
    assert not out.exists()
    res = cli("eval", run, "--metrics", "bpd", "--json", "--device", device.type)
    res.error_line(*fragments)
    assert res.out == ""
    assert snapshot(run) == before


def test_corrupt_weights(cli, run_copy, tmp_path, device):
    for name in ("model.safetensors", "ema.safetensors"):
        (run_copy / name).write_bytes(b"\x00garbage" * 50)
    _sample_and_eval_fail(cli, run_copy, tmp_path, device, "ema.safetensors", "corrupt")


def test_truncated_weights(cli, run_copy, tmp_path, device):
    (run_copy / "ema.safetensors").unlink()
    path = run_copy / "model.safetensors"
    path.write_bytes(path.read_bytes()[:200])
    _sample_and_eval_fail(cli, run_copy, tmp_path, device, "model.safetensors", "corrupt")


def test_no_weights(cli, run_copy, tmp_path, device):
    for name in ("model.safetensors", "ema.safetensors"):
        (run_copy / name).unlink()
    _sample_and_eval_fail(cli, run_copy, tmp_path, device, "holds no weights")


def test_weights_that_do_not_fit_the_config(cli, run_copy, tmp_path, device):
    cfg = run_copy / "config.yaml"
    cfg.write_text(cfg.read_text().replace("levels: 17", "levels: 5"))
    _sample_and_eval_fail(cli, run_copy, tmp_path, device, "ema.safetensors", "does not fit")


CORRUPT_CONFIGS = {
    "not yaml": "family: pixelwise\ntrain: {steps: [\n",
    "not a mapping": "just words",
    "empty": "",
    "binary": "\udcff\udcfe\x00\x01",
    "no meta": "family: pixelwise\n",
    "unknown family": "family: nope\nmeta: {name: digits, shape: [1, 8, 8], levels: 17}\n",
    "bad shape": "family: pixelwise\nmeta: {name: digits, shape: 3, levels: 17}\n",
    "section not a mapping": (
        "family: pixelwise\ndata: 5\nmeta: {name: digits, shape: [1, 8, 8], levels: 17}\n"
    ),
    "bad value": (
        "family: pixelwise\nmodel: {prior: abc}\n"
        "meta: {name: digits, shape: [1, 8, 8], levels: 17}\n"
    ),
}


@pytest.mark.parametrize("case", list(CORRUPT_CONFIGS))
def test_corrupt_config(cli, run_copy, tmp_path, device, case):
    text = CORRUPT_CONFIGS[case]
    (run_copy / "config.yaml").write_bytes(text.encode("utf-8", "surrogateescape"))
    _sample_and_eval_fail(cli, run_copy, tmp_path, device, "config.yaml", "corrupt")


def test_not_a_run(cli, tmp_path, device):
    _sample_and_eval_fail(cli, tmp_path, tmp_path, device, "not a genlab run", "train one")


# ---------------------------------------------------------------- sample options


BAD_SAMPLE = {
    "jpg": (["--out", "{tmp}/x.jpg"], ["x.jpg", ".png", ".npz"]),
    "no folder": (["--out", "{tmp}/nope/x.png"], ["does not exist"]),
    "a folder": (["--out", "{tmp}/dir.png"], ["is a folder"]),
    "n zero": (["-n", "0", "--out", "{tmp}/x.png"], ["-n", "positive integer"]),
    "n text": (["-n", "many", "--out", "{tmp}/x.png"], ["-n", "'many'"]),
    "sampler": (["--sampler", "ddim", "--out", "{tmp}/x.png"], ["pixelwise", "'sampler'"]),
    "steps": (["--steps", "10", "--out", "{tmp}/x.npz"], ["pixelwise", "'steps'"]),
    "option": (["steps=10", "--out", "{tmp}/x.npz"], ["unknown pixelwise sampling option"]),
    "override": (["train.lr=1", "--out", "{tmp}/x.png"], ["unrecognized arguments"]),
}


@pytest.mark.parametrize("case", list(BAD_SAMPLE))
def test_bad_sample_arguments(cli, digits_run, tmp_path, device, case):
    extra, fragments = BAD_SAMPLE[case]
    (tmp_path / "dir.png").mkdir()
    before = snapshot(digits_run)
    args = [a.format(tmp=tmp_path) for a in extra]
    cli("sample", digits_run, *args, "--device", device.type).error_line(*fragments)
    assert [p.name for p in tmp_path.iterdir()] == ["dir.png"]
    assert snapshot(digits_run) == before


# ---------------------------------------------------------------- eval options


def _npz(path: Path, arr: np.ndarray | None = None, **arrays: np.ndarray) -> Path:
    with open(path, "wb") as f:
        np.savez(f, **({"samples": arr} if arr is not None else {}), **arrays)
    return path


def test_eval_unknown_metric(cli, digits_run, device):
    res = cli("eval", digits_run, "--metrics", "bpd,fid", "--device", device.type)
    res.error_line("unknown metric 'fid'", "did you mean 'fd'", "known: accuracy, bpd")
    cli("eval", digits_run, "--metrics", ",", "--device", device.type).error_line("no metric")


def test_embedding_metrics_of_a_generative_run(cli, digits_run, device):
    res = cli("eval", digits_run, "--metrics", "recall@1,map@r", "--device", device.type)
    res.error_line("recall@1, map@r", "has no embed", "representation model")


def test_eval_only_takes_data_overrides(cli, digits_run, device):
    res = cli("eval", digits_run, "--metrics", "bpd", "train.lr=1", "--device", device.type)
    res.error_line("only data.* and sample.* overrides", "train.lr")


EVAL_SAMPLES = {
    "wrong shape": (np.zeros((4, 2), np.int64), ["shape (4, 2)", "(N, 1, 8, 8)"]),
    "out of range": (np.full((4, 1, 8, 8), 17), ["0..16"]),
    "negative": (np.full((4, 1, 8, 8), -1), ["0..16"]),
    "fractions": (np.full((4, 1, 8, 8), 0.5), ["non-integer"]),
    "nan": (np.full((4, 1, 8, 8), np.nan), ["NaN"]),
    "empty": (np.zeros((0, 1, 8, 8), np.uint8), ["N >= 1"]),
}


@pytest.mark.parametrize("case", list(EVAL_SAMPLES))
def test_eval_samples_file_that_does_not_fit(cli, digits_run, tmp_path, device, case):
    arr, fragments = EVAL_SAMPLES[case]
    path = _npz(tmp_path / "s.npz", arr)
    res = cli("eval", digits_run, "--samples", path, "--metrics", "sharpness", "--json",
              "--device", device.type)  # fmt: skip
    res.error_line("s.npz", *fragments)
    assert res.out == ""


def test_eval_samples_file_that_is_not_an_npz(cli, digits_run, tmp_path, device):
    common = ["--metrics", "sharpness", "--device", device.type]
    res = cli("eval", digits_run, "--samples", tmp_path / "none.npz", *common)
    res.error_line("none.npz does not exist")
    text = tmp_path / "text.npz"
    text.write_text("hello")
    cli("eval", digits_run, "--samples", text, *common).error_line("text.npz", "not an .npz")
    other = _npz(tmp_path / "other.npz", images=np.zeros((4, 1, 8, 8)))
    res = cli("eval", digits_run, "--samples", other, *common)
    res.error_line("other.npz", "no array 'samples'", "images")


def test_mnist_run_evaluated_without_its_files(cli, tmp_path, device):
    data = tmp_path / "data"
    write_mnist(data)
    run = tmp_path / "run"
    res = cli("train", "pixelwise", "--data", "mnist", "--data-dir", data, "--out", run,
              "--steps", 3, "--quiet", "--device", device.type, "train.sample_every=0")  # fmt: skip
    assert res.code == 0, res.err
    shutil.rmtree(data)
    before = snapshot(run)
    res = cli("eval", run, "--metrics", "bpd", "--device", device.type)
    res.error_line("mnist not found", "--data-dir")
    assert snapshot(run) == before


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["study", "coupling", "--data", "nosuchdata"], ["unknown dataset 'nosuchdata'"]),
        (
            ["study", "contrastive", "--data", "toy2d:moons"],
            ["study contrastive cannot run on toy2d:moons", "classes 0-4"],
        ),
        (["study", "reverse_steps", "--data", "mnist"], ["mnist not found", "genlab fetch mnist"]),
        (
            ["report", "--studies", "coupling,self_supervised", "--data", "toy2d:moons"],
            ["study self_supervised cannot run on toy2d:moons", "--studies coupling"],
        ),
    ],
)
def test_study_and_report_on_data_they_cannot_use(cli, tmp_path, args, fragments):
    out = tmp_path / "out"
    _fails_and_writes_nothing(cli, out, [*args, "--out", out, "--device", "cpu"], *fragments)
