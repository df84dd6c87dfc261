"""Generate README.md's numbers from the results files that recorded them.

README.md marks each generated part with a pair of HTML comments::

    <!-- generated:studies -->
    ... (written by this script; never edited by hand)
    <!-- /generated:studies -->

``python benchmarks/readme.py`` rewrites every marked part from the files under
benchmarks/results/; ``--check`` exits 1 (printing a diff) when README.md differs from
what the files give, which tests/test_readme.py runs in ``make test``. A number shown in
a generated part is read from a file here, never typed.

FD, KID and precision/recall are shown only where the results file records the shipped
feature network (``feature_net``, or a ``feature_net_test_accuracy`` equal to the shipped
network's in src/genlab/metrics/weights/features.json); elsewhere the generated part
says they await re-measurement in that space.

``python benchmarks/readme.py --collect REPORT_DIR/DATA`` copies a ``genlab report``
dataset folder's results (report.json and each study's results.json) into
benchmarks/results/studies/DATA/, the files the studies section reads.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
STUDIES = RESULTS / "studies"
README = ROOT / "README.md"
MARK = re.compile(r"(<!-- generated:(\w+) -->\n)(.*?)(<!-- /generated:\2 -->)", re.DOTALL)
DATASETS = (("digits", "digits 8x8"), ("fashion-mnist", "Fashion-MNIST 28x28"))
# the figures the README shows, copied by --collect beside the results (as STUDY_FILE)
FIGURES = {"vae_vs_diffusion": ("sample_grids.png", "scores.png", "spectrum.png")}


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _measured(check: dict[str, Any]) -> str:
    """A check's numbers as the study's page shows them (``Check.describe``)."""
    effect, se, margin = check["effect"], check["se"], check["margin"]
    if effect is None or se is None:
        return "not measured"
    if check.get("scale") == "log ratio":
        ratio, spread, bar = math.exp(effect), math.exp(se), math.exp(margin)
        return f"ratio {ratio:.3g} (x/ {spread:.3g}) against {bar:.3g}"
    return f"{effect:.4g} +- {se:.2g} against margin {margin:.4g}"


def studies_section() -> str:
    """Per dataset: the report's time and, for each study, its verdict, wall time and
    every check (claim, effect +- SE against margin, status), from
    benchmarks/results/studies/DATA/."""
    parts = []
    for data, label in DATASETS:
        folder = STUDIES / data
        if not (folder / "report.json").is_file():
            parts.append(f"{label}: no report collected in `{_rel(folder)}`.\n")
            continue
        report = _read(folder / "report.json")
        parts.append(
            f"**{label}**, budget {report['budget']}, `--jobs {report['jobs']}`: "
            f"{report['minutes']:.1f} min in all ({report['machine']}); files: "
            f"`{_rel(folder)}/`.\n"
        )
        rows = [
            "| study | verdict | check | claim | measured | status |",
            "|---|---|---|---|---|---|",
        ]
        for name in report["verdicts"]:
            path = folder / f"{name}.json"
            if not path.is_file():
                rows.append(f"| `{name}` | {report['verdicts'][name]} | | | | |")
                continue
            result = _read(path)
            seconds = result["protocol"].get("wall_time_s")
            head = f"{result['verdict']} ({seconds:.0f} s)"
            for i, (check_name, check) in enumerate(result["checks"].items()):
                study, verdict = (f"`{name}`", head) if i == 0 else ("", "")
                rows.append(
                    f"| {study} | {verdict} | `{check_name}` | {_cell(check['text'])} | "
                    f"{_measured(check)} | {check['status']} |"
                )
        parts.append("\n".join(rows) + "\n")
    return "\n".join(parts)


def studies_distill_section() -> str:
    """The studies' evidence on skipping the steps and on the free-form Jacobian, per dataset,
    from the collected reverse_steps, vae_vs_diffusion and coupling results."""

    def pm(ev: dict[str, Any], key: str) -> str:
        return f"{_num(ev.get(key))} +- {_num(ev.get(key + '_se'))}"

    steps = [
        "| data | one-shot FD | student FD at 1 / 2 / 4 calls | DPM-Solver++ 20 FD | "
        "distillation / teacher's training |",
        "|---|---|---|---|---|",
    ]
    one_pass = [
        "| data | row (one pass each) | FD | edge ratio (1 = data) | ms / image |",
        "|---|---|---|---|---|",
    ]
    trace = [
        "| data | D | coupling log-det (µs) | one Hutchinson probe (µs) | exact trace (ms) | "
        "exact / Hutchinson grows as D^p | Hutchinson bias (probe SDs) | one probe's SD (nats) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for data, label in DATASETS:
        folder = STUDIES / data
        if (folder / "reverse_steps.json").is_file():
            ev = _read(folder / "reverse_steps.json")["evidence"]
            if ev.get("student_1_fd") is not None:
                fds = " / ".join(pm(ev, f"student_{k}_fd") for k in (1, 2, 4))
                took, teach = ev.get("student_train_s"), ev.get("teacher_train_s")
                cost = f"{took / 60:.1f} / {teach / 60:.1f} min ({ev['student_steps']:.0f} steps)"
                steps.append(
                    f"| {label} | {pm(ev, 'oneshot_1_fd')} | {fds} | {pm(ev, 'dpmpp_20_fd')} | "
                    f"{cost} |"
                )
        if (folder / "vae_vs_diffusion.json").is_file():
            ev = _read(folder / "vae_vs_diffusion.json")["evidence"]
            if ev.get("student_1_fd") is not None:
                for row, name in (("student_1", "consistency student"), ("vae_sample", "VAE")):
                    ms = 1000 * ev[f"{row}_seconds_per_image"]
                    one_pass.append(
                        f"| {label} | {name} | {pm(ev, row + '_fd')} | "
                        f"{pm(ev, row + '_edge_ratio')} | {ms:.3f} |"
                    )
        if (folder / "coupling.json").is_file():
            ev = _read(folder / "coupling.json")["evidence"]
            if "exact_trace_s_at_data_dim" in ev:
                trace.append(
                    f"| {label} | {ev['data_dim']:.0f} | "
                    f"{1e6 * ev['affine_exact_s_at_data_dim']:.0f} | "
                    f"{1e6 * ev['hutchinson_s_at_data_dim']:.0f} | "
                    f"{1e3 * ev['exact_trace_s_at_data_dim']:.1f} | "
                    f"{pm(ev, 'exact_trace_over_hutchinson_exponent')} | "
                    f"{pm(ev, 'hutchinson_abs_bias_in_sd')} | "
                    f"{_num(ev['hutchinson_sd_at_data_dim'])} |"
                )
    return (
        "Skipping the steps (`reverse_steps`: FD +- bootstrap SE against the test split; "
        "minutes of wall time in the report):\n\n"
        + "\n".join(steps)
        + "\n\nOne network pass each (`vae_vs_diffusion`: the diffusion model's consistency "
        "student against the VAE's decoder sample):\n\n"
        + "\n".join(one_pass)
        + "\n\nWhat the triangular Jacobian buys (`coupling`: one example, one evaluation, "
        "float64; the affine coupling layer's whole log-det against a free-form field of the "
        "same width; the bias of 1024 probes against the exact trace):\n\n"
        + "\n".join(trace)
        + "\n"
    )


def _pct(ev: dict[str, Any], key: str) -> str:
    v, se = ev.get(key), ev.get(f"{key}_se")
    return "n/a" if v is None or se is None else f"{100 * v:.1f}% +- {100 * se:.1f}"


def ssl_section() -> str:
    """What pretraining buys at 10% of the labels, per dataset: the self_supervised
    study's means over label subsets (test accuracy +- SE) from its collected results."""
    rows = [
        "| data | labels | pretrained probe | from scratch | raw pixels | untrained encoder |",
        "|---|---|---|---|---|---|",
    ]
    for data, label in DATASETS:
        path = STUDIES / data / "self_supervised.json"
        if not path.is_file():
            rows.append(f"| {label} | no report collected | | | | |")
            continue
        ev = _read(path)["evidence"]
        labels = ev.get("labels_10pct")
        cells = [_pct(ev, f"{row}_mean_10pct") for row in ("best_probe", "scratch", "pixels")]
        cells.append(_pct(ev, "untrained_mean_10pct"))
        count = "10%" if labels is None else f"10% ({labels:.0f})"
        rows.append(f"| {label} | {count} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


# --- tables and numbers of the other sections, each from one results file ----------

FEATURES = ROOT / "src" / "genlab" / "metrics" / "weights" / "features.json"


def _result(name: str) -> Any:
    return _read(RESULTS / name)


def _num(value: Any, digits: int = 2, comma: bool = False) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "–"
    return f"{value:,.{digits}f}" if comma else f"{value:.{digits}f}"


def _x(value: Any) -> str:
    return "–" if not isinstance(value, (int, float)) else f"{value:.2f}x"


def shipped_feature_net(data: str) -> tuple[str, dict[str, Any]]:
    """The newest shipped feature network of ``data``: (version, its entry)."""
    table = _read(FEATURES)
    version = sorted(v for v in table if data in table[v])[-1]
    return version, table[version][data]


def in_shipped_space(record: dict[str, Any], data: str) -> bool:
    """Whether a metrics record was measured with the shipped feature network: it names
    it (``feature_net``), or its recorded feature-net test accuracy equals the shipped
    network's. Records from an earlier or local network fail, so their FD, KID and
    precision/recall are not shown."""
    version, entry = shipped_feature_net(data)
    name = record.get("feature_net")
    if isinstance(name, str):
        return name == f"shipped-{version}:{data}"
    return record.get("feature_net_test_accuracy") == entry["test_accuracy"]


def _stale_note(data: str, what: str) -> str:
    version, entry = shipped_feature_net(data)
    return (
        f"{what} in the feature space: measured with an earlier feature network (or one "
        f"the file does not name), not the shipped `{version}` "
        f"({100 * entry['test_accuracy']:.1f}% test accuracy), so they are left out here "
        "and await re-measurement in it.\n"
    )


def feature_net_section() -> str:
    """The shipped feature networks: accuracy, training cost, and the floor and
    independent-pixel-noise scores, from benchmarks/results/feature_net.json."""
    res = _result("feature_net.json")
    rows = [
        "| data | network | test accuracy | train steps (s) | floor FD (SE) | floor "
        "precision / recall | noise FD (SE) | noise precision / recall |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for data, label in DATASETS:
        r = res.get(data)
        if not r:
            continue
        f, n = r["floor_train_vs_test"], r["pixelwise_noise"]
        rows.append(
            f"| {label} | `{r['feature_net']}` | {100 * r['test_accuracy']:.2f}% | "
            f"{r['train_steps']} ({r['train_seconds']:.0f}) | {_num(f['fd'])} "
            f"({_num(f.get('fd_se'))}) | {_num(f['precision'])} / {_num(f['recall'])} | "
            f"{_num(n['fd'], 1)} ({_num(n.get('fd_se'))}) | {_num(n['precision'])} / "
            f"{_num(n['recall'])} |"
        )
    load = res.get("load_average_1min_at_start")
    note = f"\n`{res['recipe']}`" + (
        f"; training seconds on a machine with load {load:.1f} at the start.\n" if load else ".\n"
    )
    return "\n".join(rows) + "\n" + note


def feature_layout_section() -> str:
    """How the feature network's layout was chosen: benchmarks/results/feature_layout.json."""
    res = _result("feature_layout.json")
    parts = []
    for data, label in DATASETS:
        r = res["datasets"].get(data)
        if not r:
            continue
        lay = r["layouts"]
        parts.append(
            f"{label} ({r['validation']}, {r['validation_images']:,} images): spatial "
            f"{lay['spatial']['validation_accuracy']:.4f}, global "
            f"{lay['global']['validation_accuracy']:.4f}, difference "
            f"{r['spatial_minus_global']:+.4f} +- {r['spatial_minus_global_stderr']:.4f} paired; "
            f"{r['rule']}"
        )
    return (
        "The layout (the last feature map average-pooled to at most 8x8 and flattened, "
        '"spatial", rather than averaged to one vector, "global") was chosen on '
        "validation accuracy, images held out of the train split only "
        "(`python benchmarks/feature_layout.py`, benchmarks/results/feature_layout.json): "
        + "; ".join(parts)
        + ".\n"
    )


def reference_digits_section() -> str:
    """The digits reference values (floor and pixelwise), from reference_digits.json;
    feature-space columns only when measured with the shipped network."""
    res = _result("reference_digits.json")
    floor, pix = res["floor_train_vs_test"], res["pixelwise"]
    feats = in_shipped_space(floor, "digits") and in_shipped_space(pix, "digits")
    head = ["", "bpd"] + (["FD", "KID", "precision", "recall"] if feats else []) + ["sharpness"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, r in (
        ("floor: 1000 train images vs test", floor),
        ("`pixelwise` baseline (default settings)", pix),
    ):
        cells = [label, _num(r.get("bpd"), 3)]
        if feats:
            cells += [_num(r["fd"], 2), _num(r["kid"], 3), _num(r["precision"]), _num(r["recall"])]
        rows.append("| " + " | ".join(cells + [_num(r["sharpness"])]) + " |")
    out = "\n".join(rows) + "\n"
    return out if feats else out + "\n" + _stale_note("digits", "FD, KID and precision/recall")


_GENERATIVE = ("pixelwise", "flow-realnvp", "flow-glow", "flow-nsf", "vae", "diffusion")
_REPRESENTATION = ("simclr", "rotation", "masked", "classifier", "triplet")


def fashion_quality_section() -> str:
    """The Fashion-MNIST tables, from fashion_quality.json (``fashion_quality.py --table``)."""
    res = _result("fashion_quality.json")
    base = res.get("baselines", {})
    floor = base.get("floor", {})
    feats = all(
        in_shipped_space(r, "fashion-mnist")
        for r in [floor] + [res[n]["test"] for n in _GENERATIVE if n in res]
    )
    fd = "FD | precision / recall | " if feats else ""
    gen = [
        f"| job | steps x batch | train min | test bpd (SE) | {fd}sharpness |",
        "|---|---|---|---|" + ("---|---|" if feats else "") + "---|",
    ]
    if floor and feats:
        gen.append(
            f"| floor: 1000 train images | – | – | – | {_num(floor['fd'])} | "
            f"{_num(floor['precision'])} / {_num(floor['recall'])} | – |"
        )
    for name in _GENERATIVE:
        row = res.get(name)
        if not row or "test" not in row:
            continue
        t = row["test"]
        cells = [
            name,
            f"{row['steps']} x {row['batch_size']}",
            f"{row['train_seconds'] / 60:.1f}",
            f"{_num(t.get('bpd'), 3)} ({_num(t.get('bpd_se'), 3)})",
        ]
        if feats:
            cells += [_num(t.get("fd")), f"{_num(t.get('precision'))} / {_num(t.get('recall'))}"]
        gen.append("| " + " | ".join(cells + [_num(t.get("sharpness"))]) + " |")
        if "test_fitted_decoder" in row:  # the same run's bound, the decoder's stds fitted
            f = row["test_fitted_decoder"]
            bpd = f"{_num(f.get('bpd'), 3)} ({_num(f.get('bpd_se'), 3)})"
            cells = [f"{name}, decoder fitted", "same run", "–", bpd] + ["–", "–"] * feats
            gen.append("| " + " | ".join(cells + ["–"]) + " |")
    rep = [
        "| job | steps x batch | train min | probe 100% / 10% | k-NN 100% / 10% | other |",
        "|---|---|---|---|---|---|",
    ]
    for name in _REPRESENTATION:
        row = res.get(name)
        if not row or "test" not in row:
            continue
        t, tenth = row["test"], row.get("test_10pct_labels", {})
        other = ", ".join(
            f"{k} {_num(v, 3)}" for k, v in t.items() if k in ("accuracy", "recall@1", "map@r")
        )
        star = "" if "plan" in row else " \\*"
        rep.append(
            f"| {name}{star} | {row['steps']} x {row['batch_size']} | "
            f"{row['train_seconds'] / 60:.1f} | {_num(t.get('probe'), 3)} / "
            f"{_num(tenth.get('probe'), 3)} | {_num(t.get('knn'), 3)} / "
            f"{_num(tenth.get('knn'), 3)} | {other or '–'} |"
        )
    if base:
        unseen = base.get("raw_pixels_unseen_5_9", {})
        rep.append(
            f"| raw pixels | – | – | {_num(base.get('raw_pixels_probe'), 3)} / – | "
            f"{_num(base.get('raw_pixels_knn'), 3)} / – | "
            + ", ".join(f"{k} {_num(v, 3)} (unseen 5-9)" for k, v in unseen.items())
            + " |"
        )
    note = "" if feats else "\n" + _stale_note("fashion-mnist", "FD and precision/recall")
    starred = any("plan" not in res[n] for n in _REPRESENTATION if n in res)
    foot = (
        "\n\\* an earlier run of the script: steps from a 40-step probe of the training "
        "speed alone (validation not counted in the 10 minutes).\n"
        if starred
        else ""
    )
    return "\n".join(gen) + "\n" + note + "\n" + "\n".join(rep) + "\n" + foot


def fashion_summary_section() -> str:
    """The numbers of the paragraph under the Fashion-MNIST tables, from
    fashion_quality.json."""
    res = _result("fashion_quality.json")
    t = {n: res[n]["test"] for n in res if isinstance(res[n], dict) and "test" in res[n]}
    pix = t["pixelwise"]["bpd"]
    flows = sorted((t[n]["bpd"], n) for n in t if n.startswith("flow-"))
    below = [n for b, n in flows if b <= pix - 1] + (["vae"] if t["vae"]["bpd"] <= pix - 1 else [])
    above = [f"{n} ({t[n]['bpd']:.3f})" for b, n in flows if b > pix - 1]
    d = res["diffusion"]
    floor = res.get("baselines", {}).get("floor", {})
    probe = res.get("baselines", {}).get("raw_pixels_probe")
    tenth = {
        n: res[n].get("test_10pct_labels", {}).get("probe") for n in _REPRESENTATION if n in res
    }
    best = max((v, n) for n, v in tenth.items() if v is not None)
    lowest = min((t[n]["fd"], n) for n in _GENERATIVE if n in t)[1]
    dt = d["test"]
    below_text = ", ".join(below) + (" are" if len(below) > 1 else " is")
    shipped = all(in_shipped_space(r, "fashion-mnist") for r in [floor, *t.values()] if "fd" in r)
    fd = (
        f"The lowest FD is {lowest}'s ({t[lowest]['fd']:.2f} +- {t[lowest]['fd_se']:.2f}, "
        f"precision / recall {t[lowest]['precision']:.2f} / {t[lowest]['recall']:.2f}), "
        f"{t[lowest]['fd'] / floor['fd']:.1f}x the floor's {floor['fd']:.2f}. "
        if shipped
        else ""
    )
    fitted = d.get("test_fitted_decoder", {}).get("bpd")
    fitted_text = (
        f" ({fitted:.3f} with the decoder's stds fitted on train images, "
        f"{fitted - flows[0][0]:.2f} above)"
        if fitted is not None
        else ""
    )
    return (
        f"Test bits/dim against pixelwise ({pix:.3f}): {below_text} at least 1 bit/dim below "
        "it" + (f"; {', '.join(above)} is not" if above else "") + f". The best flow is "
        f"{flows[0][1]} ({flows[0][0]:.3f}). {fd}Diffusion's "
        f"bound ({d['steps']:,} steps; {dt['bpd']:.3f}, {dt['bpd_timesteps_per_image']:.0f} "
        f"timesteps per image, SE {dt['bpd_se']:.3f}) is {dt['bpd'] - flows[0][0]:.2f} bits/dim "
        f"above the best flow's{fitted_text}. With 10% of the labels the best representation "
        "family's "
        f"probe is {best[1]}'s ({best[0]:.3f}), against raw pixels' probe with all of them "
        f"({probe:.3f}).\n"
    )


def _speed(value: Any) -> str:
    """Images/s: whole numbers from 100 up, three significant digits below."""
    if not isinstance(value, (int, float)):
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:#.3g}"


def _ratio_cell(g: Any, p: Any) -> str:
    text = f"{_speed(g)} / {_speed(p)}"
    return text + f" ({g / p:.2f}x)" if isinstance(g, (int, float)) and p else text


def same_architecture(row: dict[str, Any]) -> bool:
    """FLOPs per step and parameters within 2% of the peer's (the README's rule)."""
    r = row["ratio"]
    return all(
        isinstance(r.get(k), (int, float)) and abs(r[k] - 1) <= 0.02 for k in ("params", "flops")
    )


def speed_section(res: dict[str, Any] | None = None) -> str:
    """speed.json (or ``res``, another file of benchmarks/speed.py): per shape, genlab / peer
    speeds, FLOPs per step for both sides, the training ratio per second and per FLOP, and
    the rows below 1.0x with their notes."""
    res = res if res is not None else _result("speed.json")
    mach = res["machine"]
    out = [
        f"torch {res['torch']}, {res['threads']} thread(s), {mach['cpu']} "
        f"({mach['cpu_count']} CPUs, load {mach['load_average_1min_at_start']:.1f} at start); "
        f"matmul peak {res['matmul_peak']['gflop_per_s']:.1f} GFLOP/s; "
        + ", ".join(f"{k} {v or 'missing'}" for k, v in res["peers"].items())
    ]
    below = []
    for shape in dict.fromkeys(row["shape"] for row in res["rows"]):
        out += [
            "",
            f"**{shape}** (genlab / peer)",
            "",
            "| row | peer | batch | params | GFLOP / step | same architecture | train img/s "
            "| train ratio per FLOP | nll img/s | sample img/s | peak step MiB |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in (r for r in res["rows"] if r["shape"] == shape):
            g, p, r = row["genlab"], row["peer"] or {}, row["ratio"]
            per_flop = (
                r["train"] * r["flops"]
                if isinstance(r.get("train"), float) and isinstance(r.get("flops"), float)
                else None
            )
            samples = "; ".join(
                f"{k}: {_ratio_cell(v, p.get('sample_images_per_s', {}).get(k))}"
                for k, v in g.get("sample_images_per_s", {}).items()
            )
            out.append(
                f"| {row['row']} | {p.get('model', 'missing')} | {row['batch']} | "
                f"{_num(g['params'], 0, True)} / {_num(p.get('params'), 0, True)} | "
                f"{_num(g['train_step_gflop'])} / {_num(p.get('train_step_gflop'))} | "
                f"{'yes' if same_architecture(row) else 'no'} | "
                f"{_ratio_cell(g['train_images_per_s'], p.get('train_images_per_s'))} | "
                f"{_x(per_flop)} | "
                f"{_ratio_cell(g.get('nll_images_per_s'), p.get('nll_images_per_s'))} | "
                f"{samples or '–'} | "
                f"{_num(g['peak_step_mib'], 1)} / {_num(p.get('peak_step_mib'), 1)} |"
            )
            slow = sorted(
                k
                for k, v in r.items()
                if k not in ("params", "flops") and isinstance(v, float) and v < 1
            )
            if slow:
                below.append(
                    f"- **{row['row']}** at {shape}: "
                    + ", ".join(f"{k} {r[k]:.2f}x" for k in slow)
                    + (f" (training per FLOP {per_flop:.2f}x)" if per_flop else "")
                    + f". {row.get('note') or ''}".rstrip()
                )
    out += [
        "",
        "Rows below 1.0x (ratio genlab / peer), with the file's note on how the two models differ:",
        "",
        *below,
    ]
    return "\n".join(out) + "\n"


def speed_threads_section() -> str:
    """speed_2threads.json against speed.json: each row's 2-thread speed-up and its
    ratio to the peer at 2 threads."""
    two, one = _result("speed_2threads.json"), _result("speed.json")
    ones = {(r["row"], r["shape"]): r for r in one["rows"]}
    rows = [
        "| row | shape | train img/s, 1 / 2 threads | speed-up | ratio to peer, 1 / 2 threads |",
        "|---|---|---|---|---|",
    ]
    for r in two["rows"]:
        o = ones.get((r["row"], r["shape"]))
        if not o:
            continue
        g1, g2 = o["genlab"]["train_images_per_s"], r["genlab"]["train_images_per_s"]
        rows.append(
            f"| {r['row']} | {r['shape']} | {g1:,.0f} / {g2:,.0f} | {g2 / g1:.2f}x | "
            f"{_x(o['ratio'].get('train'))} / {_x(r['ratio'].get('train'))} |"
        )
    return "\n".join(rows) + "\n"


def compile_speed_section() -> str:
    """compile_speed.json: eager against compiled step time per family."""
    res = _result("compile_speed.json")
    rows = [
        f"torch {res['torch']}, {res['threads']} thread(s):",
        "",
        "| row | shape | batch | eager step s | compiled step s | speed-up | compile s "
        "| graph breaks | break-even steps |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        even = r.get("break_even_steps")
        rows.append(
            f"| {r['row']} | {r['shape']} | {r['batch']} | {r['eager_step_s']:.3f} | "
            f"{r['compiled_step_s']:.3f} | {r['speedup']:.2f}x | {r['compile_s']:.1f} | "
            f"{r['graph_breaks']} | {'never' if even is None else f'{even:,.0f}'} |"
        )
    return "\n".join(rows) + "\n"


def flow_quality_digits_section() -> str:
    """flow_quality_digits.json: test bits/dim per preset and dequantization."""
    runs = _result("flow_quality_digits.json")["runs"]
    presets = list(dict.fromkeys(k.split(":")[0] for k in runs))
    feats = all(in_shipped_space(r, "digits") for r in runs.values())
    head = "| preset | uniform | variational | best step (uniform) |"
    head += " FD uniform (SE) | FD variational (SE) |" if feats else ""
    rows = [head, "|" + "---|" * (head.count("|") - 1)]

    def fd(r: dict[str, Any]) -> str:
        return f"{_num(r.get('fd'))} ({_num(r.get('fd_se'))})" if r else "–"

    for name in presets:
        u, v = runs.get(f"{name}:uniform", {}), runs.get(f"{name}:variational", {})
        cells = [name, _num(u.get("test_bpd"), 3), _num(v.get("test_bpd"), 3)]
        cells += [str(u.get("best_step", "–"))] + ([fd(u), fd(v)] if feats else [])
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n" + ("" if feats else "\n" + _stale_note("digits", "FDs"))


def flow_speed_section() -> str:
    """flow_speed.json: genlab's presets and, measured on the same machine with the same
    batch, normflows' RealNVP and Glow (``reference_measured``)."""
    res = _result("flow_speed.json")
    rows = ["| model | params | train | nll | sample |", "|---|---|---|---|---|"]

    def line(name: str, r: dict[str, Any]) -> str:
        return (
            f"| {name} | {r['params'] / 1e6:.2f}M | {r['train_images_per_s']:,.0f} | "
            f"{r['nll_images_per_s']:,.0f} | {r['sample_images_per_s']:,.0f} |"
        )

    for name, r in res["presets"].items():
        rows.append(line(f"genlab {name}", r))
    ref = res.get("reference_measured", {})
    for name, r in ref.items():
        rows.append(line(f"normflows {name} (same machine)", r))
    out = "\n".join(rows) + "\n"
    ratios = []
    for name, r in ref.items():
        mine = next(
            (
                g
                for k, g in res["presets"].items()
                if k.split("@")[0] == name and g["params"] == r["params"]
            ),
            None,
        )
        if mine:
            ratios.append(
                f"{name} at {r['params'] / 1e6:.2f}M trains at "
                f"{mine['train_images_per_s'] / r['train_images_per_s']:.2f}x normflows' and "
                f"scores `nll` at {mine['nll_images_per_s'] / r['nll_images_per_s']:.2f}x"
            )
    if ratios:
        out += "\nAt equal parameters, genlab's " + "; ".join(ratios) + ".\n"
    return out


def diffusion_digits_section() -> str:
    """diffusion_quality_digits.json: sampler costs; feature-space scores only when
    measured with the shipped network."""
    res = _result("diffusion_quality_digits.json")
    points = res["points"]
    feats = all(in_shipped_space(p, "digits") for p in points.values())
    head = "| sampler | network calls | seconds for 1000 samples |"
    if feats:
        head += " FD (seed 0) | mean FD of seeds | KID | precision / recall |"
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for key, p in points.items():
        sampler, calls = key.split(":")
        cells = [sampler, calls, _num(p.get("sample_s"), 1)]
        if feats:
            cells += [
                _num(p["fd"]),
                _num(p.get("fd_mean")),
                _num(p["kid"], 3),
                f"{_num(p['precision'])} / {_num(p['recall'])}",
            ]
        rows.append("| " + " | ".join(cells) + " |")
    out = "\n".join(rows) + "\n"
    return out if feats else out + "\n" + _stale_note("digits", "FD, KID and precision/recall")


def flow_defaults_section() -> str:
    """flow_defaults_fashion.json: GroupNorm's worth in glow at equal steps, and realnvp's
    masked against gathered checkerboards at equal CPU time."""
    res = _result("flow_defaults_fashion.json")
    curves = list(res["glow_group_norm"]["val_curves_step_bpd"].values())
    with_norm, without = (dict(map(tuple, c)) for c in curves[:2])
    steps = sorted(set(with_norm) & set(without))
    gaps = ", ".join(
        f"{without[s] - with_norm[s]:.2f} at step {s} ({without[s]:.3f} against {with_norm[s]:.3f})"
        for s in (steps[0], steps[-1])
    )
    cand = res["candidates"]
    runs = cand["runs"]
    masked = runs["realnvp (multi-scale)"]["val_bpd_at_common_cpu_seconds"]
    gathered = runs["realnvp, gathered checkerboards"]["val_bpd_at_common_cpu_seconds"]
    rows = sorted(runs.items(), key=lambda kv: kv[1]["val_bpd_at_common_cpu_seconds"])
    table = [
        "",
        f"Every candidate at about {next(iter(runs.values()))['budget']:.0f} CPU s of "
        f"training (`python benchmarks/flow_defaults_fashion.py --only candidates`), "
        "ranked by validation bits/dim (1000 held-out train images) at the CPU seconds of "
        "the shortest run:",
        "",
        "| candidate | params | train img/s | steps | val bits/dim at "
        f"{cand['common_cpu_seconds']:.0f} CPU s | best val bits/dim |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in rows:
        table.append(
            f"| {name} | {r['params'] / 1e6:.2f}M | {r['train_images_per_s']:.0f} | "
            f"{r['steps']} | {r['val_bpd_at_common_cpu_seconds']:.3f} | {r['val_bpd']:.3f} |"
        )
    # the spread of one image's bits/dim, read off the default glow's test SE over its
    # images: what a 1000-image validation mean can resolve between two candidates
    test = _result("fashion_quality.json")["flow-glow"]["test"]
    val_se = test["bpd_se"] * (test["bpd_images"] / 1000) ** 0.5
    best_name, best = rows[0]
    default = next(r for n, r in runs.items() if n.startswith("default"))
    gap = default["val_bpd_at_common_cpu_seconds"] - best["val_bpd_at_common_cpu_seconds"]
    table += [
        "",
        f"A 1000-image validation mean has a standard error of about {val_se:.3f} bits/dim "
        f"(the default glow's per-image spread on the test split), {val_se * 2**0.5:.3f} for "
        "the difference of two unpaired means (the candidates share the validation images, "
        "so a paired SE would be smaller; the runs record no per-image values). "
        + (
            "The default is the lowest."
            if best is default
            else f"The lowest, {best_name}, is {gap:.3f} below the default: "
            + (
                "inside two standard errors, so the default stays."
                if gap < 2 * val_se * 2**0.5
                else "more than two standard errors: the default should change to it."
            )
        ),
    ]
    return (
        f"Validation bits/dim on Fashion-MNIST (benchmarks/results/flow_defaults_fashion.json): "
        f"glow without GroupNorm is behind the default by {gaps}; at equal CPU time "
        f"({cand['common_cpu_seconds']:.0f} s) realnvp's masked checkerboards reach "
        f"{masked:.3f} against {gathered:.3f} gathered.\n" + "\n".join(table) + "\n"
    )


def diffusion_bound_section() -> str:
    """diffusion_bound.json (and the same estimator's time in fashion_quality.json)."""
    res = _result("diffusion_bound.json")
    b, est, rank = res["bound"], res["estimator"], res["ranking"]
    quality = _result("fashion_quality.json")["diffusion"]["test"]
    return (
        f"On the {b['images']:,} Fashion-MNIST test images the bound with the defaults "
        f"({est['network_passes_per_image']} network passes per image) took "
        f"{b['seconds']:.0f} s on one CPU thread ({res['protocol']}), with a standard error "
        f"of {b['stderr_across_images']:.4f} bits/dim across images, of which the Monte "
        f"Carlo part is {b['mc_stderr']:.4f} (`python benchmarks/diffusion_bound.py`); the "
        f"same estimator took {quality['bpd_seconds']:.0f} s in the run of "
        f"benchmarks/results/fashion_quality.json. `validation_nll` (the same estimator with "
        f"{est['validation_timesteps_per_image']} timesteps per image) ranked "
        f"{len(rank['checkpoints'])} checkpoints as the bound does (Spearman "
        f"{rank['spearman']:.2f}; {rank.get('data', 'test images')}). {_ranking_caveat(rank)}\n"
    )


def _ranking_caveat(rank: dict[str, Any]) -> str:
    """What a rank correlation along one run does and does not show."""
    cps = rank["checkpoints"]
    steps = list(zip(cps, cps[1:], strict=False))
    monotone = all(b["bound_bpd"] < a["bound_bpd"] for a, b in steps)
    if not monotone:
        return ""
    a, b = min(steps, key=lambda p: p[0]["bound_bpd"] - p[1]["bound_bpd"])
    return (
        "The bound falls at every checkpoint of this run, so the correlation shows that the "
        "cheap score follows the trend, not that it resolves near-ties: the smallest step, "
        f"{a['step']} to {b['step']}, moves the bound by {b['bound_bpd'] - a['bound_bpd']:+.3f} "
        f"and the validation score by {b['validation_bpd'] - a['validation_bpd']:+.3f} bits/dim "
        f"(the bound's standard error on its images: {b['bound_stderr']:.3f})."
    )


def vae_defaults_section() -> str:
    """fashion_quality.json: the VAE's length and regularisation on 60,000 images, read off
    validation (the run's held-out tenth of train), never test."""
    res = _result("fashion_quality.json")
    plain, reg = res["vae"], res["vae-regularised"]

    def best(row: dict[str, Any]) -> dict[str, Any]:
        return min(row["validation"], key=lambda r: r["bpd"])

    b, r = best(plain), best(reg)
    last = plain["validation"][-1]
    return (
        f"  Both were re-chosen on validation bits/dim (the held-out tenth of train) in "
        f"benchmarks/results/fashion_quality.json: in its 10 minutes the default trained "
        f"{plain['steps']:,} steps and its validation bits/dim reached its best, "
        f"{b['bpd']:.4f}, at step {b['step']:,} ({last['bpd'] - b['bpd']:.4f} above it at the "
        f"end), so 20,000 steps keep the best; with dropout 0.3 and weight decay 0.1 (the "
        f"small-data defaults; `vae-regularised`, {reg['steps']:,} steps) the best is "
        f"{r['bpd']:.4f}, {r['bpd'] - b['bpd']:.3f} worse, so both stay off at this size.\n"
    )


def runs_listing_section() -> str:
    """runs_listing.json: real output of a finished run's summary, a stopped run's last
    lines and ``genlab runs`` (benchmarks/runs_listing.py)."""
    res = _result("runs_listing.json")
    stopped = res["stopped_summary"].splitlines()[-1]
    return (
        "```\n$ genlab train vae --data digits --out runs/listing/vae --steps 600 ...\n"
        f"{res['finished_summary']}\n```\n\nStopped with Ctrl-C (the last line):\n\n"
        f"```\n{stopped}\n```\n\n```\n$ genlab runs runs/listing\n{res['listing']}\n```\n"
    )


def diffusion_decoder_section() -> str:
    """diffusion_decoder.json: the fixed decoder's floor and the fitted decoder's gain."""
    res = _result("diffusion_decoder.json")
    fixed, fitted, change = res["bound_fixed"], res["bound_fitted"], res["change"]
    return (
        f"The bound's decoder L_0 as Ho et al. (2020) define it, N(x0_hat, beta_1) "
        f"integrated over each bin, has a floor at 256 levels: its std sigma_1 = "
        f"{res['sigma_1']:.4f} is wider than half a bin ({res['bin_half_width']:.4f}), so "
        f"even a perfect denoiser pays {res['floor_bpd']:.2f} bits/dim in L_0 on the "
        f"Fashion-MNIST test images ({100 * res['end_bin_pixel_share']:.0f}% of their "
        f"pixels in an end bin). `model.nll_decoder=fitted` fits the std on 1000 train "
        f"images instead, one for pixels whose x0_hat falls in an end bin "
        f"({res['fitted_std_end']:.4f}) and one for the rest ({res['fitted_std_rest']:.4f}); "
        f"any std gives a probability of the levels, so it stays a bound (and passes the "
        f"known-entropy test). On the Fashion-MNIST run of fashion_quality.json "
        f"({res['run_steps']} steps; "
        f"`python benchmarks/diffusion_decoder.py`), on the whole test split, L_0 falls from "
        f"{_num(res['l0_fixed']['bpd'], 3)} to {_num(res['l0_fitted']['bpd'], 3)} bits/dim "
        f"and the bound from {_num(fixed['bpd'], 3)} +- {_num(fixed['se'], 3)} to "
        f"{_num(fitted['bpd'], 3)} ({_num(change['bpd'], 3)} +- {_num(change['se'], 3)}, "
        "paired). `genlab eval RUN model.nll_decoder=fitted` scores it.\n"
    )


def flowmatch_fashion_section() -> str:
    """flowmatch_fashion.json: flow matching beside diffusion at equal training, FD per
    sampler and NFE, and both likelihoods through the ODE beside the bound and the flows."""
    res = _result("flowmatch_fashion.json")
    fq = _result("fashion_quality.json")
    tr, bpd = res["train"], res["bpd"]
    diff = fq["diffusion"]
    flows = {k: fq[k]["test"]["bpd"] for k in ("flow-realnvp", "flow-glow", "flow-nsf")}
    best_flow = min(flows, key=flows.get)
    lines = [
        f"Measured on Fashion-MNIST (`python benchmarks/flowmatch_fashion.py`, "
        f"benchmarks/results/flowmatch_fashion.json): flow matching with the defaults "
        f"({tr['model']['path']} path, {tr['model']['time_sampling'].replace('_', '-')} "
        f"times) trained {tr['steps']} steps x {tr['batch_size']}, the steps of the "
        f"10-minute diffusion run of the Fashion-MNIST table on the same U-Net and batch "
        f"(equal training FLOPs). 1000 samples each against the 10,000 test images, FD "
        f"+- its bootstrap SE in the shipped feature network:",
        "",
        "| model | sampler | NFE | FD | precision | recall | eval s (2 threads) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in res["samples"]:
        lines.append(
            f"| {r['family']} | {r['sampler']} | {r['nfe']} | {_num(r['fd'])} +- "
            f"{_num(r['fd_se'])} | {_num(r['precision'])} | {_num(r['recall'])} | "
            f"{r['seconds']:.0f} |"
        )
    fm, df = bpd["flowmatch"], bpd["diffusion"]
    grid = res["grid"]
    tm = grid["diffusion"]["t_min"]

    def grid_text(family: str) -> str:
        c = grid[family]["chosen"]
        return f"rk4, {c['steps']} steps ({4 * c['steps']} NFE), spacing {c['spacing']:g}"

    def est_text(r: dict[str, Any]) -> str:
        e = r["estimator"]
        return f"{e['divergence']} divergence with {e.get('probes', 0)} probe, K = {e['K']}"

    lines += [
        "",
        f"Bits/dim through the ODE on {bpd['protocol']}, on one CPU thread. The fixed grid "
        f"(rk4 at times t_min + (1 - t_min) (i / steps)^spacing, `model.nll_spacing`) was "
        f"chosen on {grid['flowmatch']['images']} {grid['flowmatch']['data']}, never on "
        f"test images: {grid['flowmatch']['rule']}, against {grid['flowmatch']['tight']} "
        f"with the same probes and draws; {len(grid['flowmatch']['candidates'])} candidates "
        f"per model. Flow matching: {grid_text('flowmatch')}; diffusion: "
        f"{grid_text('diffusion')}, from t_min = {tm['chosen']:g} timesteps (of "
        + ", ".join(f"{t} ({float(v):.3f})" for t, v in tm["bpd"].items())
        + f" on those images; {'lower than' if tm['chosen'] != tm['default'] else 'the default'} "
        f"{tm['default']:g}, best minus default {tm['best_minus_default']:+.4f} +- "
        f"{tm['best_minus_default_se']:.4f}).",
        "",
        "| model | ODE bits/dim (SE) | minutes (whole test split) | bias vs tight solve "
        f"({fm['bias_images']} images, paired) | K = {fm['draws']['K']} minus K = 1 "
        f"({fm['draws']['images']} images) | estimator |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in (("flow matching", fm), ("diffusion", df)):
        lines.append(
            f"| {name} | {_num(r['bpd'], 3)} ({_num(r['bpd_se'], 3)}) | "
            f"{r['test_split_minutes']:.1f} | {r['bias_vs_tight']:+.4f} +- {r['bias_se']:.4f} "
            f"| {r['draws']['minus_K1']:+.4f} +- {r['draws']['minus_K1_se']:.4f} | "
            f"{est_text(r)} |"
        )
    lines += [
        "",
        f"Beside them, on the whole test split: the diffusion model's variational bound "
        f"{_num(diff['test']['bpd'], 3)} ({_num(diff['test_fitted_decoder']['bpd'], 3)} with "
        f"the fitted decoder) and the best coupling flow's {_num(flows[best_flow], 3)} "
        f"({best_flow}).",
    ]
    fd20 = {(r["family"], r["sampler"]): r for r in res["samples"] if r["nfe"] == 20}
    fm_best = min((r for k, r in fd20.items() if k[0] == "flowmatch"), key=lambda r: r["fd"])
    df_best = min((r for k, r in fd20.items() if k[0] == "diffusion"), key=lambda r: r["fd"])
    gap = diff["test"]["bpd"] - df["bpd"]
    best_ct = min(fm["bpd"], df["bpd"])

    def met(ok: bool) -> str:
        return "met" if ok else "missed"

    lines += [
        "",
        "The aims set for this comparison, read off these numbers: flow matching's best FD "
        "at 20 NFE "
        f"({fm_best['sampler']}, {_num(fm_best['fd'])} +- {_num(fm_best['fd_se'])}) at most "
        f"the diffusion model's ({df_best['sampler']}, {_num(df_best['fd'])} +- "
        f"{_num(df_best['fd_se'])}): {met(fm_best['fd'] <= df_best['fd'])}; the diffusion "
        f"model's ODE bits/dim at least 0.5 below its bound: {gap:.3f} below, "
        f"{met(gap >= 0.5)}; the best continuous-time model's bits/dim "
        f"({_num(best_ct, 3)}) at most the best coupling flow's "
        f"({_num(flows[best_flow], 3)}): {met(best_ct <= flows[best_flow])}.",
    ]
    return "\n".join(lines) + "\n"


def distill_fashion_section() -> str:
    """distill_fashion.json: FD against NFE for the flow-matching teacher's solvers and its
    distilled students, each student's cost beside the teacher's."""
    res = _result("distill_fashion.json")
    d = res["distill"]
    nfes = sorted({r["nfe"] for r in res["fd"]})
    models = list(dict.fromkeys(r["model"] for r in res["fd"]))
    cell = {(r["model"], r["nfe"]): r for r in res["fd"]}
    lines = [
        f"Measured on Fashion-MNIST (`python benchmarks/distill_fashion.py`, "
        f"benchmarks/results/distill_fashion.json; {res['protocol']}). The teacher is the "
        f"flow-matching run of the table above ({d['teacher_minutes']:.1f} minutes of "
        "training); each student had "
        + " and ".join(
            f"{m}: a {d[m]['minutes_budget']:.1f}-minute training budget, "
            f"{d[m]['wall_seconds'] / 60:.1f} min of wall time with loading the teacher and "
            f"saving ({d[m]['steps']} steps x {d[m]['batch_size']}, {d[m]['threads']} threads)"
            for m in ("reflow", "consistency")
        )
        + ". FD +- its bootstrap SE; at 1 NFE the teacher's solvers both give the one-shot "
        "baseline, E[x_0 | x_1] in one pass:",
        "",
        "| model | " + " | ".join(f"NFE {k}" for k in nfes) + " |",
        "|---|" + "---|" * len(nfes),
    ]
    for m in models:
        cells = [
            f"{_num(cell[m, k]['fd'])} +- {_num(cell[m, k]['fd_se'])}" if (m, k) in cell else "–"
            for k in nfes
        ]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    one_shot = cell["teacher, Euler", 1]["fd"]
    best20 = cell["teacher, DPM-Solver++", 20]["fd"]
    students = [m for m in models if "student" in m]
    one = min(students, key=lambda m: cell[m, 1]["fd"])
    four = min(students, key=lambda m: cell[m, 4]["fd"])

    def ratio(a: dict, b: dict) -> str:  # a / b +- its SE (independent sample sets)
        r = a["fd"] / b["fd"]
        return f"{r:.3f} +- {r * math.hypot(a['fd_se'] / a['fd'], b['fd_se'] / b['fd']):.3f}"

    lines += [
        "",
        f"![FD against NFE]({res['figure']})",
        "",
        f"Aims: a one-step student at most a fifth of the one-shot FD ({one}: "
        f"{ratio(cell[one, 1], cell['teacher, Euler', 1])} of it, "
        f"{'met' if cell[one, 1]['fd'] <= one_shot / 5 else 'missed'}); a four-step student "
        f"within 1.5x of DPM-Solver++ at 20 NFE ({four}: "
        f"{ratio(cell[four, 4], cell['teacher, DPM-Solver++', 20])}x, "
        f"{'met' if cell[four, 4]['fd'] <= 1.5 * best20 else 'missed'}). Ratios +- their SE "
        "from the two FDs' bootstrap SEs.",
    ]
    return "\n".join(lines) + "\n"


def speed_flowmatch_section() -> str:
    """speed_flowmatch.json: the flow-matching rows of benchmarks/speed.py, run on their own
    (``--only flowmatch``) after the main table."""
    return speed_section(_result("speed_flowmatch.json"))


def toy2d_densities_section() -> str:
    """toy2d_densities.json: test NLL per toy set and model, with the picture."""
    res = _result("toy2d_densities.json")
    rows = res["rows"]
    models = list(dict.fromkeys(r["model"] for r in rows))
    sets = list(dict.fromkeys(r["dataset"] for r in rows))
    out = [
        f"![learned 2-D densities](benchmarks/results/{res['figure']})",
        "",
        f"Test NLL in nats/dim (lower is better; a fitted Gaussian for scale), "
        f"`python benchmarks/toy2d_densities.py`: {res['protocol']}.",
        "",
        "| toy set | Gaussian | " + " | ".join(models) + " |",
        "|---|---|" + "---|" * len(models),
    ]
    for name in sets:
        here = {r["model"]: r for r in rows if r["dataset"] == name}
        gauss = next(iter(here.values()))["gaussian_nats_per_dim"]
        cells = [f"{here[m]['test_nats_per_dim']:.3f}" for m in models]
        out.append(f"| {name} | {gauss:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def diffusion_defaults_section() -> str:
    """defaults_fashion_diffusion.json: the Fashion-MNIST U-Net chosen on validation."""
    res = _result("defaults_fashion_diffusion.json")
    runs = res["runs"]
    cells = "; ".join(
        f"{name}: {r['steps']} steps, FD {_num(r['fd'])} +- {_num(r['fd_se'])}, precision "
        f"{_num(r['precision'])}, recall {_num(r['recall'])}"
        for name, r in runs.items()
    )
    return (
        "- **diffusion**: the 16-channel U-Net (multipliers 1,2,2, batch 64), not the digits "
        "one (24 channels, multipliers 1,2,3), chosen on validation samples at equal CPU "
        "time (`python benchmarks/defaults_fashion.py --family diffusion`, "
        f"benchmarks/results/defaults_fashion_diffusion.json; {res['protocol']}): {cells}. "
        + _batch_verdict(runs["default"], runs["16ch (1,2,2), batch 32"])
        + "\n"
    )


def _batch_verdict(b64: dict[str, Any], b32: dict[str, Any]) -> str:
    """Whether batch 32's FD differs from batch 64's by more than two SE of the difference."""
    diff = b64["fd"] - b32["fd"]
    se = (b64["fd_se"] ** 2 + b32["fd_se"] ** 2) ** 0.5
    if abs(diff) < 2 * se:
        return (
            f"Batch 64 minus batch 32: FD {diff:+.2f} +- {se:.2f}, inside two standard "
            "errors, so the recorded batch 64 stays."
        )
    better = "32" if diff > 0 else "64"
    return f"Batch 64 minus batch 32: FD {diff:+.2f} +- {se:.2f}: batch {better} is better."


def diffusion_speed_section() -> str:
    """diffusion_speed.json: training and sampling speed of the digits U-Net."""
    res = _result("diffusion_speed.json")
    smp = res["sampling"]
    overhead = max(v["overhead_fraction"] for v in smp.values())
    return (
        f"Speed on CPU, one thread (`python benchmarks/diffusion_speed.py`, {res['protocol']}): "
        f"the {res['params'] / 1e6:.2f}M-parameter U-Net trains at "
        f"{res['train_images_per_s']:,.0f} images/s; 1000 samples with DPM-Solver++ take "
        f"{smp['dpmpp:20']['seconds']:.1f} s at 20 steps and {smp['dpmpp:10']['seconds']:.1f} s "
        f"at 10; time outside the network calls is at most {100 * overhead:.1f}% of sampling "
        "time.\n"
    )


def vae_cost_section() -> str:
    """vae_nll_cost.json: the VAE's importance-sampled bits/dim, its cost, and validation
    with few samples."""
    res = _result("vae_nll_cost.json")
    fm = res["fashion-mnist"]
    t, speed, agree = fm["test"], fm["speed"], fm["agreement"]
    quality = _result("fashion_quality.json")["vae"]["test"]
    digits = res["digits"]["agreement"]
    ranks = ", ".join(
        f"K = {k[1:]}: {agree[k]['validation']['spearman']:.2f} and "
        f"{digits[k]['validation']['spearman']:.2f}"
        for k in sorted(agree, key=lambda k: int(k[1:]))
        if k != "k100"
    )
    return (
        f"On Fashion-MNIST, one CPU thread (`python benchmarks/vae_nll_cost.py`): `genlab eval "
        f"--metrics bpd` of the default VAE (K = {t['K']}) covered the {t['images']:,} test "
        f"images in {t['seconds']:.0f} s ({t['images'] / t['seconds']:.1f} images/s), "
        f"{t['bpd']:.3f} bits/dim after {fm['steps']:,} steps with a standard error of "
        f"{t['se']:.4f} across images; the same estimator took {quality['bpd_seconds']:.0f} s "
        f"in the run of benchmarks/results/fashion_quality.json. Validation with K = 10 costs "
        f"{agree['k10']['seconds_per_validation']:.2f} s, {100 * speed['k10']['val_share']:.1f}% "
        f"of training time at `eval_every` {fm['eval_every']} (K = 100: "
        f"{100 * speed['k100']['val_share']:.0f}%, K = 1000: "
        f"{100 * speed['k1000']['val_share']:.0f}%). Over the run's "
        f"{len(fm['checkpoints'])} checkpoints and the {len(res['digits']['checkpoints'])} of "
        f"a digits run, fewer draws rank the validation images' checkpoints as K = 100 does "
        f"(Spearman on Fashion-MNIST and digits, {ranks}), so K = 10 was chosen on cost.\n"
    )


def vae_digits_section() -> str:
    """vae_quality_digits.json: test bits/dim on digits per decoder."""
    res = _result("vae_quality_digits.json")
    rows = [
        "| run | overrides | steps | test bpd | best validation step |",
        "|---|---|---|---|---|",
    ]
    for name, r in res["runs"].items():
        over = " ".join(f"`{o}`" for o in r["overrides"]) or "defaults"
        steps = r.get("steps", res.get("steps"))
        rows.append(f"| {name} | {over} | {steps:,} | {r['test_bpd']:.3f} | {r['best_step']} |")
    feats = all(in_shipped_space(r, "digits") for r in res["runs"].values())
    out = f"{res['protocol']}:\n\n" + "\n".join(rows) + "\n"
    return out if feats else out + "\n" + _stale_note("digits", "FDs")


def metric_speed_section() -> str:
    """metric_speed.json: the miners' cost."""
    res = _result("metric_speed.json")
    c, big = res["cases"], res["large_batch"]
    semi, hard = 1000 * c["semi_hard"]["median_s"], 1000 * c["batch_hard"]["median_s"]
    return (
        f"Semi-hard mining with its loss runs in {semi:.0f} ms (`benchmarks/metric_speed.py`: "
        f"{res['protocol']}), batch-hard in {hard:.0f} ms; B = {big['batch']:,} completes in "
        f"{big['seconds']:.1f} s.\n"
    )


def defaults_section() -> str:
    """The numbers behind the VAE's and SimCLR's Fashion-MNIST defaults."""
    vae = _result("defaults_fashion_vae.json")["runs"]
    latents = {
        k: v["best_val_bpd"]
        for k, v in vae.items()
        if k == "default" or (k.startswith("latent ") and "," not in k)
    }
    spread = max(latents.values()) - min(latents.values())
    ssl = _result("ssl_defaults_fashion.json")["simclr"]
    one, two = ssl["stem 1, 32ch, handwriting aug"], ssl["stem 2, 32ch, handwriting aug"]
    rates = ", ".join(f"{k} {vae[k]['train_images_per_s']:,.0f}" for k in latents)
    return (
        f"VAE latents ({', '.join(latents)}) end within {spread:.3f} validation bits/dim of "
        f"each other after {vae['default']['steps']:,} steps, training at {rates} images/s "
        "(benchmarks/results/defaults_fashion_vae.json); SimCLR's stride-2 stem trains "
        f"{two['images_per_cpu_s'] / one['images_per_cpu_s']:.1f}x the images per CPU second "
        f"of the stride-1 stem but its probe on held-out train images is lower at equal time "
        f"({two['probe_10pct_held_out']:.3f} against {one['probe_10pct_held_out']:.3f}, "
        "benchmarks/results/ssl_defaults_fashion.json).\n"
    )


SECTIONS: dict[str, Callable[[], str]] = {
    "studies": studies_section,
    "studies_distill": studies_distill_section,
    "ssl": ssl_section,
    "feature_net": feature_net_section,
    "feature_layout": feature_layout_section,
    "reference_digits": reference_digits_section,
    "fashion_quality": fashion_quality_section,
    "fashion_summary": fashion_summary_section,
    "speed": speed_section,
    "speed_threads": speed_threads_section,
    "compile_speed": compile_speed_section,
    "flow_quality_digits": flow_quality_digits_section,
    "flow_speed": flow_speed_section,
    "diffusion_digits": diffusion_digits_section,
    "flow_defaults": flow_defaults_section,
    "diffusion_bound": diffusion_bound_section,
    "diffusion_decoder": diffusion_decoder_section,
    "diffusion_defaults": diffusion_defaults_section,
    "flowmatch_fashion": flowmatch_fashion_section,
    "speed_flowmatch": speed_flowmatch_section,
    "distill_fashion": distill_fashion_section,
    "toy2d_densities": toy2d_densities_section,
    "runs_listing": runs_listing_section,
    "vae_defaults": vae_defaults_section,
    "diffusion_speed": diffusion_speed_section,
    "vae_cost": vae_cost_section,
    "vae_digits": vae_digits_section,
    "metric_speed": metric_speed_section,
    "defaults": defaults_section,
}


def generate(text: str) -> str:
    """``text`` (README.md) with every marked part rewritten; an unknown mark raises."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(2)
        if name not in SECTIONS:
            raise KeyError(f"README.md marks an unknown part {name!r}; known: {sorted(SECTIONS)}")
        return match.group(1) + SECTIONS[name]() + match.group(4)

    return MARK.sub(replace, text)


def collect(folder: Path) -> Path:
    """Copy a report's dataset folder (report.json, <study>/results.json) into
    benchmarks/results/studies/<data>/; returns that folder."""
    report = _read(folder / "report.json")
    target = STUDIES / report["data"]
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(folder / "report.json", target / "report.json")
    for name in report["verdicts"]:
        source = folder / name / "results.json"
        if source.is_file():
            shutil.copyfile(source, target / f"{name}.json")
        for figure in FIGURES.get(name, ()):
            if (folder / name / figure).is_file():
                shutil.copyfile(folder / name / figure, target / f"{name}_{figure}")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is stale")
    parser.add_argument("--collect", type=Path, help="a report's dataset folder to copy in")
    args = parser.parse_args(argv)
    if args.collect:
        print(f"collected into {_rel(collect(args.collect))}")
    text = README.read_text(encoding="utf-8")
    new = generate(text)
    if args.check:
        if new != text:
            diff = difflib.unified_diff(
                text.splitlines(), new.splitlines(), "README.md", "generated", lineterm=""
            )
            print("\n".join(diff))
            print("README.md differs from its results files: run python benchmarks/readme.py")
            return 1
        return 0
    if new != text:
        README.write_text(new, encoding="utf-8")
        print("README.md regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
