"""The report page: self-contained (figures as data URIs, no URL), escaped, complete."""

from __future__ import annotations

import base64
import html
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from report_fakes import NASTY, child_runner

from genlab.cli import main
from genlab.errors import GenlabError
from genlab.report import build_report, format_cell
from genlab.studies import read_result


class Tags(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def parse(page: str) -> list[tuple[str, dict[str, str | None]]]:
    p = Tags()
    p.feed(page)
    return p.tags


@pytest.fixture
def page(fake_studies, tmp_path: Path) -> tuple[Path, str]:
    path = build_report("quick", tmp_path / "rep", "cpu", studies=["fake"])
    return path, path.read_text(encoding="utf-8")


def test_page_is_self_contained(page):
    path, text = page
    assert path.name == "index.html"
    tags = parse(text)
    imgs = [a for t, a in tags if t == "img"]
    assert len(imgs) == 2
    for attrs, name in zip(imgs, ["one.png", "two.png"], strict=True):
        src = attrs["src"] or ""
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]) == (path.parent / "fake" / name).read_bytes()
    for tag, attrs in tags:
        assert tag not in ("script", "link", "iframe", "object", "embed"), tag
        for key in ("src", "href"):
            value = attrs.get(key)
            if value is not None:
                assert value.startswith(("data:", "#")), (tag, key, value)
    assert "url(" not in text and "@import" not in text


def test_text_is_escaped(page):
    _, text = page
    assert "<script>" not in text and "<b>bold" not in text
    assert html.escape(NASTY, quote=True) in text
    assert 'alt="first &lt;script&gt;' in text


def test_page_shows_claim_verdict_evidence_and_protocol(page):
    _, text = page
    for fragment in [
        "Question.",
        "Claim.",
        "v-holds",
        "Evidence",
        "Protocol",
        "1.50e-15",
        "Checks",
    ]:
        assert fragment in text
    assert "budget_seen" in text and "quick" in text and "device_seen" in text
    assert "1.23e+08" in text and "2.438" in text and "–" in text  # formatted numbers
    assert "plain_positive" in text and "effect 2.438 +- 0 against margin 0" in text


def test_results_json_written_with_protocol(page):
    path, _ = page
    result = read_result(path.parent / "fake")
    assert result.verdict == "holds" and result.evidence["missing"] is None
    assert result.protocol["budget"] == "quick" and result.protocol["device"] == "cpu"
    assert result.protocol["wall_time_s"] >= 0


def test_failed_study_is_shown_and_reported(fake_studies, tmp_path):
    out = tmp_path / "rep"
    with pytest.raises(GenlabError, match="broken: training diverged"):
        build_report("quick", out, "cpu", studies=["fake", "broken"])
    text = (out / "digits" / "index.html").read_text()
    assert "v-failed" in text and "training diverged at step 3" in text and "v-holds" in text


def test_unknown_study_fails_before_anything_is_written(tmp_path):
    known = "known: contrastive, coupling, dequantization"
    with pytest.raises(GenlabError, match=f"unknown study 'nope'.*{known}"):
        build_report("quick", tmp_path / "rep", "cpu", studies=["nope"])
    assert not (tmp_path / "rep").exists()


