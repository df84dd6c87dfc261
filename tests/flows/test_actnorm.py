"""ActNorm's data-dependent initialisation (Glow sec. 3.1)."""

from __future__ import annotations

import pytest
import torch

from genlab.flows.transforms import ActNorm


@pytest.mark.parametrize("shape", [(64, 5), (16, 3, 4, 4)], ids=["vector", "image"])
def test_init_batch_gets_zero_mean_unit_variance_once(shape: tuple[int, ...]):
    g = torch.Generator().manual_seed(0)
    x = 3.0 + 2.5 * torch.randn(shape, generator=g, dtype=torch.float64)
    layer = ActNorm(shape[1]).double().train()
    assert not bool(layer.initialized)
    y, ld = layer(x)
    dims = [0, *range(2, x.dim())]
    torch.testing.assert_close(y.mean(dim=dims), torch.zeros(shape[1], dtype=torch.float64))
    torch.testing.assert_close(
        y.var(dim=dims, correction=0), torch.ones(shape[1], dtype=torch.float64), atol=1e-5, rtol=0
    )
    spatial = x[0, 0].numel()
    torch.testing.assert_close(ld, spatial * layer.log_scale.sum().expand(shape[0]))
    state = {k: v.clone() for k, v in layer.state_dict().items()}
    layer(x * 10 + 1)  # a second batch must not re-initialise
    for k, v in layer.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_no_init_in_eval_and_flag_survives_state_dict():
    x = torch.randn(8, 4) * 3 + 1
    layer = ActNorm(4).eval()
    y, _ = layer(x)
    assert torch.equal(y, x) and not bool(layer.initialized)
    layer.train()(x)
    fresh = ActNorm(4).train()
    fresh.load_state_dict(layer.state_dict())
    assert bool(fresh.initialized)
    assert torch.equal(fresh(x + 5)[0], layer(x + 5)[0])


def test_constant_features_keep_unit_scale():
    from genlab.flows.transforms import ActNorm

    x = torch.randn(64, 3)
    x[:, 1] = 2.0  # constant on the batch
    norm = ActNorm(3)
    norm.initialize(x)
    y, _ = norm(x)
    assert float(norm.log_scale[1]) == 0.0 and torch.allclose(y[:, 1], torch.zeros(64))
    torch.testing.assert_close(y[:, [0, 2]].std(0, correction=0), torch.ones(2), atol=1e-4, rtol=0)


def test_loading_an_uninitialised_state_initialises_again():
    """The layer caches that it is initialised; a loaded state dict decides again."""
    fresh = ActNorm(3).state_dict()
    norm = ActNorm(3).train()
    norm(torch.randn(64, 3) * 5 + 2)
    norm.load_state_dict(fresh)
    x = torch.randn(256, 3) * 3 - 1
    y, _ = norm(x)
    torch.testing.assert_close(y.mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.std(0, correction=0), torch.ones(3), atol=1e-4, rtol=0)


def test_an_initialised_layer_compiles_as_one_graph():
    """After initialisation forward never reads the flag back (fullgraph raises on a
    graph break)."""
    norm = ActNorm(4).train()
    x = torch.randn(16, 4, 3, 3)
    norm(x)
    torch._dynamo.reset()
    compiled = torch.compile(norm, fullgraph=True, backend="eager")
    y, ld = compiled(x)
    y_ref, ld_ref = norm(x)
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(ld, ld_ref)
