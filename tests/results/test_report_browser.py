"""The HTML report in a real browser (headless Chromium, driven by Playwright): the inline
script sorts the tables both ways, a provenance ``<details>`` opens on click, every figure
draws a non-empty SVG, nothing is fetched, and the page renders to a PNG.

Skipped when Chromium (the Debian package, /usr/bin/chromium) or Playwright is missing,
unless ``EMOBENCH_REQUIRE_BROWSER=1`` (CI), where a missing browser fails.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from emobench import api

CHROMIUM = Path("/usr/bin/chromium")
REQUIRED = os.environ.get("EMOBENCH_REQUIRE_BROWSER") == "1"
# what a closed network needs: no GPU, no QUIC, none of the browser's own background calls
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

try:
    from playwright.sync_api import sync_playwright
except ImportError:
    if REQUIRED:
        raise
    pytest.skip("playwright is not installed", allow_module_level=True)
if not CHROMIUM.is_file():
    if REQUIRED:
        pytest.fail(f"EMOBENCH_REQUIRE_BROWSER=1 but {CHROMIUM} is missing", pytrace=False)
    pytest.skip(f"{CHROMIUM} is missing", allow_module_level=True)


def _real_results():
    """``real_results`` of test_report.py (the same runs, made once per session: a second
    call finds them); loaded by path, as the tests are not a package."""
    spec = importlib.util.spec_from_file_location(
        "report_text_tests", Path(__file__).with_name("test_report.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.real_results


@pytest.fixture(scope="module")
def report_file(tmp_path_factory, emer_pack, emoreact_pack, emoreact_levels_pack) -> Path:
    results = _real_results()(
        tmp_path_factory.getbasetemp() / "report-runs",
        emer_pack,
        emoreact_pack,
        emoreact_levels_pack,
    )
    return api.report(tmp_path_factory.mktemp("browser") / "report.html", results=results)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, report_file):
    """The report loaded from disk; every request it makes is recorded (any that is not
    ``file://`` is refused), and so is every script or console error."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    tab.requests = []

    def route(r):
        tab.requests.append(r.request.url)
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            r.abort()

    tab.route("**/*", route)
    tab.on("request", lambda request: tab.requests.append(request.url))
    tab.errors = []  # script errors and console errors (a refused load is one)
    tab.on("pageerror", lambda err: tab.errors.append(str(err)))
    tab.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
    tab.goto(report_file.as_uri())
    tab.wait_for_load_state("load")
    yield tab
    context.close()


ORDER = """table => Array.from(table.querySelectorAll("tbody tr")).map(r => [
  r.className, r.dataset.file || "",
  r.classList.contains("run") ? r.cells[COL].dataset.value : ""])"""


def _rows(page, table, col):
    rows = table.evaluate(ORDER.replace("COL", str(col)))
    runs = [(file, value) for css, file, value in rows if "run" in css.split()]
    # each leaderboard row is followed by its own provenance row
    assert [css.split()[0] for css, _, _ in rows] == ["run", "provenance"] * len(runs)
    return runs


def test_clicking_a_header_sorts_both_ways(page):
    table = page.locator('table.leaderboard[data-protocol="emoreact-face"]')
    headers = table.locator("th")
    names = headers.all_inner_texts()
    col = next(i for i, n in enumerate(names) if n.startswith("ROC AUC (micro)"))
    before = _rows(page, table, col)
    assert len(before) == 2
    headers.nth(col).click()
    up = _rows(page, table, col)
    assert [float(v) for _, v in up] == sorted(float(v) for _, v in before)
    assert headers.nth(col).get_attribute("aria-sort") == "ascending"
    headers.nth(col).click()
    down = _rows(page, table, col)
    assert [float(v) for _, v in down] == sorted((float(v) for _, v in before), reverse=True)
    assert [f for f, _ in down] != [f for f, _ in up]
    model = names.index("model")
    headers.nth(model).click()
    by_name = [v for _, v in _rows(page, table, model)]
    assert by_name == ["majority", "tsn"]


def test_provenance_opens_on_click(page):
    details = page.locator("tr.provenance details").first
    content = details.locator("dl")
    assert details.evaluate("d => d.open") is False and not content.is_visible()
    details.locator("summary").click()
    assert details.evaluate("d => d.open") is True
    assert content.is_visible() and "split digest" in content.inner_text()
    assert content.bounding_box()["height"] > 0


def test_every_figure_draws_an_svg(page, report_file):
    figures = page.locator("figure")
    assert figures.count() == report_file.read_text(encoding="utf-8").count("<figure") > 0
    for k in range(figures.count()):
        figure = figures.nth(k)
        svg = figure.locator("svg")
        assert svg.count() == 1, figure.get_attribute("data-plot")
        assert svg.evaluate("s => s.querySelectorAll('path, text, use').length") > 0
        box = svg.bounding_box()
        assert box["width"] > 0 and box["height"] > 0
        assert figure.locator("figcaption").inner_text()


def test_nothing_is_fetched_and_the_page_renders(page, tmp_path):
    page.locator('table.leaderboard[data-protocol="p3"] th').first.click()
    page.locator("tr.provenance summary").first.click()
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    assert page.requests and all(url.startswith("file://") for url in page.requests)
    assert page.errors == []
