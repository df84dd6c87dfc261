"""The one trainer on a tiny model: divergence guard, selection, logs, options."""

import json
import math
import sys
from pathlib import Path

import pytest
import torch

from genlab import registry
from genlab.errors import TrainingDiverged
from genlab.runs import load_run, make_config, train_run

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def toy_family(monkeypatch):
    monkeypatch.setitem(registry.FAMILIES, "toy", "toy_family:FAMILY")


def _cfg(device, **over):
    base = {
        "train.steps": "30",
        "train.progress": "false",
        "train.batch_size": "32",
        "train.device": device.type,
        "train.log_every": "5",
        "train.eval_every": "10",
    }
    base.update({k: str(v) for k, v in over.items()})
    return make_config("toy", overrides=base)


def test_non_finite_loss_stops_with_step_and_term(tmp_path, device):
    cfg = _cfg(device, **{"model.nan_at": 7, "train.ckpt_every": 5})
    with pytest.raises(TrainingDiverged) as err:
        train_run(cfg, tmp_path / "run")
    msg = str(err.value)
    assert "step 7" in msg and "extra=nan" in msg and "last checkpoint: step 5" in msg
    assert "\n" not in msg
    # the weights on disk are the good ones from step 5, never NaN
    run = load_run(tmp_path / "run", weights="model")
    assert all(torch.isfinite(p).all() for p in run.model.parameters())


def test_logs_validation_and_best_selection(tmp_path, device):
    cfg = _cfg(device, **{"train.val_fraction": 0.2})
    train_run(cfg, tmp_path / "run")
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    val = [r for r in records if r["kind"] == "val"]
    assert [r["step"] for r in train] == [5, 10, 15, 20, 25, 30]
    assert all({"loss", "ce", "lr", "images_per_s", "grad_norm"} <= r.keys() for r in train)
    assert [r["step"] for r in val] == [10, 20, 30]
    best = min(val, key=lambda r: r["bpd"])
    state = torch.load(tmp_path / "run" / "trainer_state.pt", weights_only=True)
    assert state["best_step"] == best["step"]
    assert math.isclose(state["best_value"], best["bpd"])
    assert load_run(tmp_path / "run").weights == "best"
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir())


def test_validation_is_a_seeded_disjoint_part_of_train(device):
    from genlab.data import Split
    from genlab.train import split_validation

    n = 1437
    split = Split(torch.arange(n), torch.arange(n) % 10)  # x holds each example's index
    cfg = _cfg(device, **{"train.val_fraction": 0.1}).train
    train, val = split_validation(split, cfg)
    assert len(val) == 144 and len(train) == n - 144
    assert set(train.x.tolist()).isdisjoint(val.x.tolist())
    assert sorted(train.x.tolist() + val.x.tolist()) == list(range(n))
    assert torch.equal(val.y, val.x % 10)  # labels travel with their examples
    again = split_validation(split, cfg)[1]
    assert torch.equal(again.x, val.x)  # seeded: the same part every run
    other = _cfg(device, **{"train.val_fraction": 0.1, "train.seed": 1}).train
    assert not torch.equal(split_validation(split, other)[1].x, val.x)


def test_validation_part_is_capped_at_val_max(device):
    """On a large train split the held-out part has a fixed size; the rest trains."""
    from genlab.data import Split
    from genlab.train import split_validation

    split = Split(torch.arange(60000))
    cfg = _cfg(device, **{"train.val_fraction": 0.1}).train
    train, val = split_validation(split, cfg)
    assert len(val) == cfg.val_max == 1000 and len(train) == 59000
    small = split_validation(Split(torch.arange(1437)), cfg)[1]
    assert len(small) == 144  # below the cap the fraction decides, as before


def test_warmup_is_at_most_a_tenth_of_the_run(device):
    from genlab.train.optim import lr_at, warmup_steps

    short = _cfg(device, **{"train.warmup": 200, "train.steps": 300, "train.lr": 1.0}).train
    assert warmup_steps(short) == 30
    assert lr_at(0, short) == pytest.approx(1 / 30) and lr_at(29, short) == pytest.approx(1.0)
    long = _cfg(device, **{"train.warmup": 200, "train.steps": 4000}).train
    assert warmup_steps(long) == 200


def test_checkpoint_by_wall_time_lets_a_stopped_run_resume(tmp_path, device):
    """ckpt_every far beyond the stop, but minutes elapsed: a checkpoint exists."""
    cfg = _cfg(device, **{"train.ckpt_every": 1000, "train.ckpt_minutes": 1e-9})

    def stop(step, _terms):
        if step == 12:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, tmp_path / "run", callbacks=[stop])
    state = torch.load(tmp_path / "run" / "trainer_state.pt", weights_only=True)
    assert state["step"] == 10  # the last log step (log_every 5) before the stop
    train_run(cfg, tmp_path / "run", resume=True)
    assert torch.load(tmp_path / "run" / "trainer_state.pt", weights_only=True)["step"] == 30


def test_time_shares_are_logged_and_the_bar_shows_bits_per_dim(tmp_path, device, capsys):
    over = {"train.steps": "30", "train.log_every": "5", "train.eval_every": "10"}
    over |= {"train.val_fraction": "0.2", "train.device": device.type, "train.sample_every": "0"}
    train_run(make_config("pixelwise", overrides=over), tmp_path / "run")
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    (time_rec,) = [r for r in records if r["kind"] == "time"]
    assert time_rec["train_seconds"] > 0 and time_rec["val_seconds"] > 0
    assert 0 < time_rec["val_share"] < 1
    err = capsys.readouterr().err
    assert "bpd=" in err and "val=" in err and "img/s=" in err


def test_bf16_autocast_trains(tmp_path, device):
    cfg = _cfg(device, **{"train.bf16": "true", "train.steps": 10})
    train_run(cfg, tmp_path / "run")
    run = load_run(tmp_path / "run")
    assert all(p.dtype == torch.float32 for p in run.model.parameters())


@pytest.mark.slow
def test_torch_compile_gives_the_same_losses(tmp_path, device):
    losses = {}
    for flag in ("false", "true"):
        cfg = _cfg(device, **{"train.compile": flag, "model.noise": 0, "train.steps": 10})
        train_run(cfg, tmp_path / flag)
        recs = [json.loads(x) for x in (tmp_path / flag / "metrics.jsonl").read_text().splitlines()]
        losses[flag] = [r["ce"] for r in recs if r["kind"] == "train"]
    assert losses["true"] == pytest.approx(losses["false"], rel=1e-3)


class _StepRecorder(torch.nn.Module):
    """A loss that records the step the trainer passes it."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.steps: list[int | None] = []

    def loss(self, x, y=None, *, step=None):
        self.steps.append(step)
        return (self.w - 1.0) ** 2, {}


def test_the_trainer_passes_its_step_to_the_loss(device):
    from genlab.config import TrainConfig
    from genlab.data import load_dataset
    from genlab.train import Trainer

    cfg = TrainConfig(
        steps=7, batch_size=8, progress=False, val_fraction=0.0, ema=0.0, sample_every=0
    )
    model = _StepRecorder()
    Trainer(model, load_dataset("digits"), cfg, None, device=device).fit()
    assert model.steps == list(range(7))
