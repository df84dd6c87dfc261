"""Embedding metrics: names, batched embedding, retrieval entries against the functions."""

from __future__ import annotations

import pytest
import torch

from genlab.metrics.embedding import embed_all, is_embedding_metric, retrieval_metrics
from genlab.metrics.retrieval import map_at_r, recall_at_k


class Flatten(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.bn = torch.nn.BatchNorm1d(4)  # batch statistics in train mode only

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(x.float().flatten(1)[:, :4]) * self.scale


@pytest.mark.parametrize(
    ("name", "ok"),
    [("recall@1", True), ("recall@10", True), ("map@r", True), ("probe", True), ("knn", True)]
    + [("recall@0", False), ("recall@", False), ("recall@k", False), ("fd", False)],
)
def test_metric_names(name, ok):
    assert is_embedding_metric(name) is ok


def test_embed_all_is_batched_in_eval_mode_and_restores_the_mode():
    model = Flatten().train()
    x = torch.randn(1030, 1, 2, 2)
    emb = embed_all(model, x, batch_size=100)
    model.eval()
    torch.testing.assert_close(emb, model.embed(x).detach())
    model.train()
    embed_all(model, x)
    assert model.training


def test_retrieval_entries_equal_the_metric_functions():
    g = torch.Generator().manual_seed(0)
    emb, y = torch.randn(60, 5, generator=g), torch.randint(0, 4, (60,), generator=g)
    out = retrieval_metrics(emb, y, ["recall@1", "recall@3", "map@r", "probe"])
    assert set(out) == {"recall@1", "recall@3", "map@r"}
    ref = recall_at_k(emb, y, ks=(1, 3))
    assert out["recall@1"] == pytest.approx(ref[1]) and out["recall@3"] == pytest.approx(ref[3])
    assert out["map@r"] == pytest.approx(map_at_r(emb, y))
    assert retrieval_metrics(emb, y, ["probe", "knn"]) == {}
