"""Thread control: physical cores from the topology, OMP_NUM_THREADS, the allowed-CPU cap,
``--threads`` on the commands and its record in a run's config."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
import yaml

sys.path.insert(0, str(Path(__file__).parent / "cli"))
from cli_helpers import train_args  # noqa: E402

from genlab import threads  # noqa: E402
from genlab.cli import main  # noqa: E402


@pytest.fixture(autouse=True)
def _restore_threads(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "_chosen", None)
    yield
    torch.set_num_threads(before)


def _topology(root: Path, cores: dict[int, tuple[int, int]]) -> Path:
    """A fake /sys/devices/system/cpu: cpu number -> (package, core id)."""
    for cpu, (package, core) in cores.items():
        topo = root / f"cpu{cpu}" / "topology"
        topo.mkdir(parents=True)
        (topo / "physical_package_id").write_text(f"{package}\n")
        (topo / "core_id").write_text(f"{core}\n")
    return root


def test_physical_cores_count_hyperthread_siblings_once(tmp_path):
    # 2 packages x 2 cores x 2 hyper-threads: cpus 0-3 on package 0, 4-7 on package 1
    layout = {cpu: (cpu // 4, (cpu % 4) // 2) for cpu in range(8)}
    root = _topology(tmp_path, layout)
    assert threads.physical_cores(set(range(8)), root) == 4
    assert threads.physical_cores({0, 1}, root) == 1  # two siblings of one core
    assert threads.physical_cores({0, 2, 4}, root) == 3
    # same core id on another package is another core
    assert threads.physical_cores({0, 4}, root) == 2
    # no topology (another OS, a masked /sys): count the allowed CPUs
    assert threads.physical_cores({0, 1, 2}, tmp_path / "absent") == 3


def test_default_honours_omp_num_threads_then_counts_cores(monkeypatch):
    monkeypatch.setattr(threads, "physical_cores", lambda cpus, *a: 7)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.default_threads() == 3
    for bad in ("", "0", "two", "-1"):
        monkeypatch.setenv("OMP_NUM_THREADS", bad)
        assert threads.default_threads() == 7
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert threads.default_threads() == 7


def test_never_more_threads_than_allowed_cpus(monkeypatch, capsys):
    monkeypatch.setattr(threads, "allowed_cpus", lambda: {0})
    assert threads.use_threads(4) == 1 and torch.get_num_threads() == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "4 threads asked for" in err[0] and "using 1" in err[0]
    with pytest.raises(ValueError, match="at least 0"):
        threads.use_threads(-1)


def test_a_chosen_count_is_what_zero_means_afterwards(monkeypatch):
    monkeypatch.setattr(threads, "allowed_cpus", lambda: {0, 1, 2, 3})
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.choose_threads(2) == 2
    assert threads.use_threads(0) == 2 and torch.get_num_threads() == 2
    assert threads.use_threads(1) == 1  # an explicit count still wins


@pytest.mark.parametrize("count", [1, 2])
def test_train_threads_flag_is_used_and_recorded(tmp_path, count, capsys):
    out = tmp_path / f"run{count}"
    assert main([str(a) for a in train_args(out, "cpu", "--threads", count, steps=2)]) == 0
    used = min(count, len(threads.allowed_cpus()))
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["train"]["threads"] == used
    assert torch.get_num_threads() == used


def test_default_run_records_the_resolved_count(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = tmp_path / "run"
    assert main([str(a) for a in train_args(out, "cpu", steps=2)]) == 0
    assert yaml.safe_load((out / "config.yaml").read_text())["train"]["threads"] == 1


def test_threads_given_twice_or_zero_is_one_clear_error(tmp_path, capsys):
    args = train_args(tmp_path / "r", "cpu", "--threads", 1, "train.threads=2", steps=2)
    assert main([str(a) for a in args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "given twice" in err[0] and "--threads 1" in err[0]
    assert main([str(a) for a in train_args(tmp_path / "z", "cpu", "--threads", 0)]) == 2
    assert "positive integer" in capsys.readouterr().err
    assert not (tmp_path / "r").exists() and not (tmp_path / "z").exists()


@pytest.mark.parametrize("command", ["sample", "eval", "study", "report"])
def test_every_long_command_takes_threads(command, monkeypatch):
    seen = []
    monkeypatch.setattr(threads, "choose_threads", lambda n=0: seen.append(n) or 1)

    def stop(*args, **kwargs):
        raise KeyboardInterrupt  # stop right after the threads are set

    import genlab.report
    import genlab.runs
    import genlab.studies

    monkeypatch.setattr(genlab.runs, "load_run", stop)
    monkeypatch.setattr(genlab.studies, "run_study", stop)
    monkeypatch.setattr(genlab.report, "build_report", stop)
    extra = {
        "sample": ["RUN", "--out", "x.png"],
        "eval": ["RUN"],
        "study": ["dequantization", "--out", "o"],
        "report": ["--out", "o"],
    }[command]
    assert main([command, *extra, "--threads", "1"]) == 130
    assert seen == [1]


def test_native_pools_follow_torch_threads_in_a_fresh_process():
    """numpy's and scipy's OpenBLAS and scikit-learn's OpenMP size themselves by the
    machine: after use_threads(1) and a linear probe (which loads scikit-learn's pools)
    every pool in the process runs one thread. A fresh process, so nothing earlier in
    the test session limited them, with the pools' own sizing left to the machine."""
    import os
    import subprocess
    import sys

    code = (
        "import json, torch\n"
        "from threadpoolctl import threadpool_info\n"
        "from genlab import threads\n"
        "from genlab.metrics.probe import linear_probe\n"
        "before = [p['num_threads'] for p in threadpool_info()]\n"
        "threads.use_threads(1)\n"
        "x, y = torch.randn(40, 3), torch.arange(40) % 2\n"
        "linear_probe(x, y, x, y)\n"
        "after = [p['num_threads'] for p in threadpool_info()]\n"
        "print(json.dumps([before, after]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env["OPENBLAS_NUM_THREADS"] = "2"  # as on a 2-core machine with nothing set, anywhere
    env["OMP_NUM_THREADS"] = "2"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    before, after = json.loads(out.stdout.strip().splitlines()[-1])
    assert max(before) == 2  # the test sees the machine-sized pools it is about
    assert after and set(after) == {1}
