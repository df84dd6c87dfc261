"""NT-Xent (Chen et al. 2020, "SimCLR", Eq. 1; supervised: Khosla et al. 2020, Eq. 2), the
contrastive loss of the simclr and triplet families, and the label masks of its pairs.

For a positive pair (a, p): ``-log(exp(s_ap / t) / (exp(s_ap / t) + sum_n exp(s_an / t)))``
over a's negatives n, with s the cosine similarity and t the temperature, averaged over
positive pairs. It lives here, below both families, so that neither imports the other.
"""

from __future__ import annotations

import torch
from torch import nn

from genlab.metrics.distances import cosine_similarity

__all__ = ["NTXentLoss", "label_masks", "nt_xent", "supervised_nt_xent"]


def label_masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(positive, negative) bool (B, B): same label and not itself; different label."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def supervised_nt_xent(
    embeddings: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1
) -> torch.Tensor:
    """NT-Xent with every same-label pair as a positive, averaged over positive pairs.

    For each ordered pair (a, p), a != p, y_a == y_p:
    ``logaddexp(s_ap, logsumexp_n s_an) - s_ap``, s = cosine similarity / temperature,
    n over a's other-label samples (none: the pair's loss is 0). 0 with no pair.
    """
    if embeddings.dim() != 2 or labels.shape != embeddings.shape[:1]:
        raise ValueError(
            f"NT-Xent takes embeddings (B, D) and labels (B,), got {tuple(embeddings.shape)} "
            f"and {tuple(labels.shape)}"
        )
    sim = cosine_similarity(embeddings) / temperature  # (B, B)
    positive, negative = label_masks(labels)
    has_negative = negative.any(1, keepdim=True)  # (B, 1)
    # rows without a negative are zeroed before logsumexp: an all -inf row has NaN gradients
    scores = torch.where(has_negative, sim.masked_fill(~negative, float("-inf")), 0.0)
    log_negatives = torch.logsumexp(scores, dim=1, keepdim=True)  # (B, 1)
    log_negatives = torch.where(has_negative, log_negatives, float("-inf")).squeeze(1)
    a, p = positive.nonzero(as_tuple=True)  # (P,)
    s_ap = sim[a, p]
    losses = torch.logaddexp(s_ap, log_negatives[a]) - s_ap  # (P,)
    return losses.sum() / max(len(losses), 1)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SimCLR's NT-Xent for two views z1, z2 (B, D): row i of z1 and of z2 are positives.

    Each of the 2B samples is scored against its partner and the 2B - 2 others;
    mean cross-entropy over the 2B anchors (SimCLR Eq. 1 averaged over the batch).
    """
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(
            f"NT-Xent takes two views of equal shape (B, D), got {z1.shape}, {z2.shape}"
        )
    pairs = torch.arange(len(z1), device=z1.device).repeat(2)  # (2B,) view i and i + B share one
    return supervised_nt_xent(torch.cat([z1, z2]), pairs, temperature)


class NTXentLoss(nn.Module):
    """``loss(z1, z2)`` for two views (SimCLR); ``loss.with_labels(embeddings, labels)``
    with every same-label pair a positive. ``temperature`` > 0 divides cosine similarities.
    """

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"NTXentLoss needs a temperature > 0, got {temperature}")
        self.temperature = temperature

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        return nt_xent(z1, z2, self.temperature)

    def with_labels(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return supervised_nt_xent(embeddings, labels, self.temperature)
