"""Scale-out on PostgreSQL: two API processes on one database, and dropped connections.

* Two ``driftscope serve`` processes (scheduler on, the monitor every 2 s) share one
  PostgreSQL schema. Traffic goes to both; every answered prediction is stored exactly once
  and every monitor tick gives exactly one report, across the processes. Half-way, the
  servers' database connections are killed with ``pg_terminate_backend``: logging and the
  monitor go on.
* In one process, the store's backend connections are terminated between two monitor runs:
  the pool notices (``pool_pre_ping``) and the next run succeeds.

The store's connections are found by their ``application_name``, set through the URL
(``?application_name=...``), which libpq passes to the server.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pandas as pd
import psycopg
import pytest
from pydantic import SecretStr

from driftscope.core.config.yaml_file import load_config
from driftscope.core.contracts.store import StoreSettings
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.core.runtime import Runtime
from driftscope.plugins.stores.sql import SQLStore
from support.factories import demo_model, log_traffic, write_config
from support.waiting import wait_until

pytestmark = [pytest.mark.postgres]

EVERY = 2.0  # seconds between monitor ticks
ROOT = Path(__file__).resolve().parent.parent


def _with_app_name(url: str, name: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "application_name"]
    query.append(("application_name", name))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def _libpq(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, parts.fragment))


def _admin(url: str) -> psycopg.Connection:
    parts = urlsplit(url)
    return psycopg.connect(
        urlunsplit(("postgresql", parts.netloc, parts.path, "", "")), autocommit=True
    )


def terminate(url: str, application_name: str) -> int:
    """Kill every backend of ``application_name`` in the URL's database; return how many."""
    with _admin(url) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND application_name = %s",
            (application_name,),
        ).fetchall()
    return len(rows)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(config: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    # only the config decides: no DRIFTSCOPE_* setting left behind by another test
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTSCOPE_")}
    env["DRIFTSCOPE_LOG_LEVEL"] = "info"
    cmd = [
        sys.executable,
        "-P",
        "-m",
        "driftscope",
        "serve",
        "-c",
        str(config),
        "--port",
        str(port),
    ]
    with log.open("wb") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server on {port} exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    pytest.fail(f"server on {port} not ready after {timeout} s:\n{log.read_text()[-3000:]}")


def _send(clients: list[httpx.Client], rows: list[dict[str, float]], batches: int) -> list[str]:
    """Alternate batches of 10 rows between the servers; return every answered id."""
    ids: list[str] = []
    for i in range(batches):
        client = clients[i % len(clients)]
        batch = [rows[(i * 10 + j) % len(rows)] for j in range(10)]
        response = client.post("/v1/models/cancer/predict", json={"rows": batch}, timeout=30)
        assert response.status_code == 200, response.text
        ids += [p["id"] for p in response.json()["predictions"]]
    return ids


def _stored_ids(url: str) -> list[str]:
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        table = conn.execute("SELECT table_name FROM models WHERE name = 'cancer'").fetchone()[0]
        return [r[0] for r in conn.execute(f"SELECT id FROM {table}").fetchall()]


@pytest.mark.slow
def test_two_api_processes_store_each_prediction_once_and_run_each_tick_once(
    tmp_path, postgres_url
):
    app_name = f"ds-scale-{uuid.uuid4().hex[:8]}"
    url = _with_app_name(postgres_url, app_name)
    config = write_config(
        tmp_path,
        url,
        detectors=[{"type": "ks"}, {"type": "psi"}],
        monitor={"every": f"{EVERY:g}s", "window": {"last": "1h", "min_samples": 1}},
    )
    reference = pd.read_csv(demo_model(tmp_path).reference_path)
    rows = reference[demo_model(tmp_path).feature_names].to_dict(orient="records")
    ports = [_free_port(), _free_port()]
    logs = [tmp_path / f"serve-{p}.log" for p in ports]
    procs = [_serve(config, port, log) for port, log in zip(ports, logs, strict=True)]
    try:
        for port, proc, log in zip(ports, procs, logs, strict=True):
            _wait_ready(port, proc, log)
        started = datetime.now(UTC)
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{p}") for p in ports]
        watcher = SQLStore(StoreSettings(url=SecretStr(postgres_url)))
        watcher.open()

        def reports_after(since: datetime) -> int:
            return sum(r.created_at > since for r in watcher.list_reports("cancer-drift"))

        try:
            ids = _send(clients, rows, batches=40)
            wait_until(lambda: reports_after(started) >= 3, 120, "three monitor ticks")
            killed = terminate(url, app_name)
            assert killed >= 2, "the servers' connections were not found by application_name"
            dropped_at = datetime.now(UTC)
            ids += _send(clients, rows, batches=40)
            wait_until(lambda: reports_after(dropped_at) >= 4, 120, "four ticks after the drop")
        finally:
            watcher.close()
            for client in clients:
                client.close()
        stopped = datetime.now(UTC)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    # a clean shutdown: uvicorn exits 0, or re-raises the SIGTERM it handled (-15)
    assert all(p.returncode in (0, -signal.SIGTERM) for p in procs), [
        log.read_text()[-2000:] for log in logs
    ]

    # every answered prediction is stored, once
    stored = _stored_ids(postgres_url)
    assert len(ids) == len(set(ids)) == 800
    assert len(stored) == len(set(stored)) == len(ids)
    assert set(stored) == set(ids)

    # every tick produced one report: none closer than a lease apart, none missing in a row
    runtime_reports = _reports(postgres_url, tmp_path, started, stopped)
    times = sorted(r.created_at for r in runtime_reports)
    assert len(times) >= 4, times
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    for i, gap in enumerate(gaps):
        if gap > 0.75 * EVERY:
            continue
        # a run that started late (the machine was busy) is followed by the next tick on
        # time: together the two gaps span two intervals. A tick run twice, by two
        # processes, leaves a short gap after a normal one.
        assert i > 0 and gaps[i - 1] + gap > 1.75 * EVERY, f"two reports for one tick: {gaps}"
    span = (times[-1] - times[0]).total_seconds()
    assert len(times) - 1 <= span / (0.75 * EVERY), (len(times), span)
    assert len(times) - 1 >= span / EVERY * 0.6, f"ticks without a report: {gaps}"
    assert all(r.status == "ok" for r in runtime_reports), [r.status for r in runtime_reports]
    assert any(t > dropped_at for t in times), "no report after the connections were dropped"


def _reports(url: str, folder: Path, since: datetime, until: datetime) -> list:
    plugins = create_plugin_manager(entry_points=False)
    runtime = Runtime(load_config(folder / "driftscope.yaml", plugins), plugins, load_models=False)
    try:
        reports = runtime.store.list_reports("cancer-drift", since=since, limit=10_000)
    finally:
        runtime.close()
    return [r for r in reports if r.created_at <= until]


def test_the_next_run_succeeds_after_the_database_drops_the_connections(tmp_path, postgres_url):
    app_name = f"ds-drop-{uuid.uuid4().hex[:8]}"
    url = _with_app_name(postgres_url, app_name)
    plugins = create_plugin_manager(entry_points=False)
    path = write_config(tmp_path, url, detectors=[{"type": "ks"}, {"type": "psi"}])
    runtime = Runtime(load_config(path, plugins), plugins)
    try:
        log_traffic(runtime.store, runtime.models["cancer"], demo_model(tmp_path), drift=False)
        first = runtime.run_monitor("cancer-drift")
        assert first.status == "ok"
        assert terminate(url, app_name) >= 1, "the store's connections were not found"
        second = runtime.run_monitor("cancer-drift")
        assert second.status == "ok" and second.window.rows == first.window.rows
        assert runtime.store.get_report(second.id) is not None
        # and writes go on too
        log_traffic(runtime.store, runtime.models["cancer"], demo_model(tmp_path), drift=False)
        assert terminate(url, app_name) >= 1
        third = runtime.run_monitor("cancer-drift")
        assert third.status == "ok" and third.window.rows == 2 * first.window.rows
    finally:
        runtime.close()
