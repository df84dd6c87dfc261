"""Using a trained run: draw samples, write them to files, evaluate the model."""

from __future__ import annotations

import io
import sys
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from genlab.atomic import write_atomic
from genlab.config import DataConfig, from_dict, nest, to_dict
from genlab.data.dataset import DataMeta
from genlab.errors import GenlabError
from genlab.family import get_family, sampling_kwargs
from genlab.protocols import FitsNLL, GenerativeModel, Predictor, RepresentationModel
from genlab.registry import unknown_name
from genlab.runs import LoadedRun, load_data
from genlab.viz import save_samples

__all__ = [
    "DEFAULT_METRICS",
    "check_metrics",
    "check_out_path",
    "evaluate_run",
    "read_samples",
    "sample_run",
    "sampling_options",
    "write_samples",
]

DEFAULT_METRICS = ("bpd", "fd", "kid", "pr", "sharpness")


def sampling_options(loaded: LoadedRun, options: Mapping[str, Any] | None = None) -> Any:
    """The run's family's sampling-options dataclass (``Family.sampling``) from
    ``{"steps": "50", "eta": 0.5}``: strings or typed values, None meaning "not given".
    An unknown key, a wrong type or a value out of range is one ConfigError naming the
    key (with the closest one and the valid ones for an unknown key)."""
    given = {k: v for k, v in (options or {}).items() if v is not None}
    return get_family(loaded.config.family).sampling_options(given)


