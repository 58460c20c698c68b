"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright.

The test starts the API over a store with a drift story (:mod:`support.dashboard_live`) and
``driftscope dashboard`` on free ports on 127.0.0.1, opens each page, signs in with the
dashboard's password, waits until its charts are drawn, checks that the monitors and a
drifting feature are on the page and that no Streamlit exception box (nor the dashboard's
read-scoped API key) is, and saves a full-page screenshot of each page under
``test-output/dashboard/`` (gitignored).

Needs ``apt-get install chromium`` (``/usr/bin/chromium``, or ``DRIFTSCOPE_TEST_CHROMIUM``)
and Playwright (in the test extra); ``playwright install`` is never needed: the system
Chromium is used. Without them the module is skipped, saying so, except under CI or with
``DRIFTSCOPE_REQUIRE_BROWSER=1``, where it fails (:mod:`support.machine`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from driftscope.core.auth import hash_password
from support.api_helpers import REPO, ServerProcess, free_port
from support.dashboard_live import (
    GAPPY_FEATURE,
    LiveScenario,
    build_colours,
    build_history,
    start_backfill_api,
    start_live_api,
)
from support.machine import require_browser
from support.project_folder import shadowing_packages

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path(os.environ.get("DRIFTSCOPE_TEST_CHROMIUM", "/usr/bin/chromium"))
OUTPUT = REPO / "test-output" / "dashboard"
ADMIN_KEY = "browser-test-admin-key"  # sets the scene through the API
API_KEY = "browser-test-read-key"  # the dashboard's own key: read scope only
PASSWORD = "browser test password"
DASHBOARD_COMMAND = [sys.executable, "-P", "-m", "driftscope", "dashboard"]
VIEWPORT = {"width": 1440, "height": 1000}

# before Playwright is imported: under CI (or DRIFTSCOPE_REQUIRE_BROWSER=1) a missing
# Playwright or Chromium fails; elsewhere the skip says how to install it
require_browser(CHROMIUM)

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> LiveScenario:
    return build_history(tmp_path_factory.mktemp("browser"))


@pytest.fixture(scope="module")
def api(scenario: LiveScenario) -> Iterator[ServerProcess]:
    server = start_live_api(
        scenario,
        scenario.config.parent,
        DRIFTSCOPE_API_KEY=ADMIN_KEY,
        DRIFTSCOPE_READ_KEYS=API_KEY,
    )
    yield server
    server.stop()


@contextlib.contextmanager
def serve_dashboard(api_url: str, folder: Path, name: str) -> Iterator[str]:
    """``driftscope dashboard --port P --api-url URL`` in its own process group."""
    port = free_port()
    env = {
        **os.environ,
        "DRIFTSCOPE_API_KEY": API_KEY,
        "DRIFTSCOPE_API_URL": "http://127.0.0.1:9",  # the flag must win over this
        "DRIFTSCOPE_DASHBOARD_PASSWORD_HASH": hash_password(PASSWORD, n=2**14),
    }
    log_path = folder / f"{name}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [*DASHBOARD_COMMAND, "--port", str(port), "--api-url", api_url],
        # a project folder with its own core/, apps/ and plugins/ must not shadow driftscope's
        cwd=shadowing_packages(folder / "project"),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"driftscope dashboard exited with {process.returncode}: "
                    + log_path.read_text(errors="replace")
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/_stcore/health", timeout=1).text.strip() == "ok":
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the dashboard did not come up in 90 s")
            time.sleep(0.3)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def dashboard(api: ServerProcess, scenario: LiveScenario) -> Iterator[str]:
    with serve_dashboard(api.url, scenario.config.parent, "dashboard") as url:
        yield url


@pytest.fixture(scope="module")
def colours(scenario: LiveScenario) -> Iterator[str]:
    """The dashboard over a second API: a categorical model, run once."""
    made = build_colours(scenario.config.parent)
    env = {
        "DRIFTSCOPE_CONFIG": str(made.config),
        "DRIFTSCOPE_SCHEDULER": "false",
        "DRIFTSCOPE_API_KEY": ADMIN_KEY,
        "DRIFTSCOPE_READ_KEYS": API_KEY,
    }
    with (
        ServerProcess(env, log_path=made.config.parent / "colours-api.log") as server,
        serve_dashboard(server.url, made.config.parent, "colours-dashboard") as url,
    ):
        yield url


@pytest.fixture(scope="module")
def backfilled(scenario: LiveScenario) -> Iterator[str]:
    """The dashboard over an API whose monitor was backfilled over last week."""
    made = start_backfill_api(
        scenario,
        scenario.config.parent,
        DRIFTSCOPE_API_KEY=ADMIN_KEY,
        DRIFTSCOPE_READ_KEYS=API_KEY,
    )
    try:
        folder = scenario.config.parent / "backfill"
        with serve_dashboard(made.server.url, folder, "backfill-dashboard") as url:
            yield url
    finally:
        made.server.stop()


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


def open_page(browser: Browser, url: str, *, charts: int) -> Page:
    """Open ``url``, wait until the script finished and ``charts`` Plotly charts are drawn."""
    page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
    page.goto(url)
    sign_in(page)
    page.wait_for_selector('[data-testid="stAppViewContainer"]', timeout=60_000)
    page.wait_for_function(
        """(charts) => {
            const running = document.querySelector('[data-testid="stStatusWidget"]');
            const drawn = document.querySelectorAll('.js-plotly-plot .main-svg').length;
            const main = document.querySelector('[data-testid="stMain"]');
            return !running && main && main.innerText.length > 50
                && document.querySelectorAll('.js-plotly-plot').length >= charts
                && (charts === 0 || drawn >= charts);
        }""",
        arg=charts,
        timeout=90_000,
    )
    page.wait_for_timeout(800)  # let Plotly finish its transitions before the screenshot
    return page


def sign_in(page: Page) -> None:
    """Type the password into the sign-in form and wait for the form to go."""
    field = page.wait_for_selector('input[type="password"]', timeout=60_000)
    assert field is not None
    body = page.inner_text('[data-testid="stMain"]')
    assert "cancer-drift" not in body  # nothing is shown before signing in
    field.fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector('input[type="password"]', state="detached", timeout=60_000)


def screenshot(page: Page, path: Path) -> None:
    """A full-page screenshot: Streamlit scrolls inside its main block, so the viewport is
    grown to the block's height first."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": max(height, 600)})
    page.wait_for_timeout(800)
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000


def no_exception(page: Page) -> None:
    boxes = page.query_selector_all('[data-testid="stException"]')
    assert not boxes, [b.inner_text() for b in boxes]
    assert API_KEY not in page.content()  # the dashboard never shows its key


def nothing_clipped_or_covered(page: Page) -> None:
    """No text cut short with an ellipsis (st.metric values were: "1.06…"), no chart without
    a drawn trace, and no legend under Plotly's toolbar (the modebar, shown on hover)."""
    clipped = page.evaluate(
        """() => [...document.querySelectorAll('[data-testid="stMain"] *')]
            .filter(el => getComputedStyle(el).textOverflow === 'ellipsis'
                && el.scrollWidth > el.clientWidth + 1 && el.innerText.trim())
            .map(el => el.innerText.trim())"""
    )
    assert not clipped, clipped
    charts = page.query_selector_all(".js-plotly-plot")
    for chart in charts:
        chart.hover()  # the toolbar shows on hover
        found = chart.evaluate(
            """(plot) => {
                const box = (el) => el && el.getBoundingClientRect();
                const overlap = (a, b) => a && b && a.width && b.width && a.left < b.right
                    && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
                const bar = box(plot.querySelector('.modebar'));
                const entries = [...plot.querySelectorAll('.legend .traces')];
                const traces = plot.querySelectorAll(
                    '.scatterlayer .trace, .barlayer .trace, .heatmaplayer .hm, image').length;
                return {covered: entries.filter(e => overlap(bar, box(e)))
                            .map(e => e.textContent),
                        traces: traces};
            }"""
        )
        assert not found["covered"], found
        assert found["traces"] > 0, "a chart without a drawn trace"


def test_overview_in_the_browser(
    browser: Browser, dashboard: str, scenario: LiveScenario, output: Path
) -> None:
    page = open_page(browser, dashboard, charts=0)
    page.wait_for_selector('[data-testid="stMetric"]', timeout=60_000)
    no_exception(page)
    body = page.inner_text('[data-testid="stMain"]')
    for monitor in ("cancer-drift", "cancer-stable", "cancer-idle"):
        assert monitor in body
    assert "Alert firing" in body and "No data" in body
    assert scenario.drifting[0] in body  # "mean radius · ks, psi" among the firing alerts
    assert "Cannot reach" not in body
    nothing_clipped_or_covered(page)
    screenshot(page, output / "overview.png")
    page.close()


def test_monitor_in_the_browser(
    browser: Browser, dashboard: str, scenario: LiveScenario, output: Path
) -> None:
    page = open_page(browser, f"{dashboard}/monitor?monitor=cancer-drift", charts=8)
    no_exception(page)
    body = page.inner_text('[data-testid="stMain"]')
    assert "cancer-drift" in body
    assert "Which features drift when" in body and "Model performance" in body
    assert "The features together: did the data move, and where" in body
    assert "Estimated before labels arrive" in body
    drawn = "\n".join(c.inner_text() for c in page.query_selector_all(".js-plotly-plot"))
    for feature in scenario.drifting:
        assert feature in drawn
    # the domain classifier's ranking, the estimate's band and the realized values are drawn
    for legend in ("flagged by a per-feature test", "band: ± 3 SE", "realized ROC AUC"):
        assert legend in drawn, legend
    nothing_clipped_or_covered(page)
    screenshot(page, output / "monitor.png")
    page.close()


def test_alerts_in_the_browser(
    browser: Browser, dashboard: str, scenario: LiveScenario, output: Path
) -> None:
    page = open_page(browser, f"{dashboard}/alerts", charts=1)
    no_exception(page)
    body = page.inner_text('[data-testid="stMain"]')
    assert "Active now" in body and "History" in body and "Delivery" in body
    assert "console" in body
    timeline = page.inner_text(".js-plotly-plot")
    assert "cancer-drift" in timeline and scenario.drifting[0] in timeline
    nothing_clipped_or_covered(page)
    screenshot(page, output / "alerts.png")
    page.close()


def test_the_monitor_page_downloads_the_chosen_run_as_one_html_file(
    browser: Browser, dashboard: str, output: Path
) -> None:
    page = open_page(browser, f"{dashboard}/monitor?monitor=cancer-drift", charts=8)
    button = page.get_by_role("button", name="Download this run as HTML")
    with page.expect_download(timeout=90_000) as pressed:
        button.click()
    download = pressed.value
    assert re.fullmatch(r"driftscope-cancer-drift-\d{8}-\d{6}\.html", download.suggested_filename)
    saved = output / download.suggested_filename
    download.save_as(saved)
    document = saved.read_text(encoding="utf-8")
    assert document.startswith("<!DOCTYPE html>")
    assert "driftscope report: cancer-drift" in document and "mean radius" in document
    no_exception(page)
    page.close()


def test_features_in_the_browser(
    browser: Browser, dashboard: str, scenario: LiveScenario, output: Path
) -> None:
    page = open_page(browser, f"{dashboard}/features?monitor=cancer-drift", charts=2)
    no_exception(page)
    body = page.inner_text('[data-testid="stMain"]')
    assert "Every feature of the run" in body and "Distribution of one feature" in body
    assert page.query_selector('[data-testid="stDataFrame"]') is not None
    nothing_clipped_or_covered(page)
    screenshot(page, output / "features.png")
    page.close()


def test_data_quality_in_the_browser(
    browser: Browser, dashboard: str, scenario: LiveScenario, output: Path
) -> None:
    page = open_page(browser, f"{dashboard}/quality?monitor=cancer-drift", charts=2)
    no_exception(page)
    body = page.inner_text('[data-testid="stMain"]')
    assert "Rows missing" in body and "Rows out of reference range" in body
    assert "What the quality detector decided" in body
    assert "Flagged in the last run" in body
    drawn = "\n".join(c.inner_text() for c in page.query_selector_all(".js-plotly-plot"))
    assert GAPPY_FEATURE in drawn and "flagged by the quality detector" in drawn
    nothing_clipped_or_covered(page)
    screenshot(page, output / "quality.png")
    page.close()


def test_a_backfilled_week_in_the_browser(browser: Browser, backfilled: str, output: Path) -> None:
    page = open_page(browser, f"{backfilled}/monitor?monitor=cancer-backfill", charts=6)
    no_exception(page)
    body = page.inner_text('[data-testid="stMain"]')
    assert "of these runs were backfilled" in body
    drawn = "\n".join(c.inner_text() for c in page.query_selector_all(".js-plotly-plot"))
    assert "backfilled runs" in drawn and "⟲ 8 backfilled" in drawn
    nothing_clipped_or_covered(page)
    screenshot(page, output / "monitor-backfilled.png")
    page.close()


@pytest.mark.parametrize(
    ("path", "charts", "expected"),
    [
        ("monitor", 4, "scores none of the chosen features"),
        ("features?feature=colour", 2, "(unseen)"),
        ("quality", 4, "Rows unseen category"),
    ],
    ids=["monitor", "features", "quality"],
)
def test_a_categorical_model_run_once_in_the_browser(
    browser: Browser, colours: str, output: Path, path: str, charts: int, expected: str
) -> None:
    page = open_page(browser, f"{colours}/{path}", charts=charts)
    if path == "monitor":  # only the numeric feature: chi-square is named, not drawn empty
        chooser = page.locator('[data-testid="stMultiSelect"]').first
        chooser.get_by_role("button", name="Clear all").click()
        page.wait_for_function(
            "() => document.body.innerText.includes('Choose features to draw.')",
            timeout=60_000,
        )
        chooser.click()
        page.get_by_role("option", name="x", exact=True).click()
        page.keyboard.press("Escape")
        page.wait_for_function(
            f"() => document.body.innerText.includes({expected!r})", timeout=60_000
        )
        page.wait_for_timeout(800)
    no_exception(page)
    body = page.inner_text('[data-testid="stMain"]') + page.inner_text(".js-plotly-plot")
    assert expected in body or any(
        expected in c.inner_text() for c in page.query_selector_all(".js-plotly-plot")
    )
    nothing_clipped_or_covered(page)
    screenshot(page, output / f"colours-{path.split('?')[0]}.png")
    page.close()
