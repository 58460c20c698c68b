"""/docs and /redoc in a real browser with no network but the API: Debian's headless Chromium
(Playwright) aborts every request to another origin, and the pages must still draw.

Screenshots go to ``test-output/docs/`` (gitignored).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from support.api_helpers import REPO, ServerProcess, make_demo_config
from support.machine import require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path(os.environ.get("DRIFTSCOPE_TEST_CHROMIUM", "/usr/bin/chromium"))
OUTPUT = REPO / "test-output" / "docs"

require_browser(CHROMIUM)  # fails under CI or DRIFTSCOPE_REQUIRE_BROWSER=1, skips elsewhere

from playwright.sync_api import Page, Route, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("docs")
    config = make_demo_config(folder, f"sqlite:///{folder / 'driftscope.db'}")
    env = {"DRIFTSCOPE_CONFIG": str(config), "DRIFTSCOPE_SCHEDULER": "false"}
    with ServerProcess(env) as server:
        yield server


@pytest.fixture(scope="module")
def offline_page(api: ServerProcess) -> Iterator[tuple[Page, list[str]]]:
    """A page whose requests to any origin but the API's are aborted (and recorded)."""
    elsewhere: list[str] = []
    origin = urlsplit(api.url).netloc

    def only_the_api(route: Route) -> None:
        if urlsplit(route.request.url).netloc == origin:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort("internetdisconnected")

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.route("**/*", only_the_api)
        yield page, elsewhere
        browser.close()


def test_swagger_ui_draws_offline(api: ServerProcess, offline_page: tuple[Page, list[str]]):
    page, elsewhere = offline_page
    page.goto(api.url + "/docs")
    title = page.locator(".swagger-ui .info .title")
    title.wait_for(timeout=30_000)
    assert "driftscope" in title.inner_text()
    page.locator(".opblock").first.wait_for(timeout=30_000)
    assert page.locator(".opblock").count() > 10  # the endpoints, read from /openapi.json
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "swagger-ui.png"), full_page=False)
    assert elsewhere == []


def test_redoc_draws_offline(api: ServerProcess, offline_page: tuple[Page, list[str]]):
    page, elsewhere = offline_page
    page.goto(api.url + "/redoc")
    heading = page.locator("h1", has_text="driftscope")
    heading.wait_for(timeout=30_000)
    page.locator("h2", has_text="Log predictions made elsewhere").first.wait_for(timeout=30_000)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "redoc.png"), full_page=False)
    assert elsewhere == []