def sample_run(
    loaded: LoadedRun,
    n: int,
    *,
    seed: int = 0,
    chunk: int | None = None,
    options: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """``n`` samples in data space from a loaded run, drawn in chunks from one generator.

    ``options`` (e.g. ``{"sampler": "ddim", "steps": 50}``) are the family's sampling
    options, checked by :func:`sampling_options` before anything is drawn. ``chunk``
    defaults to 1000 samples of up to 256 values (digits), fewer for larger data (256
    of 28x28, 83 of 3x32x32), so memory stays bounded and the bar (``progress``:
    images/s, ETA on stderr) moves.
    """
    dims = int(np.prod(loaded.meta.shape))
    chunk = chunk or max(1, min(1000, 256_000 // dims))
    if n <= 0:
        raise GenlabError(f"the number of samples must be positive, got {n}")
    kwargs = sampling_kwargs(sampling_options(loaded, options))
    model = loaded.model
    assert isinstance(model, GenerativeModel), type(model).__name__
    device = next(model.parameters()).device
    g = torch.Generator(device).manual_seed(seed)
    parts = []
    bar = tqdm(
        total=n,
        desc=f"sample ({loaded.config.family})",
        unit="img",
        disable=not progress,
        dynamic_ncols=True,
        mininterval=0.5 if sys.stderr.isatty() else 15.0,
        delay=1.0,  # quick calls (and early errors) print no bar
    )
    with bar, torch.inference_mode():
        for start in range(0, n, chunk):
            parts.append(model.sample(min(chunk, n - start), generator=g, **kwargs).cpu())
            bar.update(len(parts[-1]))
    return torch.cat(parts)


def check_out_path(path: str | Path) -> Path:
    """``path`` as a samples file name: .png or .npz, in an existing folder."""
    path = Path(path)
    if path.suffix.lower() not in (".png", ".npz"):
        raise GenlabError(f"--out {path}: use a .png (picture) or .npz (array) file name")
    if not path.parent.is_dir():
        raise GenlabError(f"--out {path}: folder {path.parent} does not exist; create it first")
    if path.is_dir():
        raise GenlabError(f"--out {path} is a folder; give a file name ending in .png or .npz")
    return path


def write_samples(x: torch.Tensor, meta: DataMeta, path: str | Path) -> Path:
    """Write samples as a picture (.png) or an array (.npz, key ``samples``), atomically.

    The .npz array holds integers in the dataset's own value range, (N, C, H, W) or
    (N, D); continuous data are stored as float32.
    """
    path = check_out_path(path)
    if path.suffix.lower() == ".png":
        return write_atomic(path, lambda tmp: save_samples(x, meta, tmp))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, samples=_as_array(x, meta))
    return write_atomic(path, buffer.getvalue())


def _as_array(x: torch.Tensor, meta: DataMeta) -> np.ndarray:
    arr = x.numpy()
    if meta.levels is None:
        return arr.astype(np.float32)
    return arr.astype(np.uint8 if meta.levels <= 256 else np.int32)


def read_samples(path: str | Path, meta: DataMeta) -> torch.Tensor:
    """Samples from an .npz written by ``genlab sample`` (or any array ``samples``)."""
    path = Path(path)
    if not path.is_file():
        raise GenlabError(f"samples file {path} does not exist")
    if not zipfile.is_zipfile(path):
        raise GenlabError(
            f"{path} is not an .npz file; write one with genlab sample --out FILE.npz"
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            if "samples" not in f.files:
                held = ", ".join(f.files) or "nothing"
                raise GenlabError(f"{path} has no array 'samples' (it holds {held})")
            arr = f["samples"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        detail = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise GenlabError(f"{path} is not a readable .npz ({detail})") from None
    _check_samples_array(path, arr, meta)
    if arr.dtype.kind in "biu" and arr.dtype != np.uint8:
        arr = arr.astype(np.int64)  # torch lacks most unsigned types
    return torch.from_numpy(np.ascontiguousarray(arr))


def _check_samples_array(path: Path, arr: np.ndarray, meta: DataMeta) -> None:
    want = ", ".join(["N", *map(str, meta.shape)])
    if arr.ndim < 1 or tuple(arr.shape[1:]) != tuple(meta.shape) or len(arr) == 0:
        raise GenlabError(
            f"{path} holds samples of shape {tuple(arr.shape)}; this run's data needs "
            f"({want}) with N >= 1"
        )
    if arr.dtype.kind not in "biuf":
        raise GenlabError(f"{path} holds {arr.dtype} samples; expected numbers")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise GenlabError(f"{path} holds NaN or infinite sample values")
    if meta.levels is None:
        return
    if arr.dtype.kind == "f" and not (arr == np.round(arr)).all():
        raise GenlabError(f"{path} holds non-integer values; {meta.name} has integer levels")
    if arr.min() < 0 or arr.max() >= meta.levels:
        raise GenlabError(
            f"{path} holds values in {arr.min()}..{arr.max()}; {meta.name} needs "
            f"0..{meta.levels - 1}"
        )


def _eval_data(loaded: LoadedRun, data_overrides: Mapping[str, str]) -> Any:
    base = to_dict(loaded.config.data)
    merged = {**base, **nest(data_overrides).get("data", {})}
    extra = [k for k in data_overrides if not k.startswith("data.")]
    if extra:
        raise GenlabError(f"eval takes only data.* and sample.* overrides, not {', '.join(extra)}")
    cfg = from_dict(DataConfig, merged, "data.")
    ds = load_data(cfg)
    if ds.meta.shape != loaded.meta.shape or ds.meta.levels != loaded.meta.levels:
        raise GenlabError(
            f"data {ds.name} {ds.shape} (levels {ds.levels}) does not match the run's "
            f"{loaded.meta.name} {loaded.meta.shape} (levels {loaded.meta.levels}); "
            "evaluate on the run's own data"
        )
    return ds


FIT_IMAGES = 1000  # train images an evaluation setting of nll is fitted on (FitsNLL)


def fit_images(train_x: torch.Tensor, seed: int) -> torch.Tensor:
    """The :data:`FIT_IMAGES` train images (a permutation seeded with ``seed``) on which a
    model's evaluation settings are fitted before its test bits/dim are scored."""
    perm = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(seed))
    return train_x[perm[:FIT_IMAGES]]


def check_metrics(metrics: Sequence[str]) -> None:
    """One GenlabError unless ``metrics`` is a non-empty list of known metric names."""
    from genlab.metrics import SAMPLE_METRICS
    from genlab.metrics.embedding import EMBEDDING_METRICS, is_embedding_metric

    known = ["bpd", *SAMPLE_METRICS, *EMBEDDING_METRICS]
    if not metrics:
        raise GenlabError(f"no metric given; choose among {', '.join(known)}")
    for name in metrics:
        if name not in known and not is_embedding_metric(name):
            raise unknown_name("metric", name, known)


def evaluate_run(
    loaded: LoadedRun,
    metrics: Sequence[str] = DEFAULT_METRICS,
    *,
    n_samples: int = 1000,
    samples: torch.Tensor | None = None,
    seed: int = 0,
    data_overrides: Mapping[str, str] | None = None,
    sample_options: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> dict[str, float | str]:
    """Metric name -> number for a run, always against the TEST split.

    ``bpd``: bits/dim of the whole test split from ``model.nll`` (nats -> bits, per dim),
    with ``bpd_se`` (standard error across images), ``bpd_images``, ``bpd_seconds`` and
    the numeric parts of the model's stated estimator as ``bpd_<key>`` (e.g. ``bpd_K``).
    Sample metrics (fd, kid, pr, sharpness) score ``samples`` (or ``n_samples`` fresh
    ones, drawn with ``sample_options``) against the test split in the feature space of
    genlab's feature network, named as ``feature_net`` (``shipped-...`` for the weights
    that ship with genlab, ``local-...`` with its fingerprint for one trained here).
    ``progress`` shows bars (images/s, ETA) on stderr for the long steps.
    """
    from genlab.metrics import (
        SAMPLE_METRICS,
        estimator_of,
        evaluate_samples,
        get_feature_net,
        score_bits_per_dim,
    )

    check_metrics(metrics)
    if samples is None and any(m in SAMPLE_METRICS for m in metrics):
        sampling_options(loaded, sample_options)  # a bad option fails before any scoring
    ds = _eval_data(loaded, data_overrides or {})
    model = loaded.model
    device = next(model.parameters()).device
    out: dict[str, float] = {}
    if "bpd" in metrics:
        if not isinstance(model, GenerativeModel):
            raise GenlabError(f"family {loaded.config.family!r} has no likelihood (bpd)")
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            if isinstance(model, FitsNLL):  # on train images only, never test
                model.fit_nll(fit_images(ds.train.x, seed))
            desc = f"bits/dim ({len(ds.test)} test images)"
            scored = score_bits_per_dim(
                model, ds.test.x, ds.meta, device=device, progress=progress, desc=desc
            )
        out |= scored.as_dict()
        for key, value in estimator_of(model).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[f"bpd_{key}"] = value
    wanted = [m for m in metrics if m in SAMPLE_METRICS]
    if wanted:
        if samples is None:
            samples = sample_run(
                loaded, n_samples, seed=seed, options=sample_options, progress=progress
            )
        g = torch.Generator().manual_seed(seed)
        out.update(evaluate_samples(samples, ds, wanted, device=device, generator=g))
    out.update(_embedding_metrics(loaded, ds, metrics))
    result: dict[str, float | str] = {k: float(v) for k, v in out.items()}
    if any(m in ("fd", "kid", "pr") for m in wanted):
        result["feature_net"] = get_feature_net(ds, progress=False).name
    return result


def _embedding_metrics(loaded: LoadedRun, ds: Any, metrics: Sequence[str]) -> dict[str, float]:
    """recall@K and map@r among the test images; probe and knn fit on train, score test."""
    from genlab.metrics.embedding import (
        accuracy,
        embed_all,
        is_embedding_metric,
        retrieval_metrics,
    )

    wanted = [m for m in metrics if is_embedding_metric(m)]
    if not wanted:
        return {}
    model = loaded.model
    if not isinstance(model, RepresentationModel):
        raise GenlabError(
            f"{', '.join(wanted)}: family {loaded.config.family!r} has no embed; "
            "use a representation model (simclr, rotation, masked, triplet)"
        )
    if ds.test.y is None or ds.train.y is None:
        raise GenlabError(f"{', '.join(wanted)} need labels; {ds.name!r} has none")
    out: dict[str, float] = {}
    if "accuracy" in wanted:
        if not isinstance(model, Predictor):
            raise GenlabError(
                f"accuracy: family {loaded.config.family!r} does not classify; "
                "train the classifier family"
            )
        out["accuracy"] = accuracy(model, ds.test.x, ds.test.y)
    if wanted == ["accuracy"]:
        return out
    test_emb = embed_all(model, ds.test.x)
    out |= retrieval_metrics(test_emb, ds.test.y, wanted)
    if "probe" in wanted or "knn" in wanted:
        from genlab.metrics.probe import knn_accuracy, linear_probe

        train_emb = embed_all(model, ds.train.x)
        if "probe" in wanted:
            out["probe"] = linear_probe(train_emb, ds.train.y, test_emb, ds.test.y).accuracy
        if "knn" in wanted:
            out["knn"] = knn_accuracy(train_emb, ds.train.y, test_emb, ds.test.y)
    return out
