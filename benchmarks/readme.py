"""Generate README.md's numbers from the results files that recorded them.

README.md marks each generated part with a pair of HTML comments::

    <!-- generated:studies -->
    ... (written by this script; never edited by hand)
    <!-- /generated:studies -->

``python benchmarks/readme.py`` rewrites every marked part from the files under
benchmarks/results/; ``--check`` exits 1 (printing a diff) when README.md differs from
what the files give, which tests/test_readme.py runs in ``make test``. A number shown in
a generated part is read from a file here, never typed.

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


SECTIONS: dict[str, Callable[[], str]] = {"studies": studies_section, "ssl": ssl_section}


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
