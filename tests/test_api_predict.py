"""POST predict / records / feedback through HTTP against the real app, the real demo model
file and a real SQLite store."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from driftscope.apps.api.main import create_app
from driftscope.core.config.environment import DeploymentSettings
from driftscope.core.errors import StoreError
from driftscope.core.runtime import Runtime
from support.api_helpers import (
    api_client,
    count_rows,
    demo_labels,
    demo_rows,
    make_demo_config,
    records_only_config,
)
from support.waiting import DEADLINE, wait_until_async

pytestmark = pytest.mark.anyio
PREDICT = "/v1/models/cancer/predict"


def _config(tmp_path: Path, url: str, demo_dir: Path, **api: Any) -> Path:
    return make_demo_config(tmp_path, url, api=api, model_folder=demo_dir)


@pytest.fixture
async def client(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    config = _config(tmp_path, sqlite_url, demo_dir, max_batch_rows=50, max_body_bytes=64_000)
    async with api_client(create_app(DeploymentSettings(config=config, scheduler=False))) as c:
        yield c


async def _logged(client: httpx.AsyncClient) -> tuple[int, int]:
    """(rows, labelled) in the store; the stats endpoint flushes the log queue first."""
    stats = (await client.get("/v1/models/cancer/stats")).json()
    return stats["count"], stats["labelled"]


# -- predictions -------------------------------------------------------------------------------
async def test_single_row_gives_id_class_and_probabilities(
    client: httpx.AsyncClient, demo_dir: Path
) -> None:
    response = await client.post(PREDICT, json={"features": demo_rows(demo_dir, 1)[0]})
    assert response.status_code == 200
    (item,) = response.json()["predictions"]
    assert len(item["id"]) == 32 and int(item["id"], 16) >= 0
    assert item["prediction"] in {"0", "1"}
    assert set(item["probabilities"]) == {"0", "1"}
    assert sum(item["probabilities"].values()) == pytest.approx(1.0)
    assert max(item["probabilities"], key=item["probabilities"].get) == item["prediction"]
    assert await _logged(client) == (1, 0)


async def test_batch_keeps_row_order_and_matches_single_rows(
    client: httpx.AsyncClient, demo_dir: Path
) -> None:
    rows = demo_rows(demo_dir, 20)
    batch = (await client.post(PREDICT, json={"rows": rows})).json()["predictions"]
    singles = [
        (await client.post(PREDICT, json={"features": row})).json()["predictions"][0]
        for row in rows
    ]
    assert [p["prediction"] for p in batch] == [p["prediction"] for p in singles]
    for b, s in zip(batch, singles, strict=True):
        assert b["probabilities"] == pytest.approx(s["probabilities"])
    ids = [p["id"] for p in batch + singles]
    assert len(set(ids)) == 40
    assert await _logged(client) == (40, 0)


async def test_unknown_model_is_404_and_logs_nothing(
    client: httpx.AsyncClient, demo_dir: Path
) -> None:
    response = await client.post(
        "/v1/models/nope/predict", json={"features": demo_rows(demo_dir, 1)[0]}
    )
    assert response.status_code == 404
    assert "nope" in response.json()["detail"]
    for path in ("records", "feedback", "stats"):
        method = client.get if path == "stats" else client.post
        kwargs = {} if path == "stats" else {"json": {"labels": [{"id": "x", "label": 1}]}}
        if path == "records":
            kwargs = {"json": {"rows": [{"features": {}, "prediction": 1}]}}
        assert (await method(f"/v1/models/nope/{path}", **kwargs)).status_code == 404
    assert await _logged(client) == (0, 0)


def _bad(row: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = dict(row)
    for key, value in changes.items():
        name = key.replace("_", " ")
        if value is _DROP:
            out.pop(name)
        else:
            out[name] = value
    return out


_DROP = object()


@pytest.mark.parametrize(
    ("changes", "field", "kind"),
    [
        ({"mean_radius": _DROP}, "mean radius", "missing"),
        ({"not_a_feature": 1.0}, "not a feature", "extra_forbidden"),
        ({"mean_radius": "12.5"}, "mean radius", "number_type"),
        ({"mean_radius": True}, "mean radius", "number_type"),
        ({"mean_radius": None}, "mean radius", "missing"),
        ({"mean_radius": [1.0]}, "mean radius", "number_type"),
    ],
    ids=["missing", "extra", "string", "boolean", "null", "array"],
)
async def test_bad_feature_is_422_naming_row_and_field(
    client: httpx.AsyncClient, demo_dir: Path, changes: dict[str, Any], field: str, kind: str
) -> None:
    rows = demo_rows(demo_dir, 3)
    rows[2] = _bad(rows[2], **changes)
    response = await client.post(PREDICT, json={"rows": rows})
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["row"] == 2 and problem["field"] == field and problem["type"] == kind
    assert problem["loc"] == ["body", "rows", 2, field]
    assert await _logged(client) == (0, 0)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
async def test_non_finite_values_are_422(
    client: httpx.AsyncClient, demo_dir: Path, literal: str
) -> None:
    row = demo_rows(demo_dir, 1)[0]
    body = json.dumps({"features": row}).replace(
        f'"mean texture": {json.dumps(row["mean texture"])}', f'"mean texture": {literal}'
    )
    response = await client.post(
        PREDICT, content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["field"] == "mean texture" and problem["type"] == "finite_number"
    assert problem["loc"] == ["body", "features", "mean texture"] and problem["row"] == 0
    assert await _logged(client) == (0, 0)


async def test_every_bad_row_and_field_is_named(client: httpx.AsyncClient, demo_dir: Path) -> None:
    rows = demo_rows(demo_dir, 5)
    rows[1] = _bad(rows[1], mean_radius=_DROP, mean_area="big")
    rows[4] = _bad(rows[4], worst_area=float("inf"))
    rows[3] = "not a row"  # type: ignore[call-overload]
    response = await client.post(
        PREDICT,
        content=json.dumps({"rows": rows}),  # allow_nan: json.dumps writes Infinity
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    found = {(p["row"], p.get("field"), p["type"]) for p in response.json()["detail"]}
    assert found == {
        (1, "mean radius", "missing"),
        (1, "mean area", "number_type"),
        (3, None, "row_type"),
        (4, "worst area", "finite_number"),
    }


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b"{}",
        b'{"rows": []}',
        b'{"rows": {"a": 1}}',
        b'{"features": {}, "rows": [{}]}',
        b'{"features": {}, "extra": 1}',
    ],
    ids=["invalid-json", "array", "empty", "no-rows", "rows-not-list", "both", "extra-key"],
)
async def test_malformed_bodies_are_422(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post(
        PREDICT, content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert all({"loc", "msg", "type"} <= set(p) for p in response.json()["detail"])
    assert await _logged(client) == (0, 0)


async def test_oversize_batch_is_413(client: httpx.AsyncClient, demo_dir: Path) -> None:
    response = await client.post(PREDICT, json={"rows": demo_rows(demo_dir, 51)})
    assert response.status_code == 413
    assert "50" in response.json()["detail"]
    assert (await client.post(PREDICT, json={"rows": demo_rows(demo_dir, 50)})).status_code == 200
    assert await _logged(client) == (50, 0)


async def test_body_over_limit_is_refused_by_content_length(client: httpx.AsyncClient) -> None:
    body = b'{"rows": [' + b" " * 70_000 + b"]}"
    response = await client.post(
        PREDICT, content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert "64000 bytes" in response.json()["detail"]


async def test_body_over_limit_is_refused_while_streaming(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"rows": ['
        for _ in range(100):
            yield b" " * 1000  # no Content-Length: chunked upload

        yield b"]}"

    response = await client.post(
        PREDICT, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    records = await client.post(
        "/v1/models/cancer/records", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert records.status_code == 413
    assert await _logged(client) == (0, 0)


# -- records made elsewhere ----------------------------------------------------------------------
async def test_records_are_logged_with_labels_and_probabilities(
    client: httpx.AsyncClient, demo_dir: Path
) -> None:
    rows = demo_rows(demo_dir, 3)
    rows[2]["mean radius"] = None  # missing values are allowed in logged records
    body = {
        "rows": [
            {"features": rows[0], "prediction": 1, "probabilities": {"0": 0.1, "1": 0.9}},
            {"features": rows[1], "prediction": "0", "label": 0, "id": "outside-1"},
            {
                "features": rows[2],
                "prediction": True,
                "label": 1,
                "timestamp": "2030-01-01T00:00:00",
            },
        ]
    }
    response = await client.post("/v1/models/cancer/records", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["accepted"] == 3 and data["ids"][1] == "outside-1"
    # the 2030 row is outside the stats window ending now
    assert await _logged(client) == (2, 1)


@pytest.mark.parametrize(
    ("change", "loc_tail"),
    [
        ({"probabilities": {"7": 0.5}}, ["probabilities", "7"]),
        ({"probabilities": {"1": 1.5}}, ["probabilities", "1"]),
        ({"prediction": None}, ["prediction"]),
        ({"features": {"mean radius": 1.0}}, ["features", "mean texture"]),
    ],
    ids=["unknown-class", "probability-above-1", "null-prediction", "missing-feature"],
)
async def test_bad_records_are_422_and_nothing_logged(
    client: httpx.AsyncClient, demo_dir: Path, change: dict[str, Any], loc_tail: list[str]
) -> None:
    good = {"features": demo_rows(demo_dir, 1)[0], "prediction": 1}
    response = await client.post(
        "/v1/models/cancer/records", json={"rows": [good, {**good, **change}]}
    )
    assert response.status_code == 422
    locs = [p["loc"] for p in response.json()["detail"]]
    assert any(
        loc[:3] == ["body", "rows", 1] and loc[3 : 3 + len(loc_tail)] == loc_tail for loc in locs
    )
    assert await _logged(client) == (0, 0)


# -- feedback ----------------------------------------------------------------------------------
async def test_feedback_reports_unknown_ids_and_counts_overwritten_labels(
    client: httpx.AsyncClient, demo_dir: Path
) -> None:
    rows = demo_rows(demo_dir, 5)
    labels = demo_labels(demo_dir, 5)
    ids = [p["id"] for p in (await client.post(PREDICT, json={"rows": rows})).json()["predictions"]]
    # sent at once: the predictions may still be in the log queue; they must be found
    first = await client.post(
        "/v1/models/cancer/feedback",
        json={
            "labels": [{"id": i, "label": y} for i, y in zip(ids[:3], labels[:3], strict=True)]
            + [{"id": "unknown-a", "label": 1}, {"id": "unknown-b", "label": 0}]
        },
    )
    assert first.status_code == 200
    assert first.json() == {"updated": 3, "unknown_ids": ["unknown-a", "unknown-b"]}
    relabel = await client.post(
        "/v1/models/cancer/feedback",
        json={
            "labels": [{"id": ids[0], "label": 1 - labels[0]}, {"id": ids[1], "label": "1"}],
            "overwrite": True,
        },
    )
    assert relabel.json() == {"updated": 2, "unknown_ids": []}
    assert await _logged(client) == (5, 3)
    metrics = (await client.get("/metrics")).text
    assert 'driftscope_labels_updated_total{model="cancer"} 5.0' in metrics
    assert 'driftscope_labels_unknown_ids_total{model="cancer"} 2.0' in metrics


async def test_feedback_validation(client: httpx.AsyncClient) -> None:
    url = "/v1/models/cancer/feedback"
    assert (await client.post(url, json={"labels": []})).status_code == 422
    assert (await client.post(url, json={"labels": [{"id": "a"}]})).status_code == 422
    response = await client.post(url, json={"labels": [{"id": "a", "label": 1, "x": 2}]})
    assert response.status_code == 422
    too_many = {"labels": [{"id": str(i), "label": 1} for i in range(51)]}
    assert (await client.post(url, json=too_many)).status_code == 413


# -- logging modes and back-pressure -------------------------------------------------------------
async def test_sync_logging_writes_before_responding(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> None:
    config = _config(tmp_path, sqlite_url, demo_dir, logging="sync", flush_interval="1h")
    async with api_client(create_app(DeploymentSettings(config=config, scheduler=False))) as client:
        response = await client.post(PREDICT, json={"rows": demo_rows(demo_dir, 7)})
        assert response.status_code == 200
        assert count_rows(sqlite_url) == (7, 0)  # no flush: already written


async def test_full_queue_answers_503_with_retry_after_and_drops_nothing(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> None:
    config = _config(
        tmp_path,
        sqlite_url,
        demo_dir,
        logging="async",  # answered before the write, so the queue can fill
        queue_size=100,
        flush_rows=1,
        enqueue_timeout="200ms",
    )
    runtime = Runtime.from_path(config, DeploymentSettings(scheduler=False))
    release = threading.Event()
    writing = threading.Event()
    write = runtime.store.write_predictions

    def slow_write(records: Any) -> int:
        writing.set()
        assert release.wait(DEADLINE), "the test never released the store"
        return write(records)

    runtime.store.write_predictions = slow_write  # type: ignore[method-assign]
    try:
        app = create_app(DeploymentSettings(scheduler=False), runtime)
        async with api_client(app) as client:
            assert (
                await client.post(PREDICT, json={"rows": demo_rows(demo_dir, 100)})
            ).status_code == 200
            # the writer holds the 100 rows in a write the store does not finish
            assert await asyncio.to_thread(writing.wait, DEADLINE)
            refused = await client.post(PREDICT, json={"features": demo_rows(demo_dir, 1)[0]})
            assert refused.status_code == 503
            assert int(refused.headers["Retry-After"]) >= 1
            metrics = (await client.get("/metrics")).text
            assert "driftscope_log_rows_rejected_total 1.0" in metrics
            assert 'reason="queue_full"' in metrics
            release.set()

            async def drained() -> bool:
                return "driftscope_log_queue_depth 0.0" in (await client.get("/metrics")).text

            # room again once the rows are written (the 200 ms enqueue wait is not relied on)
            await wait_until_async(drained, what="the held rows written")
            assert (
                await client.post(PREDICT, json={"features": demo_rows(demo_dir, 1)[0]})
            ).status_code == 200
        assert count_rows(sqlite_url) == (101, 0)
    finally:
        release.set()
        runtime.close()


async def test_store_errors_are_retried_and_surfaced(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> None:
    # async: the request is answered while the store still fails
    config = _config(tmp_path, sqlite_url, demo_dir, logging="async", flush_interval="5ms")
    runtime = Runtime.from_path(config, DeploymentSettings(scheduler=False))
    failing = threading.Event()
    failing.set()
    write = runtime.store.write_predictions

    def flaky_write(records: Any) -> int:
        if failing.is_set():
            raise StoreError("database is locked (password=hunter2)")
        return write(records)

    def flaky_quick_write(records: Any) -> int | None:
        # a locked database turns quick writes away: they leave the rows to write_predictions
        return None if failing.is_set() else quick_write(records)

    quick_write = runtime.store.try_write_predictions
    runtime.store.write_predictions = flaky_write  # type: ignore[method-assign]
    runtime.store.try_write_predictions = flaky_quick_write  # type: ignore[method-assign]
    try:
        settings = DeploymentSettings(scheduler=False, store_url="sqlite:///x?password=hunter2")
        app = create_app(settings, runtime)
        async with api_client(app) as client:
            rows = demo_rows(demo_dir, 4)
            assert (await client.post(PREDICT, json={"rows": rows})).status_code == 200

            async def readiness(status: int) -> bool:
                return (await client.get("/readyz")).status_code == status

            await wait_until_async(lambda: readiness(503), what="/readyz answering 503")
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            logging_check = ready.json()["checks"]["logging"]
            assert logging_check["ok"] is False and "locked" in logging_check["detail"]
            metrics = (await client.get("/metrics")).text
            assert "driftscope_log_healthy 0.0" in metrics
            assert "driftscope_log_rows_dropped_total 0.0" in metrics
            failing.clear()
            await wait_until_async(lambda: readiness(200), what="/readyz answering 200 again")
        assert count_rows(sqlite_url) == (4, 0)
    finally:
        runtime.close()


async def test_records_only_model_refuses_predict(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> None:
    config = records_only_config(tmp_path, sqlite_url, demo_dir)
    async with api_client(create_app(DeploymentSettings(config=config, scheduler=False))) as client:
        row = demo_rows(demo_dir, 1)[0]
        response = await client.post("/v1/models/outside/predict", json={"features": row})
        assert response.status_code == 409
        logged = await client.post(
            "/v1/models/outside/records", json={"rows": [{"features": row, "prediction": 1}]}
        )
        assert logged.status_code == 200
    assert count_rows(sqlite_url, "outside") == (1, 0)


async def test_records_refuse_booleans_and_strings_for_numeric_features(
    client: httpx.AsyncClient, demo_dir: Path
) -> None:
    row = demo_rows(demo_dir, 1)[0]
    bad = [
        {"features": {**row, "mean radius": True}, "prediction": 1},
        {"features": {**row, "mean area": "12"}, "prediction": 1},
    ]
    response = await client.post("/v1/models/cancer/records", json={"rows": bad})
    assert response.status_code == 422
    found = {(p["row"], p["field"]) for p in response.json()["detail"]}
    assert found == {(0, "mean radius"), (1, "mean area")}
    assert await _logged(client) == (0, 0)


@pytest.mark.parametrize("mode", ["durable", "async"])
async def test_a_row_the_database_refuses_is_dead_lettered_and_logging_goes_on(
    tmp_path: Path, sqlite_url: str, demo_dir: Path, mode: str
) -> None:
    """A row the edge lets through but the database refuses (here a trigger refuses it, as a
    constraint the API cannot know would): the others are stored, the row becomes a dead
    letter, /readyz warns, /metrics counts it, and a durable request gets a 422 naming it."""
    config = _config(tmp_path, sqlite_url, demo_dir, logging=mode)
    async with api_client(create_app(DeploymentSettings(config=config, scheduler=False))) as client:
        database = sqlite_url.removeprefix("sqlite:///")
        with sqlite3.connect(database) as conn:
            (table,) = conn.execute("SELECT table_name FROM models WHERE name='cancer'").fetchone()
            conn.execute(
                f"CREATE TRIGGER refuse_slow BEFORE INSERT ON {table} "
                "WHEN NEW.latency_ms > 1000000 BEGIN SELECT RAISE(ABORT, 'too slow to be true'); "
                "END"
            )
        rows = demo_rows(demo_dir, 3)
        body = {
            "rows": [
                {"features": rows[0], "prediction": 1, "id": "a"},
                {"features": rows[1], "prediction": 1, "id": "b", "latency_ms": 2e6},
                {"features": rows[2], "prediction": 0, "id": "c"},
            ]
        }
        response = await client.post("/v1/models/cancer/records", json=body)
        if mode == "durable":
            assert response.status_code == 422, response.text
            [problem] = response.json()["detail"]
            assert problem["loc"] == ["body", "rows", 1] and problem["type"] == "store_refused"
            assert "too slow to be true" in problem["msg"] and "dead letter" in problem["msg"]
        else:
            assert response.status_code == 200, response.text
        assert await _logged(client) == (2, 0)
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert any("1 prediction record(s)" in w for w in ready.json()["warnings"])
        metrics = (await client.get("/metrics")).text
        assert "driftscope_log_rows_dead_lettered_total 1.0" in metrics
        assert "driftscope_log_dead_letters 1.0" in metrics
        # logging goes on
        more = {"rows": [{"features": rows[0], "prediction": 1, "id": "d"}]}
        assert (await client.post("/v1/models/cancer/records", json=more)).status_code == 200
        assert await _logged(client) == (3, 0)
