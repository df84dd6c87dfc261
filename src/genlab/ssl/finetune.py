"""The ``classifier`` family: the shared encoder plus a linear head, trained on labels.

Fine-tuning (``model.init=RUN``): the encoder starts from a representation run
(simclr, rotation, masked, triplet: any model with an ``encoder`` of the same backbone
options) and the whole network trains on the labels; ``model.freeze=true`` keeps the
encoder fixed, so only the head learns (a linear probe trained by the one trainer).
Without ``init`` it is the same network trained from scratch: the baseline that
pretraining must beat with the same labels. ``data.label_fraction`` chooses how many
labels (class-balanced, seeded by ``data.seed``).

The run layer (:mod:`genlab.warm_start`) copies the encoder weights through
:meth:`Classifier.warm_start` before the first step, never on load or resume, so a saved
classifier run holds all its weights and does not need the ``init`` run any more.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genlab.config import ranged
from genlab.data.augment import default_augment
from genlab.data.dataset import DataMeta
from genlab.errors import ConfigError
from genlab.family import Family
from genlab.nn.encoder import TRAIN_DEFAULTS, Encoder, EncoderConfig

__all__ = ["FAMILY", "Classifier", "ClassifierConfig", "build_classifier"]


@dataclass(frozen=True)
class ClassifierConfig(EncoderConfig):
    """Options of the ``classifier`` family (backbone options from EncoderConfig)."""

    init: str = ""  # a representation run whose encoder weights start training
    freeze: bool = False  # keep the encoder fixed: train the linear head only
    augment: bool = True  # the dataset's default augmentations on training batches
    # on the representation, before the linear head
    head_dropout: float = ranged(0.0, lambda v: 0 <= v < 1, "in [0, 1)")


class Classifier(nn.Module):
    """``loss(x, y)``: cross-entropy of the head's logits; ``embed(x)``: the encoder's h;
    ``predict(x)``: class indices (N,)."""

    def __init__(self, config: ClassifierConfig, meta: DataMeta) -> None:
        super().__init__()
        self.config, self.meta = config, meta
        self.encoder = Encoder.from_config(config, meta)
        self.drop = nn.Dropout(config.head_dropout)
        self.head = nn.Linear(config.embed_dim, int(meta.num_classes or 0))
        self.augment = default_augment(meta.name) if config.augment else None

    @property
    def init_run(self) -> str:
        """``model.init``: the representation run whose encoder starts training."""
        return self.config.init

    def warm_start(self, encoder: Encoder) -> None:
        """Copy the weights of ``encoder`` (the ``model.init`` run's) into this encoder."""
        differ = self.encoder.differences(encoder)
        if differ:
            raise ConfigError(
                f"model.init={self.config.init}: its encoder differs from this one; "
                f"set {' '.join(differ)}"
            )
        if encoder.shape != self.encoder.shape:
            raise ConfigError(
                f"model.init={self.config.init}: its encoder reads data of shape "
                f"{encoder.shape}, this run's data has shape {self.encoder.shape}"
            )
        self.encoder.load_state_dict(encoder.state_dict())

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """Model-space batch (N, *shape) -> class logits (N, classes)."""
        if self.config.freeze:
            with torch.no_grad():
                rep = self.encoder(h)
        else:
            rep = self.encoder(h)
        return self.head(self.drop(rep))

    def loss(
        self, x: torch.Tensor, y: torch.Tensor | None = None, *, step: int | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if y is None:
            raise ConfigError("the classifier family trains on labels; this data has none")
        logits = self.logits(self.encoder.inputs(x, self.augment))
        loss = F.cross_entropy(logits, y)
        return loss, {"accuracy": (logits.argmax(1) == y).float().mean().detach()}

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Data-space batch -> h (N, embed_dim)."""
        return self.encoder.embed(x)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Data-space batch -> predicted classes (N,)."""
        return self.logits(self.encoder.centered(x)).argmax(1)


def build_classifier(cfg: ClassifierConfig, meta: DataMeta) -> Classifier:
    """The family's builder: needs labelled data."""
    if not meta.num_classes:
        raise ConfigError(f"the classifier family needs labelled data; {meta.name} has none")
    return Classifier(cfg, meta)


FAMILY = Family(
    name="classifier",
    config=ClassifierConfig,
    build=build_classifier,
    kind="representation",
    defaults={
        **TRAIN_DEFAULTS,
        "train.steps": 1000,
        "train.batch_size": 128,
        "train.warmup": 50,
        # few labels leave nothing to hold out: a fixed budget, the last weights
        "train.val_fraction": 0.0,
        "train.select": "last",
    },
    description="encoder + linear head on labels; model.init=RUN fine-tunes a pretrained encoder",
)
