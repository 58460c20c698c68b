"""/docs and /redoc work offline: every script, style sheet and icon they load comes from
the API itself (served from an installed package), never from a CDN."""

from __future__ import annotations

from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from driftscope.apps.api.main import create_app
from driftscope.core.config.environment import DeploymentSettings
from support.api_helpers import api_client, make_demo_config

pytestmark = pytest.mark.anyio

BASE = "http://testserver"
CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


class _Resources(HTMLParser):
    """The URLs of every resource a page loads: <script src>, <link href>, <img src>, and
    anything else with a src attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "link" and values.get("href"):
            self.urls.append(values["href"] or "")
        elif values.get("src"):
            self.urls.append(values["src"] or "")
        elif tag == "script":
            self.inline_scripts += 1


def resources(html: str) -> list[str]:
    parser = _Resources()
    parser.feed(html)
    return parser.urls


@pytest.fixture
async def client(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    config = make_demo_config(tmp_path, sqlite_url, model_folder=demo_dir)
    async with api_client(create_app(DeploymentSettings(config=config, scheduler=False))) as c:
        yield c


@pytest.mark.parametrize(
    ("page", "expected"),
    [("/docs", {"swagger-ui-bundle.js", "swagger-ui.css"}), ("/redoc", {"redoc.standalone.js"})],
)
async def test_docs_pages_load_every_asset_from_the_api_itself(
    client: httpx.AsyncClient, page: str, expected: set[str]
) -> None:
    response = await client.get(page)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    urls = resources(html)
    assert {Path(urlsplit(u).path).name for u in urls} >= expected
    assert "/openapi.json" in html
    for url in urls:
        absolute = urljoin(BASE + page, url)
        assert urlsplit(absolute).netloc == urlsplit(BASE).netloc, f"{page} loads {url}"
        asset = await client.get(absolute)
        assert asset.status_code == 200, f"{url}: {asset.status_code}"
        kind = CONTENT_TYPES[Path(urlsplit(absolute).path).suffix]
        assert kind in asset.headers["content-type"], (url, asset.headers["content-type"])
        assert len(asset.content) > 1000
    # no other address appears anywhere in the page (a font, a validator badge ...)
    assert "http://" not in html and "https://" not in html
    # and the browser is told to load nothing from elsewhere (what the scripts would draw)
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'self'"
    for directive in ("script-src", "style-src", "img-src", "connect-src", "font-src"):
        sources = policy[directive].split()
        assert "'self'" in sources and not any("://" in s or s == "*" for s in sources)


async def test_only_the_known_assets_are_served(client: httpx.AsyncClient) -> None:
    for name in ("../../etc/passwd", "..%2F__init__.py", "core.py", "nothing.js"):
        response = await client.get(f"/docs/assets/{name}")
        assert response.status_code == 404, name
