"""One self-contained HTML page from study results.

Every figure is embedded as a base64 ``data:`` URI, the CSS is inline and nothing
refers to another file or URL, so the page opens offline, alone, in any browser.
All text from results goes through :func:`html.escape`.
"""

from __future__ import annotations

import base64
import html
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genlab.studies.base import StudyResult, Table

__all__ = ["DatasetPage", "ReportEntry", "format_cell", "render_index", "render_report"]

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1100px; padding: 1.5em; color: #1d2125; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #d0d7de; padding-bottom: 0.2em; }
section { margin-top: 2.5em; }
.meta, .note, figcaption { color: #57606a; font-size: 0.9em; }
.verdict { display: inline-block; padding: 0.1em 0.6em; border-radius: 1em; color: #fff;
           font-size: 0.75em; vertical-align: middle; font-weight: 600; }
.v-holds { background: #1a7f37; } .v-does-not-hold { background: #cf222e; }
.v-undecided { background: #bf8700; } .v-failed { background: #6e7781; }
.claim { background: #f6f8fa; border-left: 4px solid #0969da; padding: 0.6em 1em; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.88em; }
th, td { border: 1px solid #d0d7de; padding: 0.25em 0.6em; text-align: left; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: 0.95em; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #d0d7de; }
nav li { margin: 0.2em 0; }
.error { color: #cf222e; white-space: pre-wrap; }
"""


@dataclass(frozen=True)
class ReportEntry:
    """One study on the page: its result and folder (figures), or why it failed."""

    name: str
    folder: Path
    result: StudyResult | None = None
    error: str = ""


@dataclass(frozen=True)
class DatasetPage:
    """One dataset's page in the index: its dataset, relative link, meta line and the
    verdict of each study on it (``failed`` when it did not run through)."""

    data: str
    href: str
    meta: str
    verdicts: dict[str, str]


def format_cell(value: Any) -> str:
    """A number or text as it appears on the page (not yet escaped)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value == 0.0:
            return "0"
        if value.is_integer() and abs(value) < 1e6:
            return str(int(value))
        if abs(value) >= 1e5 or abs(value) < 1e-3:
            return f"{value:.2e}"
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_cell(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}={format_cell(v)}" for k, v in value.items())
    return str(value)


def _e(value: Any) -> str:
    return html.escape(format_cell(value), quote=True)


def _td(value: Any) -> str:
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    return f'<td class="num">{_e(value)}</td>' if numeric else f"<td>{_e(value)}</td>"


def _slug(name: str) -> str:
    return "study-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)


def _verdict_badge(verdict: str) -> str:
    kind = {"holds": "holds", "does not hold": "does-not-hold"}.get(verdict, "undecided")
    if verdict == "failed":
        kind = "failed"
    return f'<span class="verdict v-{kind}">{_e(verdict)}</span>'


def _table(table: Table) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(_td(v) for v in row) + "</tr>" for row in table.rows)
    note = f'<p class="note">{_e(table.note)}</p>' if table.note else ""
    return f"<h3>{_e(table.title)}</h3><table><tr>{head}</tr>{body}</table>{note}"


def _pairs(title: str, values: dict[str, Any], cls: str) -> str:
    rows = "".join(f"<tr><td><code>{_e(k)}</code></td>{_td(v)}</tr>" for k, v in values.items())
    return f'<h3>{_e(title)}</h3><table class="{cls}">{rows}</table>'


def _checks(r: StudyResult) -> str:
    """The claim's checks: each effect with its SE, margin and status (2 SE decide)."""
    head = "".join(f"<th>{h}</th>" for h in ("check", "claim", "measured", "status"))
    rows = "".join(
        f"<tr><td><code>{_e(name)}</code></td><td>{_e(c.text)}</td><td>{_e(c.describe())}"
        f"</td><td>{_e(c.status)}</td></tr>"
        for name, c in r.checks.items()
    )
    return f'<h3>Checks</h3><table class="checks"><tr>{head}</tr>{rows}</table>'


def _figure(folder: Path, file: str, caption: str) -> str:
    path = folder / file
    if path.suffix.lower() != ".png" or not path.is_file():
        return f'<p class="error">figure missing: {_e(file)}</p>'
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    alt = _e(caption)
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{alt}">'
        f"<figcaption>{alt}</figcaption></figure>"
    )


def _section(entry: ReportEntry) -> str:
    r = entry.result
    if r is None:
        return (
            f'<section id="{_slug(entry.name)}"><h2>{_e(entry.name)} {_verdict_badge("failed")}'
            f'</h2><p class="error">{_e(entry.error)}</p></section>'
        )
    parts = [
        f'<section id="{_slug(entry.name)}">',
        f"<h2>{_e(r.study)} {_verdict_badge(r.verdict)}</h2>",
        f"<p><b>Question.</b> {_e(r.question)}</p>",
        f'<p class="claim"><b>Claim.</b> {_e(r.claim)}</p>',
        f"<p><b>Verdict: {_e(r.verdict_text)}.</b> {_e(r.summary)}</p>",
        _checks(r),
        *(_figure(entry.folder, f.file, f.caption) for f in r.figures),
        *(_table(t) for t in r.tables),
        _pairs("Evidence", r.evidence, "evidence"),
        _pairs("Protocol", r.protocol, "protocol"),
        "</section>",
    ]
    return "\n".join(parts)


def _contents(entries: list[ReportEntry]) -> str:
    items = []
    for entry in entries:
        verdict = entry.result.verdict if entry.result else "failed"
        link = f'<a href="#{_slug(entry.name)}">{_e(entry.name)}</a>'
        items.append(f"<li>{link} {_verdict_badge(verdict)}</li>")
    return f"<nav><ul>{''.join(items)}</ul></nav>"


def render_report(entries: list[ReportEntry], *, title: str, meta: str) -> str:
    """The whole page: a header (``title``, ``meta`` line), contents, one section per entry."""
    body = "\n".join(_section(e) for e in entries)
    return (
        f'{_head(title)}<h1>{_e(title)}</h1><p class="meta">{_e(meta)}</p>'
        f"{_contents(entries)}\n{body}\n</body></html>\n"
    )


def _head(title: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head>\n<body>"
    )


def render_index(pages: list[DatasetPage], *, title: str) -> str:
    """The index page: one line per dataset page (a relative link, its meta line and each
    study's verdict). Unlike the dataset pages it links to other files."""
    items = []
    for page in pages:
        badges = "".join(
            f"<li>{_e(name)} {_verdict_badge(verdict)}</li>"
            for name, verdict in page.verdicts.items()
        )
        items.append(
            f'<section><h2><a href="{html.escape(page.href, quote=True)}">{_e(page.data)}</a>'
            f'</h2><p class="meta">{_e(page.meta)}</p><ul>{badges}</ul></section>'
        )
    body = "\n".join(items) or '<p class="meta">no dataset page yet (run genlab report)</p>'
    count = f"{len(pages)} dataset page{'s' if len(pages) != 1 else ''}"
    return (
        f'{_head(title)}<h1>{_e(title)}</h1><p class="meta">{count}</p>\n{body}\n</body></html>\n'
    )
