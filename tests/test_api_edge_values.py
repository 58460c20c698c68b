"""Every value a store cannot hold is a 422 at the edge, naming its row and field.

Issue 10: a NUL character (PostgreSQL) or a lone surrogate (SQLite) in a logged row was
answered 200 and then stopped the log writer; an extreme timestamp, a surrogate label or a
huge silence gave a 500. Each hostile value here goes over HTTP to a real ``uvicorn``
server of the app on a real SQLite file and on the real PostgreSQL, and must be
refused with 422 and the FastAPI-style ``loc`` of the value; the database, read directly
with SQL (not through the store's code), must be unchanged; and a good request right after
must still be stored.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml
from conftest import _connect_admin, _psycopg_dsn, with_search_path

from driftscope.apps.api.main import create_app
from driftscope.core.config.environment import DeploymentSettings
from support.api_helpers import ServerProcess, api_client, demo_rows, make_demo_config
from support.factories import categorical_model

NUL = "a\x00b"
SURROGATE = "\ud800"
LOW_SURROGATE = "x\udfffy"
# the limits the API documents (driftscope.core.validation): written out here, not imported, so a
# change to them is a deliberate change to this test too
MAX_ID = 64
MAX_LABEL = 256


# -- the app on each backend, once per module ----------------------------------------------------
@dataclass
class Backend:
    """A running server on one database, and a direct SQL view of that database."""

    name: str
    url: str
    client: httpx.Client
    query: Callable[[str], list[tuple[Any, ...]]]

    def table(self, model: str) -> str:
        ((table,),) = self.query(f"SELECT table_name FROM models WHERE name = '{model}'")
        return str(table)

    def snapshot(self) -> dict[str, Any]:
        """Every row that a refused request could have touched, read with plain SQL."""
        out: dict[str, Any] = {}
        for model in ("cancer", "colours"):
            out[model] = sorted(
                self.query(f"SELECT id, ts, prediction, label FROM {self.table(model)}"),
                key=repr,
            )
        out["silences"] = sorted(self.query("SELECT * FROM silences"), key=repr)
        return out


def _sqlite_query(path: Path) -> Callable[[str], list[tuple[Any, ...]]]:
    def query(sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(path) as conn:
            return conn.execute(sql).fetchall()

    return query


def _postgres_query(url: str) -> Callable[[str], list[tuple[Any, ...]]]:
    def query(sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(_psycopg_dsn(url)) as conn:
            return conn.execute(sql).fetchall()  # type: ignore[arg-type]

    return query


def _config(folder: Path, store_url: str, demo_dir: Path) -> Path:
    config = make_demo_config(folder, store_url, model_folder=demo_dir, api={"logging": "sync"})
    model_path, reference = categorical_model(folder)
    document = yaml.safe_load(config.read_text())
    document["models"].append(
        {"name": "colours", "path": str(model_path), "reference": str(reference), "target": "label"}
    )
    config.write_text(yaml.safe_dump(document))
    return config


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, demo_dir: Path
) -> Iterator[Backend]:
    folder = tmp_path_factory.mktemp(f"edge-{request.param}")
    schema = None
    if request.param == "sqlite":
        db = folder / "driftscope.db"
        url = f"sqlite:///{db}"
        query = _sqlite_query(db)
    else:
        server = request.getfixturevalue("_postgres_server")
        schema = f"dstest_{uuid.uuid4().hex[:8]}"
        with _connect_admin(server) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        url = with_search_path(server, schema)
        query = _postgres_query(url)
    config = _config(folder, url, demo_dir)
    env = {"DRIFTSCOPE_CONFIG": str(config), "DRIFTSCOPE_SCHEDULER": "false"}
    server = ServerProcess(env, log_path=folder / "server.log").start()
    try:
        with httpx.Client(base_url=server.url, timeout=30.0) as client:
            yield Backend(request.param, url, client, query)
    finally:
        server.stop()
        if schema is not None:
            with _connect_admin(request.getfixturevalue("_postgres_server")) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# -- the hostile requests ------------------------------------------------------------------------
@dataclass(frozen=True)
class Hostile:
    """One request carrying a value no store can hold, and where the 422 must point."""

    method: str
    path: str
    loc: list[Any]
    json: Any = None
    content: bytes | None = None
    params: dict[str, str] | None = None


COLOUR = {"x": 0.5, "colour": "red"}
PREDICT = "/v1/models/colours/predict"
RECORDS = "/v1/models/colours/records"
FEEDBACK = "/v1/models/colours/feedback"


def _record(**change: Any) -> dict[str, Any]:
    return {"features": dict(COLOUR), "prediction": "1", **change}


def _records(**change: Any) -> dict[str, Any]:
    # the bad row is row 1, after a good one, so the loc must name the right row
    return {"rows": [_record(), _record(**change)]}


def _silence(**change: Any) -> dict[str, Any]:
    return {"monitor": "cancer-drift", "duration": "1h", "reason": "testing", **change}


HOSTILE: dict[str, Hostile] = {
    # predict: categorical values reach a TEXT column
    "predict-one-nul": Hostile(
        "POST", PREDICT, ["body", "features", "colour"], {"features": {"x": 1.0, "colour": NUL}}
    ),
    "predict-batch-nul": Hostile(
        "POST",
        PREDICT,
        ["body", "rows", 2, "colour"],
        {"rows": [COLOUR, COLOUR, {"x": 1.0, "colour": "\x00"}]},
    ),
    "predict-surrogate-escape": Hostile(
        "POST", PREDICT, ["body"], content=b'{"features": {"x": 1.0, "colour": "\\ud800"}}'
    ),
    # records: every text and time field of a row
    "records-prediction-nul": Hostile(
        "POST", RECORDS, ["body", "rows", 1, "prediction"], _records(prediction=NUL)
    ),
    "records-prediction-surrogate": Hostile(
        "POST", RECORDS, ["body", "rows", 1, "prediction"], _records(prediction=SURROGATE)
    ),
    "records-prediction-too-long": Hostile(
        "POST", RECORDS, ["body", "rows", 1, "prediction"], _records(prediction="p" * 257)
    ),
    "records-huge-integer-prediction": Hostile(
        "POST", RECORDS, ["body", "rows", 1, "prediction"], _records(prediction=10**300)
    ),
    "records-label-surrogate": Hostile(
        "POST", RECORDS, ["body", "rows", 1, "label"], _records(label=LOW_SURROGATE)
    ),
    "records-label-nul": Hostile(
        "POST", RECORDS, ["body", "rows", 1, "label"], _records(label=NUL)
    ),
    "records-label-too-long": Hostile(
        "POST", RECORDS, ["body", "rows", 1, "label"], _records(label="l" * (MAX_LABEL + 1))
    ),
    "records-id-nul": Hostile("POST", RECORDS, ["body", "rows", 1, "id"], _records(id=NUL)),
    "records-id-surrogate": Hostile(
        "POST", RECORDS, ["body", "rows", 1, "id"], _records(id=SURROGATE)
    ),
    "records-id-too-long": Hostile(
        "POST", RECORDS, ["body", "rows", 1, "id"], _records(id="i" * (MAX_ID + 1))
    ),
    "records-feature-nul": Hostile(
        "POST",
        RECORDS,
        ["body", "rows", 1, "features", "colour"],
        _records(features={"x": 1.0, "colour": NUL}),
    ),
    "records-feature-surrogate": Hostile(
        "POST",
        RECORDS,
        ["body", "rows", 1, "features", "colour"],
        _records(features={"x": 1.0, "colour": SURROGATE}),
    ),
    "records-unknown-surrogate-feature": Hostile(
        "POST",
        RECORDS,
        ["body", "rows", 1, "features", "\\ud800"],
        _records(features={"x": 1.0, "colour": "red", SURROGATE: 1.0}),
    ),
    "records-surrogate-class": Hostile(
        "POST",
        RECORDS,
        ["body", "rows", 1, "probabilities", "\\ud800"],
        _records(probabilities={SURROGATE: 0.5}),
    ),
    "records-surrogate-class-bad-probability": Hostile(
        "POST",
        RECORDS,
        ["body", "rows", 1, "probabilities", "\\ud800"],
        _records(probabilities={SURROGATE: "high"}),
    ),
    "records-timestamp-before-year-1": Hostile(
        "POST",
        RECORDS,
        ["body", "rows", 1, "timestamp"],
        _records(timestamp="0001-01-01T00:00:00+01:00"),
    ),
    "records-timestamp-after-9999": Hostile(
        "POST",
        RECORDS,
        ["body", "rows", 1, "timestamp"],
        _records(timestamp="9999-12-31T23:59:59-01:00"),
    ),
    # feedback: ids and labels
    "feedback-label-surrogate": Hostile(
        "POST",
        FEEDBACK,
        ["body", "labels", 0, "label"],
        {"labels": [{"id": "a", "label": SURROGATE}]},
    ),
    "feedback-label-nul": Hostile(
        "POST", FEEDBACK, ["body", "labels", 0, "label"], {"labels": [{"id": "a", "label": NUL}]}
    ),
    "feedback-label-too-long": Hostile(
        "POST",
        FEEDBACK,
        ["body", "labels", 1, "label"],
        {"labels": [{"id": "a", "label": "1"}, {"id": "b", "label": "l" * (MAX_LABEL + 1)}]},
    ),
    "feedback-id-nul": Hostile(
        "POST",
        FEEDBACK,
        ["body", "labels", 1, "id"],
        {"labels": [{"id": "a", "label": 1}, {"id": NUL, "label": 1}]},
    ),
    "feedback-id-surrogate": Hostile(
        "POST", FEEDBACK, ["body", "labels", 0, "id"], {"labels": [{"id": SURROGATE, "label": 1}]}
    ),
    # silences: every text field and the duration
    "silence-reason-nul": Hostile("POST", "/v1/silences", ["body", "reason"], _silence(reason=NUL)),
    "silence-reason-surrogate": Hostile(
        "POST", "/v1/silences", ["body", "reason"], _silence(reason=SURROGATE)
    ),
    "silence-feature-surrogate": Hostile(
        "POST", "/v1/silences", ["body", "feature"], _silence(feature=LOW_SURROGATE)
    ),
    "silence-detector-nul": Hostile(
        "POST", "/v1/silences", ["body", "detector"], _silence(detector=NUL)
    ),
    "silence-created-by-surrogate": Hostile(
        "POST", "/v1/silences", ["body", "created_by"], _silence(created_by=SURROGATE)
    ),
    "silence-monitor-nul": Hostile(
        "POST", "/v1/silences", ["body", "monitor"], _silence(monitor="cancer-drift\x00")
    ),
    "silence-duration-10**12s": Hostile(
        "POST", "/v1/silences", ["body", "duration"], _silence(duration=f"{10**12}s")
    ),
    "silence-duration-overflows-timedelta": Hostile(
        "POST", "/v1/silences", ["body", "duration"], _silence(duration="99999999999999999999w")
    ),
    "silence-duration-over-ten-years": Hostile(
        "POST", "/v1/silences", ["body", "duration"], _silence(duration="3651d")
    ),
    # path parameters
    "path-silence-id-nul": Hostile("DELETE", "/v1/silences/a%00b", ["path", "silence_id"]),
    "path-report-id-nul": Hostile("GET", "/v1/reports/a%00b", ["path", "report_id"]),
    "path-model-nul": Hostile(
        "POST", "/v1/models/col%00ours/records", ["path", "model"], _records()
    ),
    "path-monitor-nul": Hostile("GET", "/v1/monitors/cancer%00drift/reports", ["path", "name"]),
    "path-monitor-run-nul": Hostile("POST", "/v1/monitors/cancer%00drift/run", ["path", "name"]),
    # query parameters
    "query-events-monitor-nul": Hostile(
        "GET", "/v1/alerts/events", ["query", "monitor"], params={"monitor": NUL}
    ),
    "query-events-since-before-year-1": Hostile(
        "GET",
        "/v1/alerts/events",
        ["query", "since"],
        params={"since": "0001-01-01T00:00:00+01:00"},
    ),
    "query-reports-before-after-9999": Hostile(
        "GET",
        "/v1/monitors/cancer-drift/reports",
        ["query", "before"],
        params={"before": "9999-12-31T23:59:59-01:00"},
    ),
    "query-reports-since-before-year-1": Hostile(
        "GET",
        "/v1/monitors/cancer-drift/reports",
        ["query", "since"],
        params={"since": "0001-01-01T00:30:00+01:00"},
    ),
    "query-stats-last-10**12s": Hostile(
        "GET", "/v1/models/colours/stats", ["query", "last"], params={"last": f"{10**12}s"}
    ),
    "query-stats-last-overflows": Hostile(
        "GET", "/v1/models/colours/stats", ["query", "last"], params={"last": "9" * 30 + "w"}
    ),
}


def _send(backend: Backend, case: Hostile) -> httpx.Response:
    # json.dumps escapes lone surrogates (\\ud800); httpx's own encoder would refuse them
    content = case.content if case.json is None else json.dumps(case.json).encode()
    headers = {"Content-Type": "application/json"} if content is not None else {}
    return backend.client.request(
        case.method, case.path, content=content, params=case.params, headers=headers
    )


def _good_request_still_works(backend: Backend, case: Hostile) -> None:
    """After the refusal the same kind of request with good values is served and stored."""
    client = backend.client
    before = backend.snapshot()
    if case.path.startswith(PREDICT):
        response = client.post(PREDICT, json={"rows": [COLOUR, {"x": -1.0, "colour": "blue"}]})
        assert response.status_code == 200, response.text
        assert len(backend.snapshot()["colours"]) == len(before["colours"]) + 2
    elif case.path.startswith(RECORDS) or "/col%00ours/" in case.path:
        rid = uuid.uuid4().hex
        response = client.post(RECORDS, json={"rows": [_record(id=rid, label="0")]})
        assert response.status_code == 200, response.text
        stored = {row[0]: row for row in backend.snapshot()["colours"]}
        assert stored[rid][2:] == ("1", "0")
    elif case.path.startswith(FEEDBACK):
        (pid,) = [
            p["id"] for p in client.post(PREDICT, json={"features": COLOUR}).json()["predictions"]
        ]
        response = client.post(FEEDBACK, json={"labels": [{"id": pid, "label": 0}]})
        assert response.json() == {"updated": 1, "unknown_ids": []}
        stored = {row[0]: row for row in backend.snapshot()["colours"]}
        assert stored[pid][3] == "0"
    elif case.path == "/v1/silences" or case.method == "DELETE":
        created = client.post("/v1/silences", json=_silence(reason=f"good {uuid.uuid4().hex}"))
        assert created.status_code == 201, created.text
        assert len(backend.snapshot()["silences"]) == len(before["silences"]) + 1
        assert client.delete(f"/v1/silences/{created.json()['id']}").status_code == 204
    else:  # reads: the same endpoint answers with good parameters
        path = case.path.replace("%00", "-").replace("cancer-drift/run", "cancer-drift/reports")
        path = path.replace("/v1/reports/a-b", "/v1/monitors/cancer-drift/reports")
        response = client.get(path)
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_value_no_store_can_hold_is_422_naming_it(backend: Backend, name: str) -> None:
    case = HOSTILE[name]
    before = backend.snapshot()
    response = _send(backend, case)
    assert response.status_code == 422, f"{response.status_code}: {response.text[:500]}"
    locs = [problem["loc"] for problem in response.json()["detail"]]
    assert case.loc in locs, locs
    assert backend.snapshot() == before
    _good_request_still_works(backend, case)


@pytest.mark.parametrize(
    ("timestamp", "stored_micros"),
    [
        # the documented window's ends are accepted and kept exactly (microseconds since
        # 1970-01-01 UTC, computed by hand: 719162 days from 0001-01-01 to 1970-01-01)
        ("0001-01-01T00:00:00Z", -719162 * 86400 * 10**6),
        ("0001-01-01T01:00:00+01:00", -719162 * 86400 * 10**6),
        ("9999-12-31T23:59:59.999999Z", (2932897 * 86400 - 1) * 10**6 + 999999),
    ],
)
def test_the_ends_of_the_time_window_are_stored(
    backend: Backend, timestamp: str, stored_micros: int
) -> None:
    rid = uuid.uuid4().hex
    response = backend.client.post(RECORDS, json={"rows": [_record(id=rid, timestamp=timestamp)]})
    assert response.status_code == 200, response.text
    stored = {row[0]: row for row in backend.snapshot()["colours"]}
    assert stored[rid][1] == stored_micros


# no label here: a classifier's label must be one of its classes (test_feedback_labels.py);
# a label over the limit is still refused as such (records-label-too-long)
@pytest.mark.parametrize(
    ("field", "value"), [("id", "i" * MAX_ID), ("prediction", "é" * MAX_LABEL)]
)
def test_text_at_the_limit_is_stored(backend: Backend, field: str, value: str) -> None:
    rid = value if field == "id" else uuid.uuid4().hex
    row = {**_record(id=rid), field: value}
    response = backend.client.post(RECORDS, json={"rows": [row]})
    assert response.status_code == 200, response.text
    stored = {r[0]: r for r in backend.snapshot()["colours"]}
    assert stored[rid][{"id": 0, "prediction": 2, "label": 3}[field]] == value


def test_a_silence_of_ten_years_is_kept(backend: Backend) -> None:
    created = backend.client.post("/v1/silences", json=_silence(duration="3650d"))
    assert created.status_code == 201, created.text
    silence = created.json()
    assert backend.client.delete(f"/v1/silences/{silence['id']}").status_code == 204


# -- the scenario, with the default (async) log writer -----------------------------------
@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.parametrize(
    ("url_fixture", "bad"),
    [
        ("sqlite_url", SURROGATE),
        pytest.param("postgres_url", NUL, marks=pytest.mark.postgres),
    ],
    ids=["sqlite-surrogate", "postgres-nul"],
)
async def test_one_bad_row_is_refused_and_logging_goes_on(
    request: pytest.FixtureRequest, tmp_path: Path, demo_dir: Path, url_fixture: str, bad: str
) -> None:
    url = request.getfixturevalue(url_fixture)
    config = make_demo_config(tmp_path, url, model_folder=demo_dir)
    rows = [{"features": f, "prediction": 1} for f in demo_rows(demo_dir, 1000)]
    hostile = [*rows[:500], {**rows[500], "prediction": bad}, *rows[501:]]
    async with api_client(create_app(DeploymentSettings(config=config, scheduler=False))) as client:
        refused = await client.post(
            "/v1/models/cancer/records",
            content=json.dumps({"rows": hostile}).encode(),
            headers={"Content-Type": "application/json"},
        )
        assert refused.status_code == 422, refused.text
        assert [p["loc"] for p in refused.json()["detail"]] == [["body", "rows", 500, "prediction"]]
        good = rows[:500] + rows[501:]
        accepted = await client.post("/v1/models/cancer/records", json={"rows": good})
        assert accepted.status_code == 200, accepted.text
        # stats flushes the log queue first: every acknowledged row is in the store
        assert (await client.get("/v1/models/cancer/stats")).json()["count"] == 999
        assert (await client.get("/readyz")).status_code == 200


@pytest.mark.anyio
async def test_probabilities_for_a_model_without_known_classes_are_refused(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> None:
    # a records-only classifier whose reference has no predictions yet: its store table
    # has no probability columns, so no class can be stored
    reference = tmp_path / "unlabelled.csv"
    reference.write_text("x,pred\n0.1,\n0.2,\n0.3,\n", encoding="utf-8")
    config = make_demo_config(tmp_path, sqlite_url, model_folder=demo_dir)
    document = yaml.safe_load(config.read_text())
    document["models"].append(
        {
            "name": "bare",
            "reference": str(reference),
            "prediction_column": "pred",
            "task": "classification",
        }
    )
    config.write_text(yaml.safe_dump(document))
    url = "/v1/models/bare/records"
    row = {"features": {"x": 1.0}, "prediction": "a"}
    async with api_client(create_app(DeploymentSettings(config=config, scheduler=False))) as client:
        refused = await client.post(url, json={"rows": [{**row, "probabilities": {"a": 1.0}}]})
        assert refused.status_code == 422, refused.text
        assert [p["loc"] for p in refused.json()["detail"]] == [
            ["body", "rows", 0, "probabilities", "a"]
        ]
        assert (await client.post(url, json={"rows": [row]})).status_code == 200
        assert (await client.get("/v1/models/bare/stats")).json()["count"] == 1
