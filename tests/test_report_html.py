"""report.html as a reader opens it: headless Chromium loads every image and logs nothing to the
console (benchmarks/html_check.py); the committed report has its screenshot beside it."""

import re
from pathlib import Path

import pytest
from conftest import ROOT, load_script

from asl_edge.bench import load_results
from asl_edge.report import render

html_check = load_script("benchmarks/html_check.py")
FIXTURES = Path(__file__).parent / "fixtures"
COMMITTED = ROOT / "benchmarks" / "report"
needs_chromium = pytest.mark.skipif(html_check.chromium() is None,
                                    reason="headless Chromium is not installed (Debian: apt-get install chromium)")


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    return render([load_results(FIXTURES / "bench_results.json")], out)[1]


@needs_chromium
def test_every_image_of_the_page_loads_and_the_console_stays_quiet(page):
    result = html_check.check_page(page)
    assert result["images"] == len(re.findall(r"<img ", page.read_text())) >= 3
    assert result["broken"] == [] and result["console"] == []


@needs_chromium
def test_a_missing_image_and_a_console_error_are_caught(page, tmp_path):
    html = page.read_text()
    first = re.search(r"<img alt='([^']*)' src='(data:[^']*)'", html)
    broken = html.replace(first.group(2), "missing.png", 1)
    broken = broken.replace("</body>", "<script>console.error('from the page')</script></body>")
    (tmp_path / "report.html").write_text(broken)
    result = html_check.check_page(tmp_path / "report.html")
    assert result["broken"] == [first.group(1)]
    assert len(result["console"]) == 1 and "from the page" in result["console"][0]
    assert html_check.main([str(tmp_path / "report.html")]) == 1


@needs_chromium
def test_the_committed_report_opens_whole():
    page = COMMITTED / "report.html"
    result = html_check.check_page(page)
    # every figure the page holds was loaded by the browser (a machine section has five)
    assert result["images"] == page.read_text().count("<img ") >= 5
    assert result["broken"] == [] and result["console"] == []


def test_the_committed_report_has_its_screenshot_beside_it():
    shot = COMMITTED / "screenshot.png"
    head = shot.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    assert (width, height) == html_check.SCREEN
    # made from the report committed beside it, not from an older one
    assert shot.stat().st_size > 100_000
    assert "## Deploy this" in (COMMITTED / "REPORT.md").read_text()
