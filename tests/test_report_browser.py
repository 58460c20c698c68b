"""The HTML report opened from disk in Debian's headless Chromium with the network off.

``driftscope report`` (the real command, in its own process) writes a real run's report, and
one of a backfilled run with the window detectors (estimated performance, multivariate drift,
data quality); a report with per-feature summaries and names full of markup is written by the
renderer. Each
file is opened as a ``file://`` URL in a browser context that is offline and records every
request, console error, script error, dialog and Content-Security-Policy violation; the test
waits until every chart has drawn its SVG, checks that the page asked for nothing but itself,
tries the table's filter and sorting, and saves full-page screenshots under
``test-output/report/`` (gitignored).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from driftscope.apps.report import render_report_html
from driftscope.core.config.yaml_file import load_config
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.core.runtime import Runtime
from support.api_helpers import REPO
from support.factories import demo_model, log_traffic, write_config
from support.machine import require_browser
from support.report_html import categorical_summary, numeric_summary
from support.reports import report, result
from support.window_runs import WindowRuns, window_runs

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path(os.environ.get("DRIFTSCOPE_TEST_CHROMIUM", "/usr/bin/chromium"))
OUTPUT = REPO / "test-output" / "report"
VIEWPORT = {"width": 1440, "height": 1000}
HOSTILE = "<script>alert(1)</script>"

require_browser(CHROMIUM)  # fails under CI or DRIFTSCOPE_REQUIRE_BROWSER=1, skips elsewhere

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

# every Content-Security-Policy violation the page meets, kept where the test can read it
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


@dataclass
class OpenedReport:
    """A report open in the browser, and everything it did on the way."""

    page: Page
    requests: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def output() -> Path:
    shutil.rmtree(OUTPUT, ignore_errors=True)
    OUTPUT.mkdir(parents=True)
    return OUTPUT


def open_offline(browser: Browser, path: Path) -> Iterator[OpenedReport]:
    context = browser.new_context(viewport=VIEWPORT, offline=True)  # type: ignore[arg-type]
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    opened = OpenedReport(page)
    page.on("request", lambda request: opened.requests.append(request.url))
    page.on("pageerror", lambda error: opened.problems.append(f"script error: {error}"))
    page.on(
        "console",
        lambda message: (
            opened.problems.append(f"console {message.type}: {message.text}")
            if message.type in ("error", "warning")
            else None
        ),
    )

    def refuse(dialog: object) -> None:
        opened.problems.append(f"dialog: {dialog.message}")  # type: ignore[attr-defined]
        dialog.dismiss()  # type: ignore[attr-defined]

    page.on("dialog", refuse)
    page.goto(path.as_uri())
    page.wait_for_function(
        """() => {
            const charts = document.querySelectorAll('[data-figure]');
            return charts.length > 0 && [...charts].every(
                (chart) => chart.querySelector('.main-svg') !== null);
        }""",
        timeout=90_000,
    )
    page.wait_for_timeout(300)  # Plotly's last transitions, before the screenshot
    try:
        yield opened
    finally:
        context.close()


def check_self_contained(opened: OpenedReport, path: Path) -> None:
    """The page asked for nothing but itself and nothing went wrong drawing it."""
    assert opened.requests == [path.as_uri()]
    assert opened.problems == []
    assert opened.page.evaluate("window.__violations") == []
    charts = opened.page.evaluate("document.querySelectorAll('[data-figure]').length")
    drawn = opened.page.evaluate("document.querySelectorAll('[data-figure] .main-svg').length")
    assert charts > 0 and drawn >= charts


def screenshot(page: Page, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 20_000


def visible_and_uncovered(page: Page, selector: str) -> None:
    """The element is drawn with a size, and what the browser finds at its centre, once it
    is scrolled into view, is the element or inside it: nothing covers it."""
    element = page.locator(selector).first
    element.scroll_into_view_if_needed()
    box = element.bounding_box()
    assert box is not None and box["width"] > 50 and box["height"] > 20, (selector, box)
    on_top = page.evaluate(
        """(selector) => {
            const element = document.querySelector(selector);
            const box = element.getBoundingClientRect();
            const found = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
            return element === found || element.contains(found);
        }""",
        selector,
    )
    assert on_top, f"{selector} is covered"


def run_report_command(config: Path, run_id: str, target: Path) -> None:
    """``driftscope report RUN --html FILE -c CONFIG`` in its own process, as a user runs it."""
    done = subprocess.run(
        [sys.executable, "-P", "-m", "driftscope", "report", run_id, "--html", str(target),
         "-c", str(config)],
        cwd=target.parent, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def written_by_the_command(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``driftscope report RUN --html FILE`` run as a user runs it, on a real run."""
    folder = tmp_path_factory.mktemp("report-browser")
    config = write_config(folder, f"sqlite:///{folder / 'store.db'}", model_folder=demo_dir)
    runtime = Runtime(load_config(config, create_plugin_manager()), create_plugin_manager())
    try:
        log_traffic(runtime.store, runtime.models["cancer"], demo_model(demo_dir), drift=True)
        run_id = runtime.run_monitor("cancer-drift").id
    finally:
        runtime.close()
    target = folder / "run.html"
    run_report_command(config, run_id, target)
    return target


