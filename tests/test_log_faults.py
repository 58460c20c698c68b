"""The prediction log under faults: nothing acknowledged is lost, and one bad row never stops it.

* Poison rows (a NUL in a PostgreSQL text column, lone surrogates anywhere) handed straight to
  the writer with a real store: the good rows are written, each bad one is kept as a dead
  letter with its reason, and logging goes on. ``driftscope deadletter`` lists, replays and
  drops them.
* A PostgreSQL backend terminated (``pg_terminate_backend``) while it is inside a write: the
  write is retried and a ``durable`` request is answered once it has committed.
* A SQLite database locked by another process for 10 s: requests queue (async) or wait for
  their commit (durable), and everything is written once the lock goes.
* ``kill -9`` of a ``durable`` server under load: every prediction answered 2xx is in the
  store after a restart.

Waiting is done on conditions polled with generous deadlines, never on sleeps.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd
import psycopg
import pytest
from pydantic import SecretStr
from test_scale_out import (
    _free_port,
    _libpq,
    _serve,
    _wait_ready,
    _with_app_name,
    terminate,
)
from typer.testing import CliRunner

from driftscope import FeatureSpec, ModelSchema, PredictionRecord, StoreSettings
from driftscope.apps.cli.main import app as cli_app
from driftscope.core.serving.log_writer import PredictionLogWriter
from driftscope.plugins.stores.sql import SQLStore
from support.factories import demo_model, write_config

SCHEMA = ModelSchema(
    name="m",
    features=(FeatureSpec("x"), FeatureSpec("colour", "categorical")),
    task="classification",
    classes=("no", "yes"),
)
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
runner = CliRunner()


def _record(i: int, **changes: object) -> PredictionRecord:
    record = PredictionRecord(
        id=f"r{i:05d}",
        model="m",
        timestamp=T0 + timedelta(milliseconds=i),
        features={"x": float(i), "colour": "red"},
        prediction="yes",
        probabilities={"no": 0.25, "yes": 0.75},
        latency_ms=1.0,
    )
    for name, value in changes.items():
        setattr(record, name, value)
    return record


def _stored_ids(store: SQLStore) -> list[str]:
    with store._tx("test: reading ids") as conn:
        table = conn.exec_driver_sql("SELECT table_name FROM models WHERE name = 'm'").scalar()
        return sorted(r[0] for r in conn.exec_driver_sql(f"SELECT id FROM {table}"))


def _open(url: str) -> SQLStore:
    store = SQLStore(StoreSettings(url=SecretStr(url)))
    store.open()
    store.register_model(SCHEMA)
    return store


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


# -- poison rows -----------------------------------------------------------------------------------
def _poison(store: SQLStore) -> dict[int, dict[str, object]]:
    """Row number -> the change that makes the row one this database cannot hold."""
    rows: dict[int, dict[str, object]] = {
        7: {"prediction": "\ud800"},
        500: {"features": {"x": 1.0, "colour": "re\udfffd"}},
        998: {"label": "\ud83d"},
    }
    if store.dialect == "postgresql":
        rows[3] = {"prediction": "y\x00es"}
        rows[640] = {"features": {"x": 2.0, "colour": "\x00"}}
        rows[641] = {"id": "r\x00641"}
        # past the B-tree's row limit (about 2.7 kB) even after compression
        rows[900] = {"id": "".join(uuid.uuid4().hex for _ in range(250))}
    return rows


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["async", "durable"])
async def test_poison_rows_are_dead_lettered_and_logging_goes_on(
    store: SQLStore, mode: str
) -> None:
    store.register_model(SCHEMA)
    poison = _poison(store)
    records = [_record(i, **poison.get(i, {})) for i in range(999)]
    logger = PredictionLogWriter(store, mode=mode, flush_rows=400, flush_interval=0.01)  # type: ignore[arg-type]
    await logger.start()
    try:
        if mode == "durable":
            results = await asyncio.gather(
                *(logger.submit(records[i : i + 9]) for i in range(0, 999, 9)),
                return_exceptions=True,
            )
            failed = {i * 9 for i, r in enumerate(results) if r is not None}
            assert failed == {(n // 9) * 9 for n in poison}, results
        else:
            await logger.submit(records)
            await logger.flush(timeout=30)
        assert logger.healthy and logger.dropped == 0
        assert logger.dead_lettered == len(poison)
        good = sorted(r.id for i, r in enumerate(records) if i not in poison)
        assert _stored_ids(store) == good
        letters = store.list_dead_letters(limit=100)
        kept = {letter.record().id: letter.record() for letter in letters}
        assert kept.keys() == {records[i].id for i in poison}
        for i in poison:
            original = records[i]
            assert kept[original.id] == original  # every value exactly as it came
        assert all(letter.reason.isascii() and letter.reason for letter in letters)
        # logging goes on after the poison
        await logger.submit([_record(5000), _record(5001)])
        await logger.flush(timeout=30)
        assert _stored_ids(store)[-2:] == ["r05000", "r05001"]
    finally:
        await logger.close()


def test_deadletter_cli_lists_replays_and_drops(tmp_path: Path, demo_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dl.db'}"
    config = write_config(tmp_path, url, model_folder=demo_dir)
    from driftscope.core.runtime import Runtime

    runtime = Runtime.from_path(config)
    try:
        names = runtime.models["cancer"].schema.feature_names
        good = PredictionRecord(
            id="fixable",
            model="cancer",
            timestamp=T0,
            features=dict.fromkeys(names, 1.0),
            prediction="1",
        )
        bad = PredictionRecord(
            id="bad\ud800", model="cancer", timestamp=T0, features={}, prediction="1"
        )
        from driftscope.core.contracts.store import DeadLetter

        runtime.store.add_dead_letters(
            [DeadLetter.of(good, "was refused", T0), DeadLetter.of(bad, "surrogate", T0)]
        )
    finally:
        runtime.close()

    listed = runner.invoke(cli_app, ["deadletter", "list", "-c", str(config)])
    assert listed.exit_code == 0, listed.output
    assert "fixable" in listed.output and "bad\\ud800" in listed.output
    assert "2 shown of 2" in listed.output

    both = runner.invoke(cli_app, ["deadletter", "replay", "1", "-c", str(config), "--all"])
    assert both.exit_code == 2 and "not both" in both.output

    replayed = runner.invoke(cli_app, ["deadletter", "replay", "--all", "-c", str(config)])
    assert replayed.exit_code == 1, replayed.output
    assert "replayed 1 record(s)" in replayed.output
    assert "dead letter 2 refused again" in replayed.output

    check = SQLStore(StoreSettings(url=SecretStr(url)))
    check.open()
    try:
        assert check.count_predictions("cancer", T0, T0 + timedelta(1)) == (1, 0)
        [left] = check.list_dead_letters()
        assert (left.id, left.attempts) == (2, 2) and "surrogates not allowed" in left.reason
    finally:
        check.close()

    unconfirmed = runner.invoke(cli_app, ["deadletter", "drop", "--all", "-c", str(config)])
    assert unconfirmed.exit_code == 2 and "--yes" in unconfirmed.output
    dropped = runner.invoke(cli_app, ["deadletter", "drop", "2", "7", "-c", str(config)])
    assert dropped.exit_code == 0, dropped.output
    assert "dropped 1 dead letter(s)" in dropped.output and "no dead letter with id 7" in (
        dropped.output
    )
    empty = runner.invoke(cli_app, ["deadletter", "list", "-c", str(config)])
    assert "no dead letters" in empty.output


# -- a PostgreSQL backend terminated mid-write -----------------------------------------------------
@pytest.mark.postgres
@pytest.mark.anyio
async def test_a_postgres_backend_terminated_mid_write_is_retried(postgres_url: str) -> None:
    name = f"dsfault-{uuid.uuid4().hex[:8]}"
    store = _open(_with_app_name(postgres_url, name))
    logger = PredictionLogWriter(store, mode="durable", backoff_initial=0.01, backoff_max=0.1)
    await logger.start()
    table = _stored_table(store)
    locker = psycopg.connect(_libpq(postgres_url))
    try:
        # hold the table so the writer's COPY waits inside its transaction, then kill it
        locker.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
        request = asyncio.create_task(logger.submit([_record(i) for i in range(50)]))
        await asyncio.to_thread(
            _wait_for, lambda: _waiting_on_lock(postgres_url, name), "the write to wait"
        )
        assert await asyncio.to_thread(terminate, postgres_url, name) >= 1
        await asyncio.to_thread(_wait_for, lambda: logger.write_errors >= 1, "the failed write")
        assert not request.done() and not logger.healthy
        # the client's "connection is lost", or the server's own word when it was a COPY
        assert any(
            words in (logger.last_error or "")
            for words in ("connection is lost", "terminating connection")
        )
        locker.commit()
        await asyncio.wait_for(request, 30)
        assert logger.healthy and logger.dead_lettered == 0
        assert _stored_ids(store) == [f"r{i:05d}" for i in range(50)]
    finally:
        locker.close()
        await logger.close()
        store.close()


def _stored_table(store: SQLStore) -> str:
    with store._tx("test") as conn:
        return str(conn.exec_driver_sql("SELECT table_name FROM models WHERE name = 'm'").scalar())


def _waiting_on_lock(url: str, application_name: str) -> bool:
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
            "AND wait_event_type = 'Lock' AND (query ILIKE 'INSERT%%' OR query ILIKE 'COPY%%')",
            (application_name,),
        ).fetchone()
    return bool(row and row[0])


# -- SQLite locked by another process --------------------------------------------------------------
LOCK_HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
print("released", flush=True)
"""


