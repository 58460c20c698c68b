"""Labels are checked (issue 13): a classifier's label must be one of its classes, and a
prediction is labelled once unless the request says ``overwrite: true``.

The store decides "already labelled" atomically, on SQLite and on PostgreSQL: two
feedbacks for one prediction never both succeed, even when they overlap in the database.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from conftest import _psycopg_dsn
from pydantic import SecretStr

from driftscope import FeatureSpec, ModelSchema, PredictionRecord, StoreSettings
from driftscope.apps.api.main import create_app
from driftscope.core.config.environment import DeploymentSettings
from driftscope.plugins.stores.sql import SQLStore
from support.api_helpers import api_client, demo_rows, make_demo_config, records_only_config

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CLASSES = ("setosa", "versicolor", "virginica")


def _schema(name: str) -> ModelSchema:
    return ModelSchema(name, (FeatureSpec("x"),), "classification", CLASSES)


def _open(url: str) -> SQLStore:
    store = SQLStore(StoreSettings(url=SecretStr(url)))
    store.open()
    return store


def _url(store: SQLStore) -> str:
    return store.settings.url.get_secret_value()


def _labels(store: SQLStore, model: str) -> dict[str, Any]:
    """Each prediction's label by id (prediction ``p<i>`` has ``x = i``)."""
    window = store.read_window(model, T0, T0 + timedelta(hours=1))
    ids = [f"p{int(x)}" for x in window.columns["x"]]
    return dict(zip(ids, window.labels.tolist(), strict=True))


@pytest.fixture
def iris(store: SQLStore) -> str:
    """A fresh classifier in the store with unlabelled predictions p0..p9."""
    name = f"iris_{uuid.uuid4().hex[:8]}"
    store.register_model(_schema(name))
    store.write_predictions(
        [
            PredictionRecord(f"p{i}", name, T0 + timedelta(seconds=i), {"x": float(i)}, "setosa")
            for i in range(10)
        ]
    )
    return name


# -- the store -----------------------------------------------------------------------------------
def test_a_labelled_prediction_keeps_its_label_and_nothing_of_the_call_is_written(
    store: SQLStore, iris: str
) -> None:
    first = store.attach_labels(iris, [("p0", "setosa"), ("p1", "virginica")])
    assert (first.updated, first.unknown_ids, first.already_labelled) == (2, [], {})

    second = store.attach_labels(iris, [("p2", "setosa"), ("p1", "setosa"), ("zz", "setosa")])
    assert second.updated == 0
    assert second.already_labelled == {"p1": "virginica"}
    assert second.unknown_ids == ["zz"]
    labels = _labels(store, iris)
    assert labels["p1"] == "virginica" and labels["p2"] is None  # p2 was rolled back too

    replaced = store.attach_labels(iris, [("p2", "setosa"), ("p1", "setosa")], overwrite=True)
    assert (replaced.updated, replaced.already_labelled) == (2, {})
    labels = _labels(store, iris)
    assert labels["p1"] == "setosa" and labels["p2"] == "setosa"


def test_concurrent_labels_for_one_prediction_never_both_succeed(
    store: SQLStore, iris: str
) -> None:
    """Three stores (three processes' connections) label each prediction at once."""
    stores = [_open(_url(store)) for _ in CLASSES]
    try:
        for i in range(10):
            pid = f"p{i}"
            outcomes = _label_at_once(stores, iris, pid)
            winners = [value for value, update in outcomes.items() if update.updated == 1]
            assert len(outcomes) == 3 and len(winners) == 1, outcomes
            (winner,) = winners
            for value, update in outcomes.items():
                if value != winner:
                    assert update.updated == 0 and update.already_labelled == {pid: winner}
            assert _labels(store, iris)[pid] == winner
    finally:
        for own in stores:
            own.close()


