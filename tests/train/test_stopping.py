"""The signal handlers of a training run (genlab/train/stopping.py), signals raised in
this process: the first asks for a stop, the second stops at once, and the handlers
before the run come back; a second signal mid-run keeps the folder, which then says it
has no checkpoint to resume."""

from __future__ import annotations

import signal
import threading

import pytest

from genlab.cli import main
from genlab.runs import make_config, train_run
from genlab.train.stopping import StoppedAtOnce, StopSignals


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_first_signal_asks_second_stops_at_once(sig, capsys):
    before = signal.getsignal(sig)
    with StopSignals() as stop:
        signal.raise_signal(sig)
        assert stop.signum == sig  # asked, nothing raised
        assert "stopping after this step" in capsys.readouterr().err
        with pytest.raises(StoppedAtOnce) as err:
            signal.raise_signal(sig)
        assert err.value.signum == sig and isinstance(err.value, KeyboardInterrupt)
        assert signal.getsignal(sig) == before  # the second one restored the old handlers
    assert signal.getsignal(sig) == before


def test_off_the_main_thread_nothing_is_installed():
    seen = {}

    def run():
        with StopSignals():
            seen["handler"] = signal.getsignal(signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen["handler"] == before


def test_a_second_signal_mid_run_stops_at_once_and_keeps_the_folder(tmp_path, capsys):
    over = {"data.name": "digits", "train.steps": "200", "train.ckpt_every": "100"}
    over |= {"train.ckpt_minutes": "0", "train.progress": "false", "train.log_every": "1"}

    def twice(step, _terms):
        if step == 7:
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)

    run = tmp_path / "run"
    with pytest.raises(StoppedAtOnce):
        train_run(make_config("vae", overrides=over), run, callbacks=[twice])
    assert (run / "config.yaml").exists() and not (run / "trainer_state.pt").exists()
    code = main(["train", "vae", "--data", "digits", "--out", str(run), "--resume"])
    assert code == 2 and "has no checkpoint" in capsys.readouterr().err
