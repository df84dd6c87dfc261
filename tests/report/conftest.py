"""Register the fake studies of report_fakes for the report tests."""

from __future__ import annotations

import pytest

from genlab import registry


@pytest.fixture
def fake_studies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.STUDIES, "fake", "report_fakes:FAKE")
    monkeypatch.setitem(registry.STUDIES, "broken", "report_fakes:BROKEN")
