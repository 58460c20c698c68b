"""API key, generic errors that leak nothing, and the OpenAPI document."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from driftscope.apps.api.main import create_app
from driftscope.core.config.environment import Settings
from driftscope.core.errors import StoreError
from support.api_helpers import api_client, count_rows, demo_rows, make_demo_config

pytestmark = pytest.mark.anyio
KEY = "k3y-0123456789-abcdefghijklmnopqrstuv"


@pytest.fixture
async def keyed(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    config = make_demo_config(tmp_path, sqlite_url, model_folder=demo_dir)
    app = create_app(Settings(config=config, scheduler=False, api_key=KEY))
    async with api_client(app) as client:
        yield client


PROTECTED = [
    ("GET", "/v1/models"),
    ("GET", "/v1/monitors"),
    ("GET", "/v1/monitors/cancer-drift/reports"),
    ("GET", "/v1/reports/x"),
    ("POST", "/v1/monitors/cancer-drift/run"),
    ("GET", "/v1/alerts"),
    ("GET", "/v1/alerts/events"),
    ("GET", "/v1/models/cancer/stats"),
    ("POST", "/v1/models/cancer/predict"),
    ("POST", "/v1/models/cancer/records"),
    ("POST", "/v1/models/cancer/feedback"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
]


async def test_every_endpoint_but_health_needs_the_key(
    keyed: httpx.AsyncClient, sqlite_url: str, demo_dir: Path
) -> None:
    assert (await keyed.get("/healthz")).status_code == 200
    assert (await keyed.get("/readyz")).status_code == 200
    for method, path in PROTECTED:
        response = await keyed.request(method, path, json={})
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
        assert KEY not in response.text
    wrong = await keyed.post(
        "/v1/models/cancer/predict",
        json={"features": demo_rows(demo_dir, 1)[0]},
        headers={"X-API-Key": KEY[:-1]},
    )
    assert wrong.status_code == 401
    bearer_wrong = await keyed.get("/v1/models", headers={"Authorization": "Bearer nope"})
    assert bearer_wrong.status_code == 401
    stats = await keyed.get("/v1/models/cancer/stats", headers={"X-API-Key": KEY})
    assert stats.json()["count"] == 0  # nothing was logged for the refused predict


async def test_the_key_is_accepted_as_header_or_bearer_token(
    keyed: httpx.AsyncClient, demo_dir: Path
) -> None:
    row = demo_rows(demo_dir, 1)[0]
    by_header = await keyed.post(
        "/v1/models/cancer/predict", json={"features": row}, headers={"X-API-Key": KEY}
    )
    assert by_header.status_code == 200
    by_bearer = await keyed.post(
        "/v1/models/cancer/predict",
        json={"features": row},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert by_bearer.status_code == 200
    assert (await keyed.get("/metrics", headers={"X-API-Key": KEY})).status_code == 200
    assert (await keyed.get("/openapi.json", headers={"X-API-Key": KEY})).status_code == 200


async def test_the_key_is_compared_in_constant_time(
    keyed: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert (await keyed.get("/v1/models", headers={"X-API-Key": "guess"})).status_code == 401
    assert (await keyed.get("/v1/models", headers={"X-API-Key": KEY})).status_code == 200
    assert calls == [(b"guess", KEY.encode()), (KEY.encode(), KEY.encode())]


async def test_a_non_ascii_key_works(tmp_path: Path, sqlite_url: str, demo_dir: Path) -> None:
    key = "clé-ünïcode"
    config = make_demo_config(tmp_path, sqlite_url, model_folder=demo_dir)
    app = create_app(Settings(config=config, scheduler=False, api_key=key))
    async with api_client(app) as client:
        ok = await client.get("/v1/models", headers={"X-API-Key": key.encode()})
        assert ok.status_code == 200
        wrong = await client.get("/v1/models", headers={"X-API-Key": b"cle"})
        assert wrong.status_code == 401


async def test_no_key_configured_means_open(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> None:
    config = make_demo_config(tmp_path, sqlite_url, model_folder=demo_dir)
    async with api_client(create_app(Settings(config=config, scheduler=False))) as client:
        assert (await client.get("/v1/models")).status_code == 200
        assert (await client.get("/openapi.json")).status_code == 200


async def test_unexpected_errors_are_generic_500s_with_a_request_id(
    keyed: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = keyed._transport.app.state.api.runtime  # type: ignore[attr-defined]

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError(f"boom with secret {KEY}")

    runtime.store.list_alert_states = broken
    with caplog.at_level(logging.ERROR, logger="driftscope.api"):
        response = await keyed.get("/v1/alerts", headers={"X-API-Key": KEY})
    assert response.status_code == 500
    body = response.json()
    assert body["detail"] == "internal server error" and len(body["request_id"]) == 32
    assert KEY not in response.text and "Traceback" not in response.text
    assert body["request_id"] in caplog.text  # the details are in the log, under that id


async def test_store_errors_are_503_without_details(keyed: httpx.AsyncClient) -> None:
    runtime = keyed._transport.app.state.api.runtime  # type: ignore[attr-defined]

    def down(*_: Any, **__: Any) -> Any:
        raise StoreError("could not connect to postgresql://admin:pa55word@db/prod")

    runtime.store.list_reports = down
    response = await keyed.get("/v1/monitors", headers={"X-API-Key": KEY})
    assert response.status_code == 503
    assert "pa55word" not in response.text and response.headers["retry-after"]


async def test_openapi_documents_every_endpoint(keyed: httpx.AsyncClient) -> None:
    schema = (await keyed.get("/openapi.json", headers={"X-API-Key": KEY})).json()
    paths = schema["paths"]
    for path in (
        "/v1/models/{model}/predict",
        "/v1/models/{model}/records",
        "/v1/models/{model}/feedback",
        "/v1/models/{model}/stats",
        "/v1/models",
        "/v1/monitors",
        "/v1/monitors/{name}/reports",
        "/v1/reports/{report_id}",
        "/v1/monitors/{name}/run",
        "/v1/alerts",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert path in paths, path
    predict = paths["/v1/models/{model}/predict"]["post"]
    body = predict["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"features", "rows"}
    assert set(schema["components"]["securitySchemes"]) == {"APIKeyHeader", "HTTPBearer"}


async def test_nothing_is_logged_for_unauthorised_predictions(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> None:
    config = make_demo_config(tmp_path, sqlite_url, model_folder=demo_dir)
    app = create_app(Settings(config=config, scheduler=False, api_key=KEY))
    async with api_client(app) as client:
        response = await client.post(
            "/v1/models/cancer/predict", json={"rows": demo_rows(demo_dir, 5)}
        )
        assert response.status_code == 401
    assert count_rows(sqlite_url) == (0, 0)
