"""The feature network on digits and Fashion-MNIST: accuracy, training time, sanity figures.

For each dataset the feature net is trained afresh (a temporary GENLAB_CACHE, so the
time is the training time, one CPU thread), then two sets of 1000 images are scored
against the TEST split with ``evaluate_samples`` (FD, KID, precision/recall, k=3):

* the floor: 1000 seeded train images (``reference_values``), the best a model can do;
* pixelwise noise: every pixel drawn independently from its empirical marginal over
  the train split (what the ``pixelwise`` family samples, without its add-one prior).
  A feature space in which this speckle looks like the data is useless, so its
  precision must stay far below the floor's.

Fashion-MNIST is read from /usr/share/datasets/fashion-mnist and skipped when absent.

``--ship`` makes the weights that ship with genlab: each network trained here (default
recipe, one thread) is written to src/genlab/metrics/weights/ with its SHA-256, the
fingerprint of its train split and recipe, its test accuracy and the floor FD measured
with the written weights, in weights/features.json (the manifest). Once shipped, every
machine scores FD in these weights (``feature_net: shipped-...``); tests recompute the
floor FD on 1 and 2 threads against the manifest's.

    OMP_NUM_THREADS=1 python benchmarks/feature_net.py [--out benchmarks/results/feature_net.json]
        [--ship]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from genlab.data import Dataset, LoadOptions, load_dataset
from genlab.metrics import get_feature_net, reference_values
from genlab.metrics.evaluate import evaluate_samples
from genlab.metrics.features import (
    ARCH_VERSION,
    TrainRecipe,
    _accuracy,
    save_weights,
    train_steps,
)
from genlab.metrics.shipped import MANIFEST, WEIGHTS, read_manifest, sha256_of

METRICS = ["fd", "kid", "pr"]
DATA_DIR = Path("/usr/share/datasets")
N = 1000


def pixelwise_noise(dataset: Dataset, n: int, generator: torch.Generator) -> torch.Tensor:
    """(n, *shape) images whose every pixel is a random train image's value at that pixel.

    That draws each pixel from its empirical marginal over the train split,
    independently of the others.
    """
    train = dataset.train.x.reshape(len(dataset.train), -1)  # (N_train, D)
    rows = torch.randint(0, len(train), (n, train.shape[1]), generator=generator)  # (n, D)
    return train.gather(0, rows).reshape(n, *dataset.shape)


MAX_BYTES = 2 * 2**20  # a file in git stays under 2 MiB


def ship(dataset: Dataset, net: object, record: dict) -> None:
    """Write ``net``'s weights into the package and its entry into the manifest. Weights
    whose float32 file would exceed MAX_BYTES are stored rounded to float16 (Fashion-MNIST:
    floor FD 0.47458 -> 0.47468, test accuracy 0.9258 -> 0.9256), and the accuracy is
    measured again with the rounded weights, the ones every machine then loads."""
    WEIGHTS.mkdir(parents=True, exist_ok=True)
    path = WEIGHTS / f"{ARCH_VERSION}-{dataset.name}.safetensors"
    model = net.net  # type: ignore[attr-defined]
    stored = "float32"
    if 4 * sum(t.numel() for t in model.state_dict().values()) > MAX_BYTES:
        stored = "float16 (trained in float32; float32 would exceed 2 MiB)"
        with torch.no_grad():
            for t in model.state_dict().values():
                if t.is_floating_point():
                    t.copy_(t.half().float())
        net.test_accuracy = _accuracy(model.eval(), dataset.test, dataset.levels)  # type: ignore[attr-defined]
        model = model.half()
    save_weights(model, path, net.test_accuracy)  # type: ignore[attr-defined]
    model.float()
    manifest = read_manifest()
    manifest.setdefault(ARCH_VERSION, {})[dataset.name] = {
        "file": path.name,
        "sha256": sha256_of(path),
        "dataset_fingerprint": record["fingerprint"],
        "recipe": repr(TrainRecipe()),
        "test_accuracy": net.test_accuracy,  # type: ignore[attr-defined]
        "train_steps": record["train_steps"],
        "trained_with": f"torch {torch.__version__}, one CPU thread",
        "stored_dtype": stored,
    }
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")


def add_floor(name: str, floor: dict) -> None:
    """Record the floor FD measured with the shipped weights in the manifest."""
    manifest = read_manifest()
    manifest[ARCH_VERSION][name]["floor_fd_1000_train_vs_test"] = floor["fd"]
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")


def measure(dataset: Dataset, shipping: bool) -> dict:
    """Train the feature net (timed), then score the floor and pixelwise noise (in the
    newly shipped weights when ``shipping``)."""
    start = time.perf_counter()
    net = get_feature_net(dataset, shipped=False)
    seconds = time.perf_counter() - start
    assert not net.from_cache, "the benchmark needs a fresh cache to time the training"
    steps = train_steps(TrainRecipe(), len(dataset.train), dataset.shape)
    if shipping:
        fingerprint = net.name.rsplit("-", 1)[1]
        ship(dataset, net, {"fingerprint": fingerprint, "train_steps": steps})
        net = get_feature_net(dataset)
        assert net.name.startswith("shipped-"), net.name
    noise = pixelwise_noise(dataset, N, torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(0)
    out = {
        "feature_net": net.name,
        "test_accuracy": net.test_accuracy,
        "train_steps": steps,
        "train_seconds": seconds,
        "floor_train_vs_test": reference_values(dataset, n=N, seed=0, metrics=METRICS),
        "pixelwise_noise": evaluate_samples(noise, dataset, METRICS, generator=gen),
    }
    if shipping:
        add_floor(dataset.name, out["floor_train_vs_test"])
    return out


def datasets() -> dict[str, Dataset]:
    out = {"digits": load_dataset("digits")}
    if (DATA_DIR / "fashion-mnist").is_dir():
        out["fashion-mnist"] = load_dataset("fashion-mnist", LoadOptions(data_dir=str(DATA_DIR)))
    else:
        print(f"skipping fashion-mnist: {DATA_DIR / 'fashion-mnist'} is absent")
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "feature_net.json"))
    p.add_argument("--ship", action="store_true", help="write the weights into the package")
    args = p.parse_args()
    torch.set_num_threads(1)
    result: dict = {
        "protocol": f"{ARCH_VERSION}, default TrainRecipe, trained on one CPU thread; "
        f"{N} images (floor: seeded train images; noise: independent pixels from the "
        "train marginals, seed 0) against the whole TEST split; precision/recall k=3",
        "recipe": repr(TrainRecipe()),
        "load_average_1min_at_start": os.getloadavg()[0],  # other jobs inflate train_seconds
    }
    with tempfile.TemporaryDirectory() as cache:
        os.environ["GENLAB_CACHE"] = cache  # fresh: the time below is the training time
        for name, dataset in datasets().items():
            result[name] = measure(dataset, args.ship)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    keys = ["fd", "kid", "precision", "recall"]
    print(f"{'':30s}" + "".join(f"{k:>11s}" for k in keys))
    for name in ("digits", "fashion-mnist"):
        if name not in result:
            continue
        r = result[name]
        print(
            f"{name}: test accuracy {r['test_accuracy']:.4f}, {r['train_steps']} steps, "
            f"trained in {r['train_seconds']:.0f} s"
        )
        for row in ("floor_train_vs_test", "pixelwise_noise"):
            print(f"  {row:28s}" + "".join(f"{r[row][k]:11.4g}" for k in keys))


if __name__ == "__main__":
    main()
