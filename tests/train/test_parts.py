"""Learning-rate schedule, EMA and batch order against independent computations."""

import math

import torch

from genlab.config import TrainConfig
from genlab.train.batching import EpochOrder
from genlab.train.ema import EMA
from genlab.train.optim import lr_at, make_optimizer


def test_lr_warmup_then_cosine_closed_form():
    cfg = TrainConfig(steps=110, warmup=10, lr=2.0, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == 2.0 * 1 / 10
    assert lr_at(9, cfg) == 2.0
    for s in (10, 35, 60, 109):
        t = (s - 10) / 100
        want = 0.2 + (2.0 - 0.2) * 0.5 * (1 + math.cos(math.pi * t))
        assert math.isclose(lr_at(s, cfg), want, rel_tol=1e-12)
    assert math.isclose(lr_at(110, cfg), 0.2)  # ends at lr * min_lr_ratio


def test_weight_decay_only_on_matrices():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4))
    opt = make_optimizer(model, TrainConfig(weight_decay=0.1))
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    assert decayed == {id(model[0].weight)}


def test_ema_matches_a_naive_loop():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    ema = EMA(model, decay=0.9)
    shadow = [p.detach().clone() for p in model.parameters()]
    for step in range(30):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        ema.update(model, step)
        d = min(0.9, (1 + step) / (10 + step))
        shadow = [
            d * s + (1 - d) * p.detach() for s, p in zip(shadow, model.parameters(), strict=True)
        ]
    for s, p in zip(shadow, ema.model.parameters(), strict=True):
        torch.testing.assert_close(p, s, rtol=1e-6, atol=1e-6)
    assert not any(p.requires_grad for p in ema.model.parameters())


def test_epoch_order_visits_every_example_once_per_epoch():
    order = EpochOrder(n=10, seed=3)
    stream = order.positions(0, 30)
    for e in range(3):
        assert sorted(stream[10 * e : 10 * (e + 1)].tolist()) == list(range(10))
    assert not torch.equal(stream[:10], stream[10:20])  # reshuffled each epoch
    # a batch that straddles an epoch boundary (batch 4 over n=10)
    assert order.batch(2, 4).tolist() == stream[8:12].tolist()


def test_ddp_rank_slices_union_to_the_single_process_batch():
    order = EpochOrder(n=37, seed=1)
    for step in range(12):
        whole = order.batch(step, 8)
        parts = torch.cat([order.batch(step, 8, rank=r, world=4) for r in range(4)])
        assert torch.equal(whole, parts)


def test_epoch_order_is_a_function_of_seed_and_step_only():
    a, b = EpochOrder(50, seed=7), EpochOrder(50, seed=7)
    b.positions(0, 500)  # a different cache history
    assert torch.equal(a.batch(31, 16), b.batch(31, 16))
    assert not torch.equal(a.batch(31, 16), EpochOrder(50, seed=8).batch(31, 16))