def test_the_commands_report_opens_offline_with_its_charts_drawn(
    browser: Browser, written_by_the_command: Path, output: Path
) -> None:
    for opened in open_offline(browser, written_by_the_command):
        check_self_contained(opened, written_by_the_command)
        page = opened.page
        assert "cancer-drift" in page.inner_text("h1")
        # the filter keeps the columns whose name holds the text
        names = page.eval_on_selector_all(
            "#columns tbody tr", "rows => rows.map(r => r.dataset.name)"
        )
        page.fill("#column-filter", "radius")
        wanted = [n for n in names if "radius" in n]
        assert page.inner_text("#columns-shown") == f"{len(wanted)} of {len(names)} columns shown"
        assert (
            page.eval_on_selector_all(
                "#columns tbody tr:not([hidden])", "rows => rows.map(r => r.dataset.name)"
            )
            == wanted
        )
        page.fill("#column-filter", "")
        # sorting by PSI's statistic, largest first (the second click)
        header = page.locator("#columns thead th", has_text="statistic").nth(1)
        header.click()
        header.click()
        values = page.eval_on_selector_all(
            "#columns tbody tr",
            f"rows => rows.map(r => r.cells[{header.get_attribute('data-column')}].dataset.sort)",
        )
        numbers = [float(v) for v in values if v not in (None, "")]
        assert numbers == sorted(numbers, reverse=True) and len(numbers) > 10
        screenshot(page, output / "run.png")


def test_a_report_with_summaries_and_markup_in_its_names_opens_offline(
    browser: Browser, tmp_path: Path, output: Path
) -> None:
    rng = np.random.default_rng(3)
    reference_age = rng.normal(41, 10, 4000)
    current_age = np.concatenate([rng.normal(48, 11, 1150), [np.nan] * 36, [1e308], [np.inf]])
    cities = ["Lyon", "Paris", "Nantes", "<b>Nice</b>", "Brest"]  # Brest: never in the reference
    data = report(
        results=[
            result("age", "ks", 0.29, p_value=1e-12, threshold=0.05, drifted=True,
                   details={"p_value_adjusted": 3e-12, "correction": "bonferroni"}),
            result("age", "psi", 0.61, drifted=True),
            result(HOSTILE, "psi", 0.03),
            result("city", "chi2", 41.0, p_value=2e-8, threshold=0.05, drifted=True),
            result("city", "psi", 0.31, drifted=True),
            result("prediction", "psi", 0.04, kind="prediction"),
        ],
        monitor="credit-risk",
        rows=1188,
    ).to_dict()  # fmt: skip
    data["features"] = [
        numeric_summary("age", reference_age, current_age, bins=12),
        numeric_summary(HOSTILE, rng.normal(0, 1, 500), rng.normal(0, 1, 400)),
        categorical_summary(
            "city",
            list(rng.choice(cities[:4], 3000, p=[0.4, 0.3, 0.2, 0.1])),
            [*rng.choice(cities, 1100, p=[0.2, 0.2, 0.2, 0.2, 0.2]), *[None] * 20],
        ),
        categorical_summary("prediction", ["0"] * 700 + ["1"] * 300, ["0"] * 600 + ["1"] * 400,
                            result_kind="prediction"),
    ]  # fmt: skip
    path = tmp_path / "summaries.html"
    path.write_text(render_report_html(data), encoding="utf-8")
    for opened in open_offline(browser, path):
        check_self_contained(opened, path)  # no dialog: the names' scripts never ran
        page = opened.page
        headings = page.eval_on_selector_all("h3", "hs => hs.map(h => h.firstChild.textContent)")
        assert f"{HOSTILE} " in headings
        assert HOSTILE in page.inner_text("#columns")
        ticks = page.eval_on_selector_all(".xtick text", "ts => ts.map(t => t.textContent)")
        assert "<b>Nice</b>" in ticks and "(unseen)" in ticks  # drawn as written
        assert "> 1e+308" not in ticks  # the bins are the reference's, whatever the window holds
        screenshot(page, output / "summaries.png")


