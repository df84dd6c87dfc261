"""The ``triplet`` family: a metric embedding learnt from labels.

The encoder (:class:`genlab.nn.encoder.Encoder`) maps each example to an embedding
(L2-normalised with ``normalize``), trained with the triplet margin loss
``relu(d(a,p) - d(a,n) + margin)`` over the triplets a miner picks in each batch
(Schroff et al. 2015, Eq. 1; miners: Hermans et al. 2017), or with the supervised
NT-Xent where every same-label pair is a positive (``loss=ntxent``; Khosla et al. 2020,
Eq. 2).

The aim is an embedding that also ranks classes never seen in training (the contrastive
study: classes 0-4 for training, 5-9 for retrieval). The metric loss alone is zero once
each seen class is a tight cluster, and nothing in it keeps the directions that separate
other classes. Two terms that know nothing of the classes can: ``anchor *
geometry_stress(e, x)`` keeps the batch's distances proportional to the input's (metric
MDS stress), and, with ``augment``, ``invariance * |e(v1) - e(v2)|^2`` pulls two jittered
views of an image together (JITTER: small crops, rotations, shifts, which change no
class). The metric loss then bends that geometry towards the seen classes.

How each default was chosen (no test image and no class the contrastive study tests on,
5-9, was read for any of them):

- ``augment``, ``invariance``, ``anchor``, ``embed_dim``: by benchmarks/triplet_defaults.py,
  a small search (jitter on/off, invariance weight 0/10/50, anchor weight 0/10/50,
  embedding size 32/128) on class-disjoint validation inside digits' classes 0-4: each
  setting trained on three of them (200 steps x 128) and scored by MAP@R among the TRAIN
  images of the other two, never trained on, in two rotating folds. The defaults are the
  row with the highest mean validation MAP@R; every row, its SE and its paired
  difference from the chosen one are in benchmarks/results/triplet_defaults.json. The
  anchor is what matters there (without it validation MAP@R falls by more than a third;
  with jitter views, a weaker anchor, a weaker view term or a narrower embedding lose
  5-8 SE of the paired difference); the jitter-view term at weight 50 loses about 3 SE;
  jitter as plain augmentation (no view term) is within 1 SE of no jitter, so that
  choice is not resolved by this validation and the cheaper one (no jitter) has the
  higher mean. The SEs are over validation queries, one training seed per fold; longer
  training (the study's full 2000 steps) was not searched.
- ``loss``, ``miner``, ``margin``: set by hand (batch-all mining, Hermans et al. 2017,
  "BA+"; margin 0.2, Schroff et al. 2015), not searched: the contrastive study trains each
  miner, margin and NT-Xent as its own row and picks among them on validation: on
  held-out train images of the seen classes for its seen-class checks, class-disjoint
  for its unseen-class ones.
- ``distance``, ``normalize`` (Euclidean on the unit sphere, Schroff et al. 2015) and
  ``temperature`` (0.1, Khosla et al. 2020): the papers' settings, not tuned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from genlab.config import ranged
from genlab.data.augment import AugmentConfig, augment, two_views
from genlab.data.dataset import DataMeta
from genlab.errors import ConfigError, GenlabError
from genlab.metric.losses import TripletMarginLoss, geometry_stress
from genlab.metric.miners import BatchAllMiner, BatchHardMiner, Miner, RandomMiner, SemiHardMiner
from genlab.metrics.distances import Distance, as_distance
from genlab.nn.contrastive import NTXentLoss
from genlab.nn.encoder import Encoder, EncoderConfig, spawn_generator

__all__ = [
    "JITTER",
    "MINERS",
    "TripletConfig",
    "TripletModel",
    "build_triplet",
    "make_miner",
]

MinerName = Literal["random", "batch_hard", "batch_all", "semi_hard"]
MINERS: tuple[str, ...] = ("random", "batch_hard", "batch_all", "semi_hard")


@dataclass(frozen=True)
class TripletConfig(EncoderConfig):
    """Options of the ``triplet`` family (backbone options from EncoderConfig)."""

    # chosen on class-disjoint validation (module docstring)
    embed_dim: int = ranged(128, lambda v: v >= 1, "at least 1")
    loss: Literal["triplet", "ntxent"] = "triplet"
    # in units of the distance; semi_hard mines inside it, so there it must be > 0
    margin: float = ranged(0.2, lambda v: v >= 0, "at least 0")
    distance: Literal["euclidean", "cosine"] = "euclidean"
    miner: MinerName = "batch_all"
    normalize: bool = True  # embeddings on the unit sphere (distances then in [0, 2])
    temperature: float = ranged(0.1, lambda v: v > 0, "positive")  # loss=ntxent
    augment: bool = False  # small geometric jitter (JITTER), in training only
    # anchor: the input geometry kept, ``anchor * geometry_stress``; invariance: two
    # jittered views of an image pulled together, ``invariance * |e(v1) - e(v2)|^2``
    anchor: float = ranged(50.0, lambda v: v >= 0, "at least 0 (0: no geometry term)")
    # (the view term needs augment=True; augment, anchor, invariance: module docstring)
    invariance: float = ranged(0.0, lambda v: v >= 0, "at least 0 (0: no view term)")


def make_miner(name: str, margin: float, distance: Distance) -> Miner:
    """The miner called ``name`` (one of :data:`MINERS`), mining with ``distance``.

    ``batch_all`` keeps only the triplets with a positive hinge, so the mean loss
    averages the active ones (Hermans et al. 2017, Sec. 2, "BA+"), not a mass of zeros.
    """
    if name == "random":
        return RandomMiner(distance=distance)
    if name == "batch_hard":
        return BatchHardMiner(distance=distance)
    if name == "batch_all":
        return BatchAllMiner(margin=margin, distance=distance)
    if name == "semi_hard":
        return SemiHardMiner(margin=margin, distance=distance)
    raise ConfigError(f"model.miner={name}: use one of {'|'.join(MINERS)}")


# Jitter that leaves any class unchanged (no flip, no cutout, no noise), so an invariance
# learnt from it can transfer to classes never seen; set by hand, not searched. Used
# only with augment=True (off by default: see the module docstring).
JITTER = AugmentConfig(crop_scale=(0.85, 1.0), rotate_degrees=10.0, translate=0.1)


class TripletModel(nn.Module):
    """``loss(x, y)``: triplet (or supervised NT-Xent) loss of labelled embeddings;
    ``embed(x)``: the embeddings (N, embed_dim), unit-norm with ``normalize``."""

    def __init__(self, config: TripletConfig, meta: DataMeta) -> None:
        super().__init__()
        self.config, self.meta = config, meta
        self.encoder = Encoder.from_config(config, meta)
        distance: Distance = as_distance(config.distance)
        miner = make_miner(config.miner, config.margin, distance)
        self.triplet = TripletMarginLoss(config.margin, distance=distance, miner=miner)
        self.ntxent = NTXentLoss(config.temperature)
        self.augment = JITTER if config.augment and self.encoder.is_image else None

    def project(self, h: torch.Tensor) -> torch.Tensor:
        """Model-space batch (N, *shape) -> embeddings (N, embed_dim)."""
        e = self.encoder(h)
        return F.normalize(e, dim=1) if self.config.normalize else e

    def loss(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        *,
        step: int | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The metric loss of the batch's embeddings with labels ``y`` (N,).

        Logs ``active_fraction``: the share of mined triplets with a positive hinge
        (``loss=triplet``).
        """
        if y is None:
            raise GenlabError(
                "the triplet family needs class labels, and this batch has none: "
                "train it on a labelled dataset (e.g. digits)"
            )
        c = self.config
        h = self.encoder.centered(x)
        logs: dict[str, torch.Tensor] = {}
        if not (self.training and self.augment is not None):
            e = self.project(h)
        elif c.invariance > 0:  # two views in one encoder pass, as SimCLR
            g = generator if generator is not None else spawn_generator(h.device)
            e, e2 = self.project(torch.cat(two_views(h, self.augment, generator=g))).chunk(2)
            logs["view_distance"] = (e - e2).square().sum(1).mean()
        else:
            g = generator if generator is not None else spawn_generator(h.device)
            e = self.project(augment(h, self.augment, generator=g))
        if c.loss == "ntxent":
            loss = self.ntxent.with_labels(e, y)
        else:
            loss, stats = self.triplet.with_stats(e, y)
            logs["active_fraction"] = torch.tensor(stats["active_fraction"], device=loss.device)
        if c.anchor > 0 and len(e) > 2:
            logs["stress"] = geometry_stress(e, h.flatten(1))
            loss = loss + c.anchor * logs["stress"]
        if "view_distance" in logs:
            loss = loss + c.invariance * logs["view_distance"]
        return loss, {k: v.detach() for k, v in logs.items()}

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Data-space batch (N, *shape) -> embeddings (N, embed_dim), no augmentation."""
        return self.project(self.encoder.centered(x))


def build_triplet(cfg: TripletConfig, meta: DataMeta) -> TripletModel:
    """The family's builder: labelled data, and options that fit together."""
    if meta.num_classes is None:
        raise ConfigError(
            f"the triplet family needs class labels and dataset {meta.name!r} has none: "
            "use a labelled dataset (e.g. digits)"
        )
    if cfg.augment and len(meta.shape) != 3:
        raise ConfigError(
            f"model.augment=true augments images and {meta.name!r} holds vectors "
            f"{tuple(meta.shape)}: set model.augment=false"
        )
    if cfg.miner == "semi_hard" and cfg.margin == 0:
        raise ConfigError(
            "model.margin=0 leaves model.miner=semi_hard no negatives to mine: "
            "set model.margin > 0 or another miner"
        )
    return TripletModel(cfg, meta)
