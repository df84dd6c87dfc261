"""Every family on the real Fashion-MNIST at a stated CPU budget, through the CLI:

    genlab train FAMILY --data fashion-mnist --minutes M --out RUN    (defaults otherwise)
    genlab eval RUN --json                                           (the whole test split)

Each job trains for ``--minutes`` (default 10) of one thread with ``genlab train
--minutes``, which plans the steps from a short probe (training steps, validation and
sample grids included); the budget written down is steps x batch. Jobs run ``--jobs``
at a time (default 2, one thread each).
Recorded per job: test bits/dim with its standard error and estimator (generative; the
diffusion bound also with its decoder's stds fitted on train images, model.nll_decoder=fitted),
FD/KID/precision/recall/sharpness of 1000 samples against the test split in the feature
network's space (diffusion at its default 20 DPM-Solver++ steps), a sample grid,
linear-probe and k-NN accuracy with 100% and 10% of the labels (self-supervised), and
Recall@1 / MAP@R on the unseen classes 5-9 (triplet trained on 0-4). Baselines: the
floor (1000 train images against the test split), logistic regression on raw pixels,
raw-pixel retrieval. Results merge into results/fashion_quality.json as jobs finish.

    python benchmarks/fashion_quality.py [--only vae,diffusion] [--minutes 10] [--jobs 2]
    python benchmarks/fashion_quality.py --table      # the README's tables from the results
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import records

DATA = "fashion-mnist"
RESULTS = Path(__file__).parent / "results" / "fashion_quality.json"
SAMPLES = RESULTS.parent / "fashion_samples"  # one 8x8 grid of samples per generative job
GEN_METRICS = "bpd,fd,kid,pr,sharpness"
REP_METRICS = "probe,knn"
UNSEEN = "data.classes=5,6,7,8,9"

# name -> (family, extra training overrides, eval metrics)
JOBS: dict[str, tuple[str, list[str], str]] = {
    "pixelwise": ("pixelwise", [], GEN_METRICS),
    "flow-realnvp": ("flow", ["model.preset=realnvp"], GEN_METRICS),
    "flow-glow": ("flow", ["model.preset=glow"], GEN_METRICS),
    "flow-nsf": ("flow", ["model.preset=nsf"], GEN_METRICS),
    "vae": ("vae", [], GEN_METRICS),
    # the defaults' regularisation for small data (dropout 0.3, weight decay 0.1), to compare
    # on validation bits/dim with the plain default at the same steps
    "vae-regularised": ("vae", ["model.dropout=0.3", "train.weight_decay=0.1"], GEN_METRICS),
    "diffusion": ("diffusion", [], GEN_METRICS),
    "simclr": ("simclr", [], REP_METRICS),
    "rotation": ("rotation", [], REP_METRICS),
    "masked": ("masked", [], REP_METRICS),
    "classifier": ("classifier", [], "accuracy"),
    "triplet": ("triplet", ["data.classes=0,1,2,3,4"], "recall@1,map@r"),
}
_lock = threading.Lock()


def genlab(*args: str, env: dict[str, str]) -> str:
    cmd = [sys.executable, "-m", "genlab", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {proc.stderr.strip().splitlines()[-1:]}")
    return proc.stdout


def run_job(name: str, args: argparse.Namespace, env: dict[str, str]) -> dict:
    family, extra, metrics = JOBS[name]
    work = Path(args.workdir)
    base = ["--data", DATA, "--quiet", "--device", args.device, *extra]
    run = work / name
    started = time.perf_counter()
    genlab(
        "train", family, "--out", str(run), "--force", "--minutes", str(args.minutes), *base,
        env=env,
    )  # fmt: skip
    train_s = time.perf_counter() - started
    from genlab.runs import read_config

    cfg = read_config(run)[0].train
    plan = next(r for r in records(run, "plan"))
    steps, batch = cfg.steps, cfg.batch_size
    record = {
        "family": family,
        "overrides": extra,
        "steps": steps,
        "batch_size": batch,
        "images_seen": steps * batch,
        "probe_images_per_s": batch / plan["step_s"],
        "plan": plan,
        "train_seconds": train_s,
        "validation": [  # the run's own held-out part of train (none where it trains on all)
            {k: r[k] for k in ("step", "bpd") if k in r} for r in records(run, "val")
        ],
        "time_shares": [
            json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if '"time"' in x
        ][-1:],
    }
    started = time.perf_counter()
    ev = ["eval", str(run), "--json", "--quiet", "--device", args.device, "--metrics", metrics]
    if family == "triplet":
        ev.append(UNSEEN)
    record["test"] = json.loads(genlab(*ev, env=env))
    record["eval_seconds"] = time.perf_counter() - started
    if family == "diffusion":  # the bound again, its decoder's stds fitted on train images
        fitted = genlab(*ev[:-1], "bpd", "model.nll_decoder=fitted", env=env)
        record["test_fitted_decoder"] = json.loads(fitted)
    if metrics == REP_METRICS:
        tenth = json.loads(genlab(*ev, "data.label_fraction=0.1", env=env))
        record["test_10pct_labels"] = tenth
    if "bpd" in metrics:
        grid = SAMPLES / f"{name}.png"
        grid.parent.mkdir(parents=True, exist_ok=True)
        genlab("sample", str(run), "-n", "64", "--out", str(grid), "--quiet", env=env)
        record["samples"] = str(grid.relative_to(RESULTS.parent.parent))
    return record


def baselines(device: str, which: str = "all") -> dict:
    """The floor of the sample metrics, and (``which="all"``) what raw pixels reach on the
    same tasks (the probe's C search on 60,000 images alone takes ~17 min)."""
    import torch

    from genlab.data import load_dataset
    from genlab.metrics import get_feature_net, reference_values
    from genlab.metrics.probe import knn_accuracy, linear_probe
    from genlab.metrics.retrieval import retrieval_scores

    torch.set_num_threads(1)
    ds = load_dataset(DATA)
    out: dict = {"floor": reference_values(ds, device=device)}
    out["floor"]["feature_net"] = get_feature_net(ds, progress=False).name
    if which == "floor":
        return out
    flat = {k: s.x.flatten(1).float() / 255.0 for k, s in (("train", ds.train), ("test", ds.test))}
    out["raw_pixels_probe"] = linear_probe(
        flat["train"], ds.train.y, flat["test"], ds.test.y
    ).accuracy
    out["raw_pixels_knn"] = knn_accuracy(flat["train"], ds.train.y, flat["test"], ds.test.y)
    unseen = ds.test.y >= 5
    scores = retrieval_scores(flat["test"][unseen], ds.test.y[unseen], ks=(1,))
    out["raw_pixels_unseen_5_9"] = {k: float(v) for k, v in scores.items()}
    return out


def save(key: str, value: object) -> None:
    """Merge one entry into the results file; a file lock lets several processes (each
    with its own ``--only``) share it."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with _lock, open(RESULTS.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        data[key] = value
        data["protocol"] = {
            "dataset": DATA,
            "threads_per_job": 1,
            "reference": "test split (10,000 images)",
            "samples": 1000,
            "machine": os.uname().machine,
            "cpus": os.cpu_count(),
        }
        tmp = RESULTS.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(RESULTS)


def montage() -> Path:
    """The generative jobs' sample grids side by side, each under its name, in one PNG
    (results/fashion_samples/all.png, the README's picture)."""
    from PIL import Image, ImageDraw

    names = [n for n in JOBS if (SAMPLES / f"{n}.png").exists()]
    grids = [Image.open(SAMPLES / f"{n}.png").convert("L") for n in names]
    if not grids:
        raise SystemExit(f"no sample grids in {SAMPLES}: run the benchmark first")
    w, h = grids[0].size
    cols, label, gap = 3, 16, 8
    rows = -(-len(grids) // cols)
    sheet = Image.new("L", (cols * (w + gap) - gap, rows * (h + label + gap) - gap), 255)
    draw = ImageDraw.Draw(sheet)
    for i, (name, grid) in enumerate(zip(names, grids, strict=True)):
        x, y = (i % cols) * (w + gap), (i // cols) * (h + label + gap)
        draw.text((x + 2, y + 2), name, fill=0)
        sheet.paste(grid.resize((w, h)), (x, y + label))
    out = SAMPLES / "all.png"
    sheet.save(out)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--table", action="store_true", help="print the README tables and stop")
    p.add_argument("--only", default=",".join(JOBS))
    p.add_argument("--minutes", type=float, default=10.0, help="training minutes per job")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--workdir", default="runs/bench-fashion")
    p.add_argument(
        "--baselines",
        choices=("all", "floor", "none"),
        default="all",
        help="after the jobs: the floor and the raw-pixel baselines, the floor only, or none",
    )
    args = p.parse_args()
    if args.table:
        from readme import fashion_quality_section  # the README's own tables, one owner

        print(fashion_quality_section())
        print(f"\n(sample grids: {montage()})")
        return
    from genlab.data import dataset_available

    ok, where = dataset_available(DATA)
    if not ok:
        print(f"skipped: {where}")
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in JOBS]
    if unknown:
        sys.exit(f"unknown job(s) {unknown}; choose among {', '.join(JOBS)}")
    Path(args.workdir).mkdir(parents=True, exist_ok=True)

    def one(name: str) -> None:
        started = time.perf_counter()
        try:
            save(name, run_job(name, args, env))
            print(f"{name}: done in {time.perf_counter() - started:.0f} s", flush=True)
        except RuntimeError as err:
            save(name, {"error": str(err)})
            print(f"{name}: failed: {err}", flush=True)

    with ThreadPoolExecutor(args.jobs) as pool:
        for future in [pool.submit(one, n) for n in names]:
            future.result()
    if any((SAMPLES / f"{n}.png").exists() for n in names):
        montage()
    if args.baselines != "none":  # after the jobs, so they never share a core with them
        started = time.perf_counter()
        found = baselines(args.device, args.baselines)
        if args.baselines == "floor" and RESULTS.exists():  # keep the raw-pixel numbers
            found = json.loads(RESULTS.read_text()).get("baselines", {}) | found
        save("baselines", found)
        print(f"baselines: done in {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