def _label_at_once(stores: list[SQLStore], model: str, pid: str) -> dict[str, Any]:
    """Each store labels ``pid`` with its own class, all released at once by a barrier."""
    barrier = threading.Barrier(len(stores))
    outcomes: dict[str, Any] = {}

    def label(own: SQLStore, value: str) -> None:
        barrier.wait(timeout=60)
        outcomes[value] = own.attach_labels(model, [(pid, value)])

    threads = [
        threading.Thread(target=label, args=(s, c)) for s, c in zip(stores, CLASSES, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes


@pytest.mark.postgres
def test_a_label_committed_while_another_waits_for_the_row_wins_on_postgres(
    postgres_url: str,
) -> None:
    """Deterministic overlap: a transaction labels p0 and holds the row; attach_labels
    starts and waits for that row lock; then the first commits. The waiting call must see
    the committed label and refuse, not write over it (as a read-then-write would)."""
    store = _open(postgres_url)
    try:
        store.register_model(_schema("iris"))
        store.write_predictions([PredictionRecord("p0", "iris", T0, {"x": 0.0}, "setosa")])
        with psycopg.connect(_psycopg_dsn(postgres_url)) as holder:
            ((table,),) = holder.execute("SELECT table_name FROM models WHERE name = 'iris'")
            holder.execute(f"UPDATE {table} SET label = 'virginica' WHERE id = 'p0'")
            holder_pid = holder.info.backend_pid
            result: dict[str, Any] = {}
            waiting = threading.Thread(
                target=lambda: result.update(update=store.attach_labels("iris", [("p0", "setosa")]))
            )
            waiting.start()
            with psycopg.connect(_psycopg_dsn(postgres_url), autocommit=True) as observer:
                deadline = time.monotonic() + 60
                while True:
                    ((blocked,),) = observer.execute(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE %s = ANY(pg_blocking_pids(pid))",
                        (holder_pid,),
                    ).fetchall()
                    if blocked:
                        break
                    assert time.monotonic() < deadline, "attach_labels never waited for the row"
                    assert waiting.is_alive(), f"attach_labels did not wait: {result}"
            holder.commit()
        waiting.join(timeout=60)
        update = result["update"]
        assert update.updated == 0 and update.already_labelled == {"p0": "virginica"}
        assert _labels(store, "iris")["p0"] == "virginica"
    finally:
        store.close()


# -- the API ---------------------------------------------------------------------------------------
FEEDBACK = "/v1/models/cancer/feedback"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.getfixturevalue("postgres_url" if request.param == "postgres" else "sqlite_url")


@pytest.fixture
async def client(
    tmp_path: Path, store_url: str, demo_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    config = records_only_config(tmp_path, store_url, demo_dir)
    async with api_client(create_app(DeploymentSettings(config=config, scheduler=False))) as c:
        yield c


async def _predict(client: httpx.AsyncClient, demo_dir: Path, count: int) -> list[str]:
    response = await client.post(
        "/v1/models/cancer/predict", json={"rows": demo_rows(demo_dir, count)}
    )
    assert response.status_code == 200, response.text
    return [p["id"] for p in response.json()["predictions"]]


async def _labelled(client: httpx.AsyncClient) -> int:
    return int((await client.get("/v1/models/cancer/stats")).json()["labelled"])


@pytest.mark.anyio
async def test_a_label_that_is_not_a_class_is_a_422_naming_it_and_the_classes(
    client: httpx.AsyncClient, demo_dir: Path
) -> None:
    ids = await _predict(client, demo_dir, 2)
    response = await client.post(
        FEEDBACK, json={"labels": [{"id": ids[0], "label": 1}, {"id": ids[1], "label": 2}]}
    )
    assert response.status_code == 422, response.text
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", "labels", 1, "label"]
    assert problem["type"] == "unknown_class"
    assert problem["msg"] == "'2' is not one of the model's classes: '0', '1'"
    assert await _labelled(client) == 0  # the good label of the request was not kept either
    records = await client.post(
        "/v1/models/outside/records",
        json={"rows": [{"features": demo_rows(demo_dir, 1)[0], "prediction": 1, "label": "yes"}]},
    )
    assert records.status_code == 422
    (problem,) = records.json()["detail"]
    assert problem["loc"] == ["body", "rows", 0, "label"]
    assert problem["msg"] == "'yes' is not one of the model's classes: '0', '1'"


@pytest.mark.anyio
async def test_a_second_label_is_a_409_unless_overwrite_is_true(
    client: httpx.AsyncClient, demo_dir: Path
) -> None:
    ids = await _predict(client, demo_dir, 3)
    first = await client.post(FEEDBACK, json={"labels": [{"id": ids[0], "label": 1}]})
    assert first.json() == {"updated": 1, "unknown_ids": []}

    again = await client.post(
        FEEDBACK,
        json={"labels": [{"id": ids[1], "label": 0}, {"id": ids[0], "label": 0}]},
    )
    assert again.status_code == 409, again.text
    body = again.json()
    assert body["already_labelled"] == [{"id": ids[0], "label": "1"}]
    assert ids[0] in body["detail"] and "overwrite" in body["detail"]
    assert await _labelled(client) == 1  # ids[1] was not labelled by the refused request

    same = await client.post(FEEDBACK, json={"labels": [{"id": ids[0], "label": 1}]})
    assert same.status_code == 409  # a second label, even an equal one, is a second label

    replaced = await client.post(
        FEEDBACK,
        json={
            "labels": [{"id": ids[1], "label": 0}, {"id": ids[0], "label": 0}],
            "overwrite": True,
        },
    )
    assert replaced.json() == {"updated": 2, "unknown_ids": []}
    assert await _labelled(client) == 2


@pytest.mark.anyio
async def test_one_id_twice_in_a_request_needs_overwrite(
    client: httpx.AsyncClient, demo_dir: Path
) -> None:
    (pid,) = await _predict(client, demo_dir, 1)
    twice = {"labels": [{"id": pid, "label": 1}, {"id": pid, "label": 0}]}
    refused = await client.post(FEEDBACK, json=twice)
    assert refused.status_code == 422
    (problem,) = refused.json()["detail"]
    assert problem["loc"] == ["body", "labels", 1, "id"] and problem["type"] == "duplicate_id"
    assert "labels[0]" in problem["msg"]
    kept_last = await client.post(FEEDBACK, json={**twice, "overwrite": True})
    assert kept_last.json() == {"updated": 1, "unknown_ids": []}


@pytest.mark.anyio
async def test_the_openapi_schema_documents_overwrite_and_the_409(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> None:
    config = make_demo_config(tmp_path, sqlite_url, model_folder=demo_dir)
    async with api_client(create_app(DeploymentSettings(config=config, scheduler=False))) as c:
        schema = (await c.get("/openapi.json")).json()
    operation = schema["paths"]["/v1/models/{model}/feedback"]["post"]
    assert "409" in operation["responses"]
    body = schema["components"]["schemas"]["FeedbackRequest"]["properties"]
    assert body["overwrite"]["default"] is False
    conflict = operation["responses"]["409"]["content"]["application/json"]["schema"]["$ref"]
    assert conflict.endswith("/AlreadyLabelledResponse")