@pytest.mark.slow
@pytest.mark.anyio
async def test_sqlite_locked_by_another_process_for_10_seconds(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    store = _open(f"sqlite:///{path}")
    queued = PredictionLogWriter(store, flush_rows=100, flush_interval=0.01)
    durable = PredictionLogWriter(store, mode="durable")
    await queued.start()
    await durable.start()
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(path), "10"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        locked_at = time.monotonic()
        waiting = asyncio.create_task(durable.submit([_record(i) for i in range(1000, 1010)]))
        for start in range(0, 1000, 50):  # async requests are still accepted at once
            await queued.submit([_record(i) for i in range(start, start + 50)])
        assert queued.queued == 1000 and queued.rejected == 0
        await asyncio.to_thread(_wait_for, lambda: holder.poll() is not None, "the lock", 60)
        assert not waiting.done() or time.monotonic() - locked_at >= 10
        await asyncio.wait_for(waiting, 30)
        await queued.flush(timeout=30)
        assert holder.stdout.readline().strip() == "released"
        assert queued.dropped == durable.dropped == 0
        assert queued.dead_lettered == durable.dead_lettered == 0
        assert _stored_ids(store) == [f"r{i:05d}" for i in range(1010)]
    finally:
        holder.kill()
        holder.wait()
        await queued.close()
        await durable.close()
        store.close()


# -- kill -9 under load ----------------------------------------------------------------------------
@pytest.mark.slow
def test_sigkill_under_load_loses_nothing_answered_in_durable_mode(
    tmp_path: Path, demo_dir: Path
) -> None:
    db = tmp_path / "killed.db"
    config = write_config(
        tmp_path,
        f"sqlite:///{db}",
        model_folder=demo_dir,
        extra={"api": {"logging": "durable"}},
    )
    port = _free_port()
    log = tmp_path / "serve.log"
    server = _serve(config, port, log)
    answered: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    demo = demo_model(demo_dir)
    reference = pd.read_csv(demo.reference_path)
    features = [c for c in reference.columns if c != "label"]
    rows = reference[features].head(20).to_dict("records")

    def client(worker: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    if i % 4 == 0:
                        body = {"rows": rows}
                    else:
                        body = {"features": rows[(worker + i) % len(rows)]}
                    response = http.post("/v1/models/cancer/predict", json=body)
                except httpx.HTTPError:
                    continue  # the server is gone: this request was never answered
                if response.status_code == 200:
                    ids = [p["id"] for p in response.json()["predictions"]]
                    with lock:
                        answered.extend(ids)

    try:
        _wait_ready(port, server, log)
        threads = [threading.Thread(target=client, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        _wait_for(lambda: len(answered) >= 3000, "3,000 answered rows", 120)
        server.kill()  # SIGKILL, mid-load
        server.wait(30)
        stop.set()
        for thread in threads:
            thread.join(30)
        with lock:
            acknowledged = set(answered)
        # restart on the same database: it opens (and recovers) cleanly
        server = _serve(config, port, log)
        _wait_ready(port, server, log)
        server.terminate()
        server.wait(30)
        with sqlite3.connect(db) as conn:
            table = conn.execute("SELECT table_name FROM models WHERE name='cancer'").fetchone()
            stored = {r[0] for r in conn.execute(f"SELECT id FROM {table[0]}")}
        missing = acknowledged - stored
        assert not missing, f"{len(missing)} of {len(acknowledged)} answered rows were lost"
    finally:
        stop.set()
        if server.poll() is None:
            server.kill()
            server.wait()
