"""``GET /v1/reports/{report_id}/html``: one report as the HTML file, through HTTP against the
real app (scopes are in test_api_security's table of every route)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from driftscope.apps.api.main import create_app
from driftscope.core.config.environment import DeploymentSettings
from support.api_helpers import api_client, demo_labels, demo_rows, make_demo_config
from support.report_html import ReportDocument

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    config = make_demo_config(tmp_path, sqlite_url, model_folder=demo_dir)
    async with api_client(create_app(DeploymentSettings(config=config, scheduler=False))) as c:
        yield c


async def test_a_report_downloads_as_one_html_file(
    client: httpx.AsyncClient, demo_dir: Path
) -> None:
    response = await client.post(
        "/v1/models/cancer/predict", json={"rows": demo_rows(demo_dir, 60)}
    )
    ids = [p["id"] for p in response.json()["predictions"]]
    labels = [{"id": i, "label": y} for i, y in zip(ids, demo_labels(demo_dir, 60), strict=True)]
    await client.post("/v1/models/cancer/feedback", json={"labels": labels})
    report = (await client.post("/v1/monitors/cancer-drift/run")).json()

    response = await client.get(f"/v1/reports/{report['id']}/html")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    made = datetime.fromisoformat(report["created_at"])
    assert response.headers["content-disposition"] == (
        f'attachment; filename="driftscope-cancer-drift-{made:%Y%m%d-%H%M%S}.html"'
    )
    assert response.headers["x-content-type-options"] == "nosniff"
    page = ReportDocument(response.text)
    assert f"Run {report['id']}" in page.text
    assert "window the last 1h, at least 20 rows" in page.text  # the served config's monitor
    columns = {cells[0].text for cells in page.tables["columns"].rows}
    assert columns == {r["feature"] for r in report["results"] if r["kind"] != "performance"}
    assert len(page.figures) > len(columns)  # each detector's chart and each column's


async def test_an_unknown_report_is_404_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/reports/0f0f-nope/html")
    assert response.status_code == 404
    assert response.json()["detail"] == "unknown report '0f0f-nope'"


@pytest.mark.parametrize(
    ("report_id", "kind"), [("a" * 65, "string_too_long"), ("a%00b", "string_nul")]
)
async def test_a_report_id_no_store_can_hold_is_422_at_the_path(
    client: httpx.AsyncClient, report_id: str, kind: str
) -> None:
    response = await client.get(f"/v1/reports/{report_id}/html")
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["path", "report_id"] and problem["type"] == kind
