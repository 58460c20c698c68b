"""API keys and their scopes, health checks that leak nothing, generic errors, and the
OpenAPI document."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from typer.testing import CliRunner

from driftscope.apps.api.main import ROUTERS, create_app
from driftscope.core.auth import ApiKeyError
from driftscope.core.config.environment import DeploymentSettings
from driftscope.core.errors import StoreError
from support.api_helpers import api_client, count_rows, demo_rows, make_demo_config

pytestmark = pytest.mark.anyio
KEY = "k3y-0123456789-abcdefghijklmnopqrstuv"  # DRIFTSCOPE_API_KEY: admin
READ_KEYS = ["read-key-0123456789-old", "read-key-0123456789-new"]
WRITE_KEY = "write-key-0123456789abcdef"
ADMIN_KEY = "admin-key-0123456789abcdef"
KEYS_BY_SCOPE = {"read": READ_KEYS[0], "write": WRITE_KEY, "admin": ADMIN_KEY}

# every route with the scope it needs; None: any valid key. Written out by hand (the
# oracle): a route added without an entry here fails test_the_table_covers_every_route
ROUTES: list[tuple[str, str, str | None]] = [
    ("POST", "/v1/models/cancer/predict", "write"),
    ("POST", "/v1/models/cancer/records", "write"),
    ("POST", "/v1/models/cancer/feedback", "write"),
    ("GET", "/v1/models/cancer/stats", "read"),
    ("GET", "/v1/models", "read"),
    ("GET", "/v1/monitors", "read"),
    ("GET", "/v1/monitors/cancer-drift/reports", "read"),
    ("GET", "/v1/reports/x", "read"),
    ("GET", "/v1/reports/x/html", "read"),
    ("POST", "/v1/monitors/cancer-drift/run", "admin"),
    ("GET", "/v1/alerts", "read"),
    ("GET", "/v1/alerts/events", "read"),
    ("POST", "/v1/silences", "admin"),
    ("GET", "/v1/silences", "read"),
    ("DELETE", "/v1/silences/x", "admin"),
    ("GET", "/metrics", "read"),
    ("GET", "/openapi.json", None),
    ("GET", "/docs", None),
    ("GET", "/redoc", None),
    ("GET", "/docs/assets/swagger-ui.css", None),
]
# what each scope may do, by the words: admin implies write and read
ALLOWED = {"read": {"read"}, "write": {"write"}, "admin": {"read", "write", "admin"}}


def keyed_settings(config: Path, **extra: Any) -> DeploymentSettings:
    return DeploymentSettings(
        config=config,
        scheduler=False,
        api_key=KEY,
        read_keys=" , ".join(READ_KEYS),
        write_keys=WRITE_KEY,
        admin_keys=ADMIN_KEY,
        **extra,
    )


@pytest.fixture
async def keyed(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    config = make_demo_config(tmp_path, sqlite_url, model_folder=demo_dir)
    async with api_client(create_app(keyed_settings(config))) as client:
        yield client


def _template(path: str) -> str:
    names = {
        "cancer": "{model}",
        "cancer-drift": "{name}",
    }
    parts = path.split("/")
    if parts[1:3] == ["v1", "reports"]:
        return "/v1/reports/{report_id}" + ("/html" if parts[4:] == ["html"] else "")
    if parts[1:3] == ["v1", "silences"] and len(parts) == 4:
        return "/v1/silences/{silence_id}"
    if parts[1:3] == ["docs", "assets"]:
        return "/docs/assets/{name}"
    return "/".join(names.get(p, p) for p in parts)


def test_the_table_covers_every_route() -> None:
    served = {
        (method, route.path)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    table = {(method, _template(path)) for method, path, _ in ROUTES}
    assert served - {("GET", "/healthz"), ("GET", "/readyz")} == table


def test_a_route_without_a_scope_stops_the_app() -> None:
    from fastapi import APIRouter

    from driftscope.apps.api.deps import READ
    from driftscope.apps.api.main import _check_every_route_has_a_scope

    router = APIRouter()

    @router.get("/guarded", dependencies=[READ])
    async def guarded() -> None: ...

    _check_every_route_has_a_scope(router)

    @router.get("/forgotten")
    async def forgotten() -> None: ...

    with pytest.raises(RuntimeError, match="route /forgotten has no API key scope"):
        _check_every_route_has_a_scope(router)


async def test_every_route_needs_a_key_of_its_scope(keyed: httpx.AsyncClient) -> None:
    for method, path, scope in ROUTES:
        bare = await keyed.request(method, path, json={})
        assert bare.status_code == 401, (method, path)
        assert bare.headers["www-authenticate"] == "Bearer"
        wrong = await keyed.request(method, path, json={}, headers={"X-API-Key": KEY[:-1]})
        assert wrong.status_code == 401, (method, path)
        for key_scope, key in KEYS_BY_SCOPE.items():
            response = await keyed.request(method, path, json={}, headers={"X-API-Key": key})
            if scope is None or scope in ALLOWED[key_scope]:
                assert response.status_code not in (401, 403), (method, path, key_scope)
            else:
                assert response.status_code == 403, (method, path, key_scope)
                assert response.json()["detail"] == (
                    f"this API key has the {key_scope} scope; this endpoint needs {scope}"
                )
            assert key not in response.text


async def test_a_read_key_cannot_predict_and_nothing_is_logged(
    keyed: httpx.AsyncClient, sqlite_url: str, demo_dir: Path
) -> None:
    rows = demo_rows(demo_dir, 3)
    refused = await keyed.post(
        "/v1/models/cancer/predict", json={"rows": rows}, headers={"X-API-Key": READ_KEYS[0]}
    )
    assert refused.status_code == 403
    # the write key predicts but cannot read what it wrote: least privilege for clients
    written = await keyed.post(
        "/v1/models/cancer/predict", json={"rows": rows}, headers={"X-API-Key": WRITE_KEY}
    )
    assert written.status_code == 200
    assert (
        await keyed.get("/v1/models/cancer/stats", headers={"X-API-Key": WRITE_KEY})
    ).status_code == 403
    stats = await keyed.get("/v1/models/cancer/stats", headers={"X-API-Key": READ_KEYS[1]})
    assert stats.json()["count"] == 3  # only the write key's rows


async def test_keys_rotate_both_valid_then_the_old_one_dropped(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> None:
    config = make_demo_config(tmp_path, sqlite_url, model_folder=demo_dir)
    old, new = READ_KEYS
    async with api_client(create_app(DeploymentSettings(config=config, read_keys=old))) as client:
        assert (await client.get("/v1/models", headers={"X-API-Key": old})).status_code == 200
        assert (await client.get("/v1/models", headers={"X-API-Key": new})).status_code == 401
    both = DeploymentSettings(config=config, read_keys=f"{old},{new}")
    async with api_client(create_app(both)) as client:
        for key in (old, new):
            assert (await client.get("/v1/models", headers={"X-API-Key": key})).status_code == 200
    async with api_client(create_app(DeploymentSettings(config=config, read_keys=new))) as client:
        assert (await client.get("/v1/models", headers={"X-API-Key": old})).status_code == 401
        assert (await client.get("/v1/models", headers={"X-API-Key": new})).status_code == 200


async def test_a_key_can_be_configured_as_its_sha256(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> None:
    config = make_demo_config(tmp_path, sqlite_url, model_folder=demo_dir)
    digest = hashlib.sha256(ADMIN_KEY.encode()).hexdigest()
    app = create_app(DeploymentSettings(config=config, admin_keys=f"sha256:{digest.upper()}"))
    async with api_client(app) as client:
        ok = await client.post("/v1/monitors/cancer-drift/run", headers={"X-API-Key": ADMIN_KEY})
        assert ok.status_code == 200
        wrong = await client.get("/v1/models", headers={"X-API-Key": f"sha256:{digest}"})
        assert wrong.status_code == 401  # the digest itself is not a key


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
    bearer_wrong = await keyed.get("/v1/models", headers={"Authorization": "Bearer nope"})
    assert bearer_wrong.status_code == 401


async def test_keys_are_compared_as_digests_with_every_stored_key(
    keyed: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    def sha(text: str) -> bytes:
        return hashlib.sha256(text.encode()).digest()

    stored = [sha(KEY), sha(ADMIN_KEY), sha(WRITE_KEY), *(sha(k) for k in READ_KEYS)]
    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert (await keyed.get("/v1/models", headers={"X-API-Key": "guess"})).status_code == 401
    assert calls == [(sha("guess"), d) for d in stored]
    calls.clear()
    # a match does not end the loop early: the time says nothing about which key it was
    assert (await keyed.get("/v1/models", headers={"X-API-Key": KEY})).status_code == 200
    assert calls == [(sha(KEY), d) for d in stored]


async def test_a_non_ascii_key_works(tmp_path: Path, sqlite_url: str, demo_dir: Path) -> None:
    key = "clé-ünïcode-0123456789"
    config = make_demo_config(tmp_path, sqlite_url, model_folder=demo_dir)
    app = create_app(DeploymentSettings(config=config, scheduler=False, read_keys=key))
    async with api_client(app) as client:
        ok = await client.get("/v1/models", headers={"X-API-Key": key.encode()})
        assert ok.status_code == 200
        wrong = await client.get("/v1/models", headers={"X-API-Key": b"cle-unicode-0123456789"})
        assert wrong.status_code == 401


async def test_no_key_configured_means_open(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> None:
    config = make_demo_config(tmp_path, sqlite_url, model_folder=demo_dir)
    async with api_client(create_app(DeploymentSettings(config=config, scheduler=False))) as client:
        assert (await client.get("/v1/models")).status_code == 200
        assert (await client.get("/openapi.json")).status_code == 200
        assert "checks" in (await client.get("/readyz")).json()  # nothing to hide behind


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"read_keys": "short"}, "DRIFTSCOPE_READ_KEYS entry 1: a key needs at least 16"),
        (
            {"write_keys": f"{WRITE_KEY},sha256:abc"},
            "DRIFTSCOPE_WRITE_KEYS entry 2: a sha256: entry needs 64 hex digits",
        ),
        (
            {"admin_keys": ADMIN_KEY, "read_keys": f"{READ_KEYS[0]},,{ADMIN_KEY}"},
            "DRIFTSCOPE_READ_KEYS entry 3 is the same key as DRIFTSCOPE_ADMIN_KEYS entry 1",
        ),
        ({"api_key": "tiny"}, "DRIFTSCOPE_API_KEY: a key needs at least 16 characters"),
        (
            {"read_keys": "has a space in it 0123"},
            "DRIFTSCOPE_READ_KEYS entry 1: a key cannot contain spaces",
        ),
    ],
)
def test_bad_keys_stop_the_app_naming_the_variable_never_the_key(
    tmp_path: Path, settings: dict[str, str], message: str
) -> None:
    with pytest.raises(ApiKeyError) as caught:
        create_app(DeploymentSettings(config=tmp_path / "x.yaml", **settings))
    assert str(caught.value).startswith(message)
    for value in settings.values():
        for part in value.split(","):
            if part:
                assert part not in str(caught.value)


def test_serve_refuses_bad_keys_with_exit_2(
    tmp_path: Path, sqlite_url: str, demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from driftscope.apps.cli.main import app

    config = make_demo_config(tmp_path, sqlite_url, model_folder=demo_dir)
    monkeypatch.setenv("DRIFTSCOPE_READ_KEYS", f"{READ_KEYS[0]},sh0rt-secret")
    result = CliRunner().invoke(app, ["serve", "-c", str(config)], terminal_width=200)
    assert result.exit_code == 2, result.output
    assert "DRIFTSCOPE_READ_KEYS entry 2: a key needs at least 16 characters" in result.output
    assert "sh0rt-secret" not in result.output


# -- health checks -------------------------------------------------------------------------


async def test_health_checks_without_a_key_say_only_a_status_word(
    keyed: httpx.AsyncClient,
) -> None:
    assert (await keyed.get("/healthz")).json() == {"status": "ok"}
    bare = await keyed.get("/readyz")
    assert bare.status_code == 200 and bare.json() == {"status": "ok"}
    detailed = await keyed.get("/readyz", headers={"X-API-Key": READ_KEYS[0]})
    body = detailed.json()
    assert body["status"] == "ok" and body["ready"] is True
    assert {"store", "models", "logging", "delivery"} <= set(body["checks"])
    for key in (WRITE_KEY, ADMIN_KEY, KEY):  # details need a key, of any scope
        assert "checks" in (await keyed.get("/readyz", headers={"X-API-Key": key})).json()
    wrong = await keyed.get("/readyz", headers={"X-API-Key": "not-a-key-at-all"})
    assert wrong.status_code == 401  # a wrong key is an error, not a quiet summary


async def test_readyz_down_and_degraded_hide_the_details_without_a_key(
    keyed: httpx.AsyncClient,
) -> None:
    from driftscope.core.alerting.delivery import config_hash
    from driftscope.core.contracts.store import NotifierStatus

    runtime = keyed._transport.app.state.api.runtime  # type: ignore[attr-defined]
    name, notifier = next(iter(runtime.notifiers.items()))
    runtime.store.set_notifier_status(
        NotifierStatus(name, config_hash(notifier.settings), disabled=True, reason="HTTP 404")
    )
    degraded = await keyed.get("/readyz")
    assert degraded.status_code == 200 and degraded.json() == {"status": "degraded"}
    detailed = (await keyed.get("/readyz", headers={"X-API-Key": READ_KEYS[1]})).json()
    assert detailed["status"] == "degraded"
    assert any(name in w and "disabled" in w for w in detailed["warnings"])

    def down() -> None:
        raise StoreError("could not connect to server at db-internal.example:5432 (prod)")

    runtime.store.ping = down
    bare = await keyed.get("/readyz")
    assert bare.status_code == 503 and bare.json() == {"status": "down"}
    assert "db-internal" not in bare.text and "5432" not in bare.text
    keyed_down = await keyed.get("/readyz", headers={"X-API-Key": ADMIN_KEY})
    assert keyed_down.status_code == 503
    assert keyed_down.json()["status"] == "down"
    assert keyed_down.json()["checks"]["store"]["ok"] is False


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
        "/v1/reports/{report_id}/html",
        "/v1/monitors/{name}/run",
        "/v1/alerts",
        "/v1/silences",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert path in paths, path
    predict = paths["/v1/models/{model}/predict"]["post"]
    body = predict["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"features", "rows"}
    assert set(schema["components"]["securitySchemes"]) == {"APIKeyHeader", "HTTPBearer"}
    html = paths["/v1/reports/{report_id}/html"]["get"]["responses"]
    assert set(html["200"]["content"]) == {"text/html"} and "404" in html


async def test_nothing_is_logged_for_unauthorised_predictions(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> None:
    config = make_demo_config(tmp_path, sqlite_url, model_folder=demo_dir)
    app = create_app(keyed_settings(config))
    async with api_client(app) as client:
        for headers in ({}, {"X-API-Key": READ_KEYS[0]}):
            response = await client.post(
                "/v1/models/cancer/predict", json={"rows": demo_rows(demo_dir, 5)}, headers=headers
            )
            assert response.status_code in (401, 403)
    assert count_rows(sqlite_url) == (0, 0)
