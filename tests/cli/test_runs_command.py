"""``genlab runs`` and the end-of-run summary: every state a run folder can be in, read
from the folder alone; ``--minutes`` and ``--steps`` together refused; ``--data-dir``
taken by every command that reads data."""

from __future__ import annotations

import pytest

from genlab.cli import main
from genlab.runs import make_config, train_run
from genlab.runs.summary import find_runs, summarize

OVER = {"data.name": "digits", "train.progress": "false", "train.sample_every": "0"}


def interrupted_at(step: int):
    def stop(at, _terms):
        if at == step:
            raise KeyboardInterrupt

    return stop


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    over = OVER | {"train.steps": "40", "train.eval_every": "10", "train.log_every": "5"}
    train_run(make_config("vae", overrides=over), root / "done")
    cut = over | {"train.ckpt_every": "20", "train.ckpt_minutes": "0"}
    with pytest.raises(KeyboardInterrupt):
        train_run(
            make_config("vae", overrides=cut),
            root / "group" / "cut",
            callbacks=[interrupted_at(30)],
        )
    early = over | {"train.ckpt_every": "1000", "train.ckpt_minutes": "0"}
    with pytest.raises(KeyboardInterrupt):
        train_run(
            make_config("vae", overrides=early), root / "early", callbacks=[interrupted_at(7)]
        )
    (root / "not-a-run").mkdir()
    return root


def test_each_state_is_read_off_the_folder(runs):
    assert [p.relative_to(runs).as_posix() for p in find_runs(runs)] == [
        "done",
        "early",
        "group/cut",
    ]
    done, cut, early = (summarize(runs / n) for n in ("done", "group/cut", "early"))
    assert (done.steps_done, done.steps_planned, done.state) == (40, 40, "finished")
    assert done.val_name == "bpd" and done.val_last > 0 and done.best_step in (10, 20, 30, 40)
    assert done.seconds > 0
    assert (cut.steps_done, cut.state) == (20, "stopped at step 20 (resumable)")
    assert early.state.startswith("no checkpoint (step 5 logged") and not early.lines()[
        -1
    ].startswith("  next")
    text = "\n".join(done.lines())
    assert "step 40 of 40" in text and "validation bpd:" in text
    assert f"next: genlab eval {runs / 'done'}" in text


def test_runs_command_lists_them(runs, capsys):
    assert main(["runs", str(runs)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["run", "family", "data", "steps", "validation", "minutes", "state"]
    rows = {line.split()[0]: line for line in out[1:]}
    assert set(rows) == {"done", "early", "group/cut"}
    assert "40/40" in rows["done"] and "finished" in rows["done"]
    assert "20/40" in rows["group/cut"] and "resumable" in rows["group/cut"]
    assert main(["runs", str(runs / "not-a-run")]) == 0
    assert "no run folders" in capsys.readouterr().out
    assert main(["runs", str(runs / "missing")]) == 2


def test_minutes_and_steps_together_are_refused(tmp_path, capsys):
    code = main(["train", "vae", "--data", "digits", "--out", str(tmp_path / "r"), "--steps", "5",
                 "--minutes", "1"])  # fmt: skip
    assert code == 2 and "give one" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("command", ["study", "report"])
def test_study_and_report_take_data_dir(command, tmp_path, capsys):
    """The folder is searched first: broken MNIST files there are what the command reads
    (and refuses, naming them), even where a good MNIST sits in a later folder."""
    mine = tmp_path / "mine" / "mnist"
    mine.mkdir(parents=True)
    for name in ("train-images", "train-labels", "t10k-images", "t10k-labels"):
        kind = "idx3" if "images" in name else "idx1"
        (mine / f"{name}-{kind}-ubyte").write_bytes(b"not an IDX file")
    args = [command] + (["coupling"] if command == "study" else ["--studies", "coupling"])
    code = main([*args, "--budget", "quick", "--out", str(tmp_path / "o"), "--data", "mnist",
                 "--data-dir", str(tmp_path / "mine")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and str(tmp_path / "mine") in err, err


def test_report_workers_search_the_data_dir_first(tmp_path):
    """Each study runs in a spawned process: its initializer carries --data-dir there."""
    from genlab.data import LoadOptions, data_roots, use_data_dir
    from genlab.report.build import _start_worker

    try:
        _start_worker(1, str(tmp_path))
        assert data_roots(LoadOptions())[0] == tmp_path
        assert data_roots(LoadOptions(data_dir="elsewhere"))[0].name == "elsewhere"
    finally:
        use_data_dir(None)
    assert data_roots(LoadOptions())[0] != tmp_path
