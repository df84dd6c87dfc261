"""Metric learning: distances (smaller = closer), triplet miners and losses.

Strategies are passed in as constructor arguments::

    loss = TripletMarginLoss(0.2, distance=Euclidean(), miner=SemiHardMiner(0.2))
    value = loss(embeddings, labels)  # embeddings (B, D), labels (B,)
"""

from genlab.metric.distances import Cosine, Distance, Euclidean
from genlab.metric.losses import (
    NTXentLoss,
    TripletMarginLoss,
    nt_xent,
    supervised_nt_xent,
    triplet_margin_loss,
    triplet_margin_terms,
)
from genlab.metric.miners import (
    BatchAllMiner,
    BatchHardMiner,
    Miner,
    RandomMiner,
    SemiHardMiner,
    TripletRanges,
    Triplets,
)

__all__ = [
    "BatchAllMiner",
    "BatchHardMiner",
    "Cosine",
    "Distance",
    "Euclidean",
    "Miner",
    "NTXentLoss",
    "RandomMiner",
    "SemiHardMiner",
    "TripletMarginLoss",
    "TripletRanges",
    "Triplets",
    "nt_xent",
    "supervised_nt_xent",
    "triplet_margin_loss",
    "triplet_margin_terms",
]