@pytest.fixture(scope="module")
def window_detectors_report(
    demo_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, WindowRuns]:
    """The command's file of a backfilled run with cbpe, domain_classifier and quality."""
    folder = tmp_path_factory.mktemp("report-window")
    runs = window_runs(folder, demo_dir)
    target = folder / "window.html"
    run_report_command(runs.config_path, runs.with_labels["id"], target)
    return target, runs


def test_estimates_multivariate_drift_and_quality_open_offline_drawn_and_uncovered(
    browser: Browser, window_detectors_report: tuple[Path, WindowRuns], output: Path
) -> None:
    path, runs = window_detectors_report
    (found,) = [r for r in runs.with_labels["results"] if r["detector"] == "domain_classifier"]
    used = [r["feature"] for r in found["details"]["ranking"] if r["importance"] > 0]
    for opened in open_offline(browser, path):
        check_self_contained(opened, path)
        page = opened.page
        assert "backfilled" in page.inner_text("h1")
        assert page.inner_text("#backfilled").startswith("Backfilled: this run was made")
        # the estimate chart: one error bar (the band) per metric, a realized diamond each
        estimate = page.locator(".card", has_text="cbpe: estimate and band against realized")
        bands = estimate.evaluate(
            """(card) => [...card.querySelectorAll('.errorbar path.yerror')]
                .map((p) => p.getBoundingClientRect().height)"""
        )
        assert len(bands) == 3 and all(height > 4 for height in bands), bands
        assert estimate.locator(".scatterlayer .trace").nth(1).locator(".point").count() == 3
        # the ranking: the features with a share, most important on top
        ranking = page.locator(".card", has_text="Where the change is (domain_classifier)")
        tops = ranking.evaluate(
            """(card) => [...card.querySelectorAll('.ytick text')]
                .map((t) => [t.textContent, t.getBoundingClientRect().y])""",
        )
        assert [name for name, _ in sorted(tops, key=lambda t: t[1])] == used
        assert ranking.locator(".barlayer .point").count() == len(used)
        # the quality cell reads in words
        assert "missing +" in page.inner_text("#columns")
        for selector in (
            "#backfilled",
            "#multivariate",
            ".scroll:has(> #ranking-0)",  # the table scrolls inside its box
            "#estimated-performance",
            "#performance",
            "#multivariate-drift ~ .charts .chart",
        ):
            visible_and_uncovered(page, selector)
        page.evaluate("window.scrollTo(0, 0)")
        screenshot(page, output / "window-detectors.png")
        page.locator("#multivariate-drift").scroll_into_view_if_needed()
        for name, selector in (
            ("window-multivariate.png", "#multivariate-drift ~ .charts"),
            ("window-estimates.png", "#estimated-performance-part ~ .charts"),
        ):
            page.locator(selector).first.screenshot(path=str(output / name))
            assert (output / name).stat().st_size > 10_000