def test_cli_report_and_study(fake_studies, tmp_path, capsys):
    assert (
        main(["report", "--studies", "fake", "--out", str(tmp_path / "r"), "--device", "cpu"]) == 0
    )
    out = capsys.readouterr().out
    assert f"report written to {tmp_path / 'r' / 'digits' / 'index.html'}" in out
    assert f"index of every dataset page: {tmp_path / 'r' / 'index.html'}" in out
    assert main(["study", "fake", "--out", str(tmp_path / "s"), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "fake: holds" in out and str(tmp_path / "s" / "results.json") in out


def test_cli_unknown_study_is_one_line(tmp_path, capsys):
    assert main(["study", "coupon", "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    from genlab.registry import STUDIES

    assert err == [
        "genlab: error: unknown study 'coupon' (did you mean 'coupling'?); "
        f"known: {', '.join(sorted(STUDIES))}"
    ]
    assert "reverse_steps" in err[0]
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "–"),
        (3, "3"),
        (2.0, "2"),
        (0.0, "0"),
        (2.43761, "2.438"),
        (1e-7, "1.00e-07"),
        (float("nan"), "nan"),
        ("a<b", "a<b"),
        ([2, 4], "2, 4"),
        (True, "yes"),
    ],
)
def test_format_cell(value, text):
    assert format_cell(value) == text


def test_parallel_jobs_run_each_study_in_its_own_process(tmp_path, tiny_fashion):
    """--jobs 2: spawned workers, a share of the threads each, entries in the asked order,
    a failing study reported as on the serial path."""
    import os

    from genlab.report.build import _run_parallel

    names = ["fake", "broken", "fake2"]
    entries = _run_parallel(
        names, "quick", tmp_path, "cpu", 2, runner=child_runner, data="fashion-mnist"
    )
    assert [e.name for e in entries] == names
    ok, broken, ok2 = entries
    assert broken.result is None and "diverged at step 3" in broken.error
    for entry in (ok, ok2):
        assert entry.result is not None and entry.folder == tmp_path / entry.name
        assert entry.result.protocol["threads_seen"] == max(1, (os.cpu_count() or 1) // 2)
        assert entry.result.protocol["data_seen"] == "fashion-mnist"
        assert (entry.folder / "one.png").exists()


def test_parallel_jobs_start_the_most_costly_study_first(tmp_path, tiny_fashion):
    """Longest first: with one worker the start order is the cost order, ties (and
    studies without a cost) in the asked order; entries still come in the asked order."""
    from genlab.report.build import _run_parallel

    names = ["fake", "fake2", "broken"]
    costs = {"fake2": 5.0, "broken": 5.0}
    entries = _run_parallel(names, "quick", tmp_path, "cpu", 1, runner=child_runner, costs=costs)
    assert [e.name for e in entries] == names
    fake, fake2 = entries[0].result, entries[1].result
    assert fake is not None and fake2 is not None
    assert fake2.protocol["started"] < fake.protocol["started"]


def test_schedule_finds_an_order_as_short_as_the_best_split_of_the_studies():
    """First come, first served on two workers: longest first gives 45 minutes for these
    costs, the best split into two groups 43 (brute force over every split), and the
    order :func:`schedule` picks reaches it; one worker keeps longest first."""
    import itertools

    from genlab.report.build import makespan, schedule

    costs = {"a": 17.0, "b": 16.0, "c": 15.0, "d": 14.0, "e": 14.0, "f": 1.0}
    assert makespan(["a", "b", "c"], costs, 2) == 31.0  # a (17) | b then c (16 + 15)
    longest = sorted(costs, key=lambda n: -costs[n])
    assert makespan(longest, costs, 2) == 45.0
    total = sum(costs.values())
    best_split = min(
        max(sum(costs[n] for n in part), total - sum(costs[n] for n in part))
        for r in range(len(costs) + 1)
        for part in itertools.combinations(costs, r)
    )
    order = schedule(list(costs), costs, 2)
    assert sorted(order) == sorted(costs)
    assert makespan(order, costs, 2) == best_split == 43.0
    assert schedule(list(costs), costs, 1) == longest


def test_expected_cost_reads_an_earlier_comparable_run(fake_studies, tmp_path):
    """A previous run's wall time at the same budget and data beats the registered
    guess; a run at another budget does not count."""
    from genlab.report.build import _expected_cost
    from genlab.studies import get_study

    guess = get_study("fake").cost
    assert _expected_cost("fake", "quick", tmp_path, "digits") == guess
    build_report("quick", tmp_path, "cpu", studies=["fake"])
    result = json.loads((tmp_path / "digits" / "fake" / "results.json").read_text())
    wall = result["protocol"]["wall_time_s"]
    folder = tmp_path / "digits"
    assert _expected_cost("fake", "quick", folder, "digits") == pytest.approx(wall / 60)
    assert _expected_cost("fake", "full", folder, "digits") == guess
    assert _expected_cost("fake", "quick", folder, "fashion-mnist") == guess


def test_a_fresh_report_orders_studies_by_their_cost_on_that_dataset(tmp_path):
    """No earlier run: each study's registered cost on the dataset asked (Fashion-MNIST's
    contrastive is the longest there, while on digits reverse_steps is)."""
    from genlab.report.build import _expected_cost
    from genlab.studies import study_names

    def order(data: str) -> list[str]:
        cost = {n: _expected_cost(n, "quick", tmp_path, data) for n in study_names()}
        return sorted(cost, key=lambda n: -cost[n])

    assert order("fashion-mnist")[0] == "contrastive"
    assert order("digits")[0] == "reverse_steps"
    assert order("cifar10") == order("digits")  # no entry: the digits guess


def test_jobs_below_one_is_a_one_line_error(fake_studies, tmp_path):
    with pytest.raises(GenlabError, match="--jobs must be at least 1"):
        build_report("quick", tmp_path / "r", "cpu", studies=["fake"], jobs=0)


def test_a_page_per_dataset_and_an_index_linking_them(fake_studies, tiny_fashion, tmp_path):
    out = tmp_path / "rep"
    digits = build_report("quick", out, "cpu", studies=["fake"])
    fashion = build_report("quick", out, "cpu", studies=["fake"], data="fashion-mnist")
    assert digits == out / "digits" / "index.html" and digits.is_file()
    assert fashion == out / "fashion-mnist" / "index.html" and fashion.is_file()
    for page, name, shape in ((digits, "digits", "1x8x8"), (fashion, "fashion-mnist", "1x28x28")):
        text = page.read_text(encoding="utf-8")
        assert f"<title>genlab studies on {name}</title>" in text
        meta = text.split('<p class="meta">', 1)[1].split("</p>", 1)[0]
        assert meta.startswith(f"dataset {name} ({shape}")
        assert read_result(page.parent / "fake").protocol["data_seen"] == name
    assert "dataset fashion-mnist (1x28x28, 256 levels; train 300, test 80 images)" in (
        fashion.read_text(encoding="utf-8")
    )
    index = (out / "index.html").read_text(encoding="utf-8")
    links = [a.get("href") for tag, a in parse(index) if tag == "a"]
    assert links == ["digits/index.html", "fashion-mnist/index.html"]
    assert "2 dataset pages" in index and "v-holds" in index
    build_report("quick", out, "cpu", studies=["fake"])  # a rerun keeps both in the index
    assert [a.get("href") for t, a in parse((out / "index.html").read_text()) if t == "a"] == links


def test_report_on_data_a_study_cannot_use_fails_before_anything_runs(tmp_path):
    with pytest.raises(GenlabError) as err:
        build_report(
            "quick",
            tmp_path / "rep",
            "cpu",
            studies=["coupling", "contrastive"],
            data="toy2d:moons",
        )
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("study contrastive cannot run on toy2d:moons: it needs discrete")
    assert "classes 0-4" in message and message.endswith("the others can: --studies coupling")
    assert not (tmp_path / "rep").exists()


def test_report_on_unknown_data_is_one_error(fake_studies, tmp_path):
    with pytest.raises(GenlabError, match="unknown dataset 'nosuchdata'"):
        build_report("quick", tmp_path / "rep", "cpu", studies=["fake"], data="nosuchdata")
    assert not (tmp_path / "rep").exists()
