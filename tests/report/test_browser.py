"""The report page rendered by headless Chromium: every figure loads, offline.

Needs Debian's ``chromium`` (``make chromium`` installs it; ``make test`` depends on
that target); skipped when it is absent.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from genlab.report import build_report


def chromium() -> str | None:
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


# After load, count the images that decoded (complete, with a natural width) and write
# the result into the DOM, where --dump-dom shows it.
PROBE = """<script>
window.addEventListener("load", () => {
  const all = Array.from(document.images);
  const ok = all.filter((img) => img.complete && img.naturalWidth > 0);
  document.body.setAttribute("data-images", all.length + "/" + ok.length);
});
</script>"""


def render(page: Path, tmp: Path) -> str:
    """The DOM after load, as headless Chromium serialises it."""
    exe = chromium()
    assert exe is not None
    probe = tmp / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"))
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp / 'profile'}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        probe.as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (make chromium)")
def test_every_figure_loads_in_headless_chromium(fake_studies, tmp_path):
    page = build_report("quick", tmp_path / "rep", "cpu", studies=["fake"])
    dom = render(page, tmp_path)
    found = re.search(r'data-images="(\d+)/(\d+)"', dom)
    assert found, f"the probe did not run; DOM starts: {dom[:500]!r}"
    total, loaded = int(found.group(1)), int(found.group(2))
    assert total == 2 and loaded == total, f"{loaded} of {total} images loaded"
    assert "Claim." in dom and "<h2>fake" in dom


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (make chromium)")
def test_a_fashion_mnist_page_and_the_index_render(fake_studies, tiny_fashion, tmp_path):
    """A non-digits dataset page (tiny Fashion-MNIST files, fake studies) next to the digits
    one: each page loads its figures and names its dataset; the index links both."""
    out = tmp_path / "rep"
    build_report("quick", out, "cpu", studies=["fake"])
    page = build_report("quick", out, "cpu", studies=["fake"], data="fashion-mnist")
    assert page == out / "fashion-mnist" / "index.html"
    dom = render(page, tmp_path)
    found = re.search(r'data-images="(\d+)/(\d+)"', dom)
    assert found and int(found.group(1)) == int(found.group(2)) == 2
    assert "genlab studies on fashion-mnist" in dom and "dataset fashion-mnist (1x28x28" in dom
    index = render(out / "index.html", tmp_path)
    assert 'href="digits/index.html"' in index and 'href="fashion-mnist/index.html"' in index


@pytest.mark.slow
@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (make chromium)")
def test_quick_report_of_every_study_renders(tmp_path, device):
    """The real thing: every registered study at the quick budget (minutes), one page."""
    from genlab.studies import read_result, study_names

    page = build_report("quick", tmp_path / "rep", device.type, jobs=2)  # as make demo
    folder = tmp_path / "rep" / "digits"
    figures = sum(len(read_result(folder / n).figures) for n in study_names())
    found = re.search(r'data-images="(\d+)/(\d+)"', render(page, tmp_path))
    assert found and int(found.group(1)) == int(found.group(2)) == figures >= 3
