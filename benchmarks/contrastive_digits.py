"""Triplet embeddings on digits: retrieval of classes never seen in training, through the
CLI as a user runs it:

    genlab train triplet --data digits data.classes=0,1,2,3,4 --out RUN [overrides]
    genlab eval RUN --metrics recall@1,map@r data.classes=5,6,7,8,9 --json   (unseen)
    genlab eval RUN --metrics recall@1,map@r --json                          (seen 0-4)

and, to compare settings without the unseen classes, class-disjoint validation inside
the seen ones: the same training on classes 0-2, then retrieval among the TRAIN images
of classes 3-4 (scored here through the Python API: ``genlab eval`` retrieves among test
images only).

Raw pixels (the flattened integer pixel values, Euclidean) are measured here on the same
test images, unseen and seen, and written beside the runs. For scale, a public
metric-learning library's triplet loss with semi-hard mining and default settings falls
to about 0.68 / 0.27 on the unseen classes.

    python benchmarks/contrastive_digits.py [--runs defaults,plain] [--steps 2000]

These runs read the test images of the unseen classes: they report, and choose nothing
(the defaults are chosen in benchmarks/triplet_defaults.py on training classes only).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import run

# each variant spelt out against the family's defaults (no jitter, anchor 50: chosen on
# class-disjoint validation, benchmarks/triplet_defaults.py); the jitter_* rows are the
# defaults before that search and their ablations
JITTER_VIEWS = ["model.augment=true", "model.invariance=50"]
VARIANTS = {
    "defaults": [],
    "plain": ["model.anchor=0"],
    "jitter_views": JITTER_VIEWS,
    "jitter_views_semi_hard": [*JITTER_VIEWS, "model.miner=semi_hard"],
    "jitter_aug_only": ["model.augment=true", "model.invariance=0"],
    "jitter_views_no_anchor": [*JITTER_VIEWS, "model.anchor=0"],
    "jitter_aug_plain": ["model.augment=true", "model.anchor=0", "model.invariance=0"],
}


def _pixels(classes: tuple[int, ...]) -> dict[str, float]:
    """Leave-one-out retrieval among the TEST images of ``classes`` with the flattened
    integer pixels as embeddings (Euclidean)."""
    from genlab.data import load_dataset
    from genlab.metrics.retrieval import retrieval_scores

    test = load_dataset("digits").restrict_classes(classes).test
    assert test.y is not None
    return retrieval_scores(test.x.flatten(1).double(), test.y, ks=(1,), distance="euclidean")


def _validation(out: Path) -> dict[str, float]:
    """Leave-one-out retrieval among the TRAIN images of classes 3-4 (never trained on)."""
    from genlab.data import load_dataset
    from genlab.metrics.embedding import embed_all
    from genlab.metrics.retrieval import retrieval_scores
    from genlab.runs import load_run

    loaded = load_run(out, device="cpu")
    query = load_dataset("digits").restrict_classes((3, 4)).train
    assert query.y is not None
    e = embed_all(loaded.model, query.x).double()
    return retrieval_scores(e, query.y, ks=(1,), distance=loaded.config.model.distance)


def _retrieval(genlab: list[str], out: Path, *extra: str) -> dict[str, float]:
    text = run([*genlab, "eval", str(out), "--metrics", "recall@1,map@r", "--json", *extra])
    return json.loads(text)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", default=",".join(VARIANTS))
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--workdir", default="runs/bench-contrastive")
    p.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "contrastive_digits.json")
    )
    args = p.parse_args()
    genlab = [sys.executable, "-m", "genlab"]
    results = {}
    for name in args.runs.split(","):
        scores: dict[str, object] = {"overrides": VARIANTS[name], "steps": args.steps}
        for part, classes in (("validation", "0,1,2"), ("test", "0,1,2,3,4")):
            out = Path(args.workdir) / f"{name}-{part}"
            t = time.perf_counter()
            train = [*genlab, "train", "triplet", "--data", "digits", "--out", str(out)]
            run([*train, "--force", "--quiet", f"data.classes={classes}",
                 f"train.steps={args.steps}", *VARIANTS[name]])  # fmt: skip
            scores[f"{part}_train_minutes"] = (time.perf_counter() - t) / 60
            if part == "validation":
                scores["val_3_4"] = _validation(out)
            else:
                scores["unseen_5_9"] = _retrieval(genlab, out, "data.classes=5,6,7,8,9")
                scores["seen_0_4"] = _retrieval(genlab, out)
        results[name] = scores
        unseen = scores["unseen_5_9"]
        print(
            f"{name:14s} unseen R@1 {unseen['recall@1']:.3f} MAP@R {unseen['map@r']:.3f}  "  # type: ignore[index]
            f"seen MAP@R {scores['seen_0_4']['map@r']:.3f}  "  # type: ignore[index]
            f"val(3-4) MAP@R {scores['val_3_4']['map@r']:.3f}",  # type: ignore[index]
            flush=True,
        )
    out_path = Path(args.out)
    kept = json.loads(out_path.read_text())["runs"] if out_path.exists() else {}
    payload = {
        "protocol": "digits; genlab train triplet defaults unless overridden, trained on "
        "classes 0-4 (test) or 0-2 (validation), weights selected on the run's held-out "
        "train images; leave-one-out retrieval among the test images of 5-9 (unseen) and "
        "0-4 (seen), and among the train images of 3-4 (validation); runs not rerun are "
        "kept from before",
        "raw_pixels_unseen_5_9": _pixels((5, 6, 7, 8, 9)),
        "raw_pixels_seen_0_4": _pixels((0, 1, 2, 3, 4)),
        "runs": {**kept, **results},
    }
    out_path.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
