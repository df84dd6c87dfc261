"""Few-step generation on Fashion-MNIST: students distilled from the 10-minute flow-matching
teacher against the teacher's own solvers at counted network evaluations (NFE).

1. ``distill``: ``genlab distill TEACHER --method reflow|consistency`` into
   runs/bench-fashion/distill-<method>, the teacher being runs/bench-fashion/flowmatch (the
   run of benchmarks/flowmatch_fashion.py: the diffusion U-Net, the 10-minute diffusion
   run's steps). Each student gets ``--minutes`` of training (``genlab distill --minutes``;
   default: the teacher's recorded training time); loading the teacher, probing the step
   rate and saving come on top: the wall seconds of the whole command, the steps and the
   CPU threads are recorded. Run it alone: a busy machine takes steps from the budget.
2. ``fd``: ``genlab eval RUN --metrics fd,pr`` (1000 samples against the whole test split,
   FD with its bootstrap SE in the shipped feature network) at NFE in {1, 2, 4, 8, 20}:
   the teacher with DPM-Solver++ and with Euler (at NFE 1 both are the one-shot
   baseline, E[x_0 | x_1] in one pass), the reflow student with Euler and the consistency
   student with its multistep sampler, with the seconds each took.
3. ``figure``: FD against NFE (results/distill_fashion.png).

Results: results/distill_fashion.json. Skips (exit 0) without Fashion-MNIST.

    python benchmarks/distill_fashion.py [--only distill,fd,figure] [--minutes M]
        [--methods reflow,consistency]   (--methods: redo these students only, their FD rows
                                          too; the teacher's rows and the others are kept)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import genlab_cmd, run

from genlab.data import dataset_available
from genlab.runs import load_run

DATA = "fashion-mnist"
HERE = Path(__file__).parent
RESULTS = HERE / "results" / "distill_fashion.json"
FIGURE = HERE / "results" / "distill_fashion.png"
WORK = Path("runs/bench-fashion")
TEACHER = WORK / "flowmatch"
NFES = (1, 2, 4, 8, 20)
# each student's options beyond genlab distill's defaults
METHODS: dict[str, list[str]] = {"reflow": [], "consistency": []}
# (label, run folder under WORK, its sampling options at NFE k)
ROWS = [
    ("teacher, DPM-Solver++", "flowmatch", lambda k: ["sample.solver=dpmpp", f"sample.nfe={k}"]),
    ("teacher, Euler", "flowmatch", lambda k: ["sample.solver=euler", f"sample.nfe={k}"]),
    (
        "reflow student, Euler",
        "distill-reflow",
        lambda k: ["sample.solver=euler", f"sample.nfe={k}"],
    ),
    ("consistency student", "distill-consistency", lambda k: [f"sample.nfe={k}"]),
]
STUDENT_NFES = (1, 2, 4, 8)


def load() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {}


def save(res: dict) -> None:
    RESULTS.write_text(json.dumps(res, indent=2) + "\n")


def teacher_minutes() -> float:
    """The teacher's training time as flowmatch_fashion.json recorded it."""
    record = json.loads((HERE / "results" / "flowmatch_fashion.json").read_text())
    return record["train"]["wall_seconds"] / 60


def distill(args: argparse.Namespace, res: dict) -> None:
    minutes = args.minutes or teacher_minutes()
    rows = {k: v for k, v in res.get("distill", {}).items() if k in METHODS}
    for method, extra in METHODS.items():
        if method not in args.methods:
            continue
        out = WORK / f"distill-{method}"
        cmd = ["distill", str(TEACHER), "--method", method, "--out", str(out), "--force"]
        cmd += ["--minutes", f"{minutes:.2f}", "--quiet", *extra]
        started = time.perf_counter()
        run(genlab_cmd(*cmd))
        cfg = load_run(out).config
        rows[method] = {
            "run": str(out),
            "minutes_budget": minutes,
            "wall_seconds": time.perf_counter() - started,
            "steps": cfg.train.steps,
            "batch_size": cfg.train.batch_size,
            "threads": cfg.train.threads,
            "lr": cfg.train.lr,
            "options": extra,
            "model": {
                k: v
                for k, v in vars(cfg.model).items()
                if k.startswith(("teacher", "intervals", "spacing", "target", "distance", "t_min"))
            },
        }
        print(f"{method}: {cfg.train.steps} steps in {rows[method]['wall_seconds']:.0f} s")
    res["distill"] = rows | {"teacher": str(TEACHER), "teacher_minutes": teacher_minutes()}


def fd(args: argparse.Namespace, res: dict) -> None:
    redo = {"flowmatch"} | {f"distill-{m}" for m in METHODS} if args.all else set()
    redo |= {f"distill-{m}" for m in args.methods}
    kept = [r for r in res.get("fd", []) if r["run"] not in redo]
    rows = []
    for label, name, options in ROWS:
        if name not in redo:
            rows += [r for r in kept if r["run"] == name]
            continue
        nfes = NFES if name == "flowmatch" else STUDENT_NFES
        for k in nfes:
            started = time.perf_counter()
            ev = ["eval", str(WORK / name), "--json", "--quiet", "--metrics", "fd,pr"]
            out = json.loads(run(genlab_cmd(*ev, *options(k))))
            row = {"model": label, "run": name, "nfe": k, "seconds": time.perf_counter() - started}
            rows.append(
                row | {m: out[m] for m in ("fd", "fd_se", "precision", "recall", "feature_net")}
            )
            print(f"{label:24s} NFE {k:2d}  FD {out['fd']:.2f} +- {out['fd_se']:.2f}", flush=True)
    res["fd"] = rows
    res["protocol"] = (
        "fashion-mnist; 1000 samples (seed 0) against the 10,000 test images, FD +- "
        "bootstrap SE in the shipped feature network; eval on the default threads"
    )


def figure(res: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label in dict.fromkeys(r["model"] for r in res["fd"]):
        rows = [r for r in res["fd"] if r["model"] == label]
        ax.errorbar(
            [r["nfe"] for r in rows],
            [r["fd"] for r in rows],
            yerr=[2 * r["fd_se"] for r in rows],
            marker="o",
            capsize=3,
            label=label,
        )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(NFES, [str(k) for k in NFES])
    ax.set_xlabel("network evaluations (NFE)")
    ax.set_ylabel("FD (shipped features), +- 2 SE")
    ax.set_title("Fashion-MNIST: few-step students of one flow-matching teacher")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(FIGURE, dpi=120)
    plt.close(fig)
    res["figure"] = str(FIGURE.relative_to(HERE.parent))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default="distill,fd,figure")
    p.add_argument("--minutes", type=float, default=0.0, help="0: the teacher's training time")
    p.add_argument("--methods", default=",".join(METHODS), help="the students to (re)do")
    args = p.parse_args()
    args.methods = args.methods.split(",")
    if set(args.methods) - set(METHODS):
        p.error(f"--methods: choose from {', '.join(METHODS)}")
    args.all = set(args.methods) == set(METHODS)  # everything, the teacher's rows too
    found, where = dataset_available(DATA)
    if not found:
        print(f"{DATA} not found ({where}); skipped")
        return
    res = load()
    parts = args.only.split(",")
    for name, fn in (
        ("distill", lambda: distill(args, res)),
        ("fd", lambda: fd(args, res)),
        ("figure", lambda: figure(res)),
    ):
        if name in parts:
            fn()
            save(res)


if __name__ == "__main__":
    main()
