"""Metric learning: triplet miners and losses, and the triplet family. The distances
(smaller = closer; :mod:`genlab.metrics.distances`) and NT-Xent
(:mod:`genlab.nn.contrastive`) live in the layers below and are re-exported here.

Strategies are passed in as constructor arguments::

    loss = TripletMarginLoss(0.2, distance=Euclidean(), miner=SemiHardMiner(0.2))
    value = loss(embeddings, labels)  # embeddings (B, D), labels (B,)
"""

from genlab.family import Family
from genlab.metric.losses import (
    TripletMarginLoss,
    geometry_stress,
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
from genlab.metric.model import TripletConfig, TripletModel, build_triplet, make_miner
from genlab.metrics.distances import Cosine, Distance, Euclidean
from genlab.nn.contrastive import NTXentLoss, nt_xent, supervised_nt_xent
from genlab.nn.encoder import TRAIN_DEFAULTS

__all__ = [
    "TRIPLET_FAMILY",
    "BatchAllMiner",
    "BatchHardMiner",
    "Cosine",
    "Distance",
    "Euclidean",
    "Miner",
    "NTXentLoss",
    "RandomMiner",
    "SemiHardMiner",
    "TripletConfig",
    "TripletMarginLoss",
    "TripletModel",
    "TripletRanges",
    "Triplets",
    "build_triplet",
    "geometry_stress",
    "make_miner",
    "nt_xent",
    "supervised_nt_xent",
    "triplet_margin_loss",
    "triplet_margin_terms",
]

TRIPLET_FAMILY = Family(
    name="triplet",
    config=TripletConfig,
    build=build_triplet,
    kind="representation",
    defaults=dict(TRAIN_DEFAULTS),
    description="metric embedding: triplet margin loss with a miner (or supervised NT-Xent)",
)
