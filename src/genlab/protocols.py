"""The contracts every model family fulfils (structural typing, no base classes).

Every model method takes batches as the dataset gives them: integer values in the
dataset's own range (any integer dtype, or floats holding those integers), shape
(N, C, H, W) for images or (N, D) for vectors.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

__all__ = [
    "Denoiser",
    "Distilled",
    "FlowTeacher",
    "FitsNLL",
    "GenerativeModel",
    "Predictor",
    "Preparable",
    "RepresentationModel",
    "Sampler",
    "Trainable",
    "ValidationScored",
]


@runtime_checkable
class Trainable(Protocol):
    """What the one trainer needs: a loss and its named terms."""

    def loss(
        self, x: torch.Tensor, y: torch.Tensor | None = None, *, step: int | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Scalar loss to minimise and a dict of named scalar terms to log.

        ``step`` is the trainer's step (0 for the first update); a loss that changes over
        training (the VAE's KL warm-up) reads it, None meaning "after any warm-up", and
        every other loss ignores it."""
        ...


@runtime_checkable
class Distilled(Protocol):
    """A student that learns from a trained teacher run (``model.teacher=RUN``): reflow in
    ``flowmatch``, the ``consistency`` family. The run layer (``genlab.runs.teacher``)
    loads the teacher and hands it over before training, on a new run and on a resumed
    one; the teacher is never part of the student's state."""

    @property
    def teacher_run(self) -> str:
        """The teacher's run folder; ``""`` for a model trained on the data alone."""
        ...

    def attach_teacher(self, teacher: Any, *, initialise: bool) -> None:
        """Learn from ``teacher``; ``initialise``: copy its weights first (a new run)."""
        ...


@runtime_checkable
class FlowTeacher(Protocol):
    """A model whose probability-flow ODE a student distils (flowmatch): its probability
    path (``path``, a ``genlab.ode.paths.AffinePath``), its vector field and the ODE's
    map from noise at t = 1 to data at t = 0, in model space."""

    path: Any
    network: Any  # the velocity network a student starts from

    def field(self, y: torch.Tensor | None = None, guidance: float = 1.0) -> Any:
        """``(x, t (N,)) -> dx/dt``."""
        ...

    def transport(
        self, x1: torch.Tensor, **options: Any
    ) -> tuple[torch.Tensor, int, list[torch.Tensor]]:
        """(x at t = 0, NFE spent, kept steps) from the noise ``x1``."""
        ...


@runtime_checkable
class SeenAsFlow(Protocol):
    """A model whose probability-flow ODE a student can distil once it is rewritten on the
    linear path (diffusion: ``genlab.diffusion.flow_teacher``)."""

    def linear_flow(self) -> FlowTeacher:
        """The model as a :class:`FlowTeacher` on the linear path."""
        ...


@runtime_checkable
class GenerativeModel(Trainable, Protocol):
    """VAE, diffusion, flow, pixelwise: sample in data space and score the data."""

    def sample(
        self,
        n: int,
        *,
        y: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        **options: Any,
    ) -> torch.Tensor:
        """``n`` samples in data space: same value range as the data, (n, *shape).

        ``options`` are exactly the fields of the family's sampling-options dataclass
        (``Family.sampling``), which states them and their ranges."""
        ...

    def nll(self, x: torch.Tensor) -> torch.Tensor:
        """Per-example negative log-likelihood (or its bound) in nats of the data, (N,)."""
        ...


@runtime_checkable
class RepresentationModel(Trainable, Protocol):
    """SimCLR, triplet, pretext tasks: map data to embeddings."""

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Embeddings (N, d) of a data-space batch."""
        ...


@runtime_checkable
class ValidationScored(Protocol):
    """Optional: a cheaper estimate of ``nll`` that ranks weights for selection."""

    def validation_nll(self, x: torch.Tensor) -> torch.Tensor:
        """Per-example estimate (N,) in nats, noisier or looser than ``nll``."""
        ...


@runtime_checkable
class Predictor(Protocol):
    """A model that predicts classes (the ``classifier`` family)."""

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted classes (N,) long of a data-space batch."""
        ...


@runtime_checkable
class Preparable(Protocol):
    """Optional: data-dependent set-up run once before training (never on load/resume)."""

    def prepare(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """See the whole training split (data space) before the first step."""
        ...


@runtime_checkable
class FitsNLL(Protocol):
    """Optional: an evaluation setting of ``nll`` fitted after training, on training
    images (never test), before ``nll`` is scored (the diffusion decoder's stds)."""

    def fit_nll(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> None:
        """See training images (data space); a no-op when the model's options need none."""
        ...


class Denoiser(Protocol):
    """A diffusion network seen by a sampler: the estimate of E[x_0 | x_t]."""

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x_t (N, ...) in model space, integer timesteps t (N,) -> x0_hat (N, ...)."""
        ...


class Sampler(Protocol):
    """A stateless reverse-process sampler (``genlab.diffusion.samplers``): every option,
    the timestep grid included, is an argument; returns a ``SampleOutput``."""

    def __call__(
        self,
        denoiser: Denoiser,
        schedule: Any,
        x_T: torch.Tensor,
        timesteps: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        keep_steps: bool = False,
    ) -> Any:
        """x_T (N, ...) and a decreasing grid T..0 (K + 1,) -> the samples after K calls."""
        ...
