"""The report: every study's claim, evidence, verdict, tables and figures on one
self-contained HTML page."""

from __future__ import annotations

from genlab.report.build import INDEX, build_report, write_index
from genlab.report.html import ReportEntry, format_cell, render_report

__all__ = ["INDEX", "ReportEntry", "build_report", "format_cell", "render_report", "write_index"]
