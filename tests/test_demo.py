"""``driftscope demo`` end to end, in a short mode, as a newcomer would run it.

The real command runs as a subprocess: it trains the model, starts ``driftscope serve``,
drives 600 predictions (drift from the 301st), and must finish with exit 0 only because the
monitor detected the drift and an alert was recorded. The store is then read independently,
and nothing may be left running or listening. A second run with ``--reuse`` keeps the data.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.config import load_config
from core.demo.runner import MONITOR, free_port
from core.plugins import create_plugin_manager

pytestmark = pytest.mark.slow

DRIFTING = {"mean radius", "mean texture", "mean perimeter", "radius error", "texture error"}
SHORT = ["--once", "--no-dashboard", "--requests", "600", "--rate", "100", "--every", "2"]


def run_demo(folder: Path, port: int, *extra: str) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``driftscope demo`` in the short mode; return the result and its duration."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DRIFTSCOPE_") and k != "DISCORD_WEBHOOK_URL"
    }
    env["COLUMNS"] = "120"
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "core.cli",
            "demo",
            *SHORT,
            "--dir",
            str(folder),
            "--port",
            str(port),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder.parent,
        timeout=180,
    )
    return result, time.monotonic() - started


def listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is not running any more
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "State:\tZ" not in status


def open_store(folder: Path):  # type: ignore[no-untyped-def]
    plugins = create_plugin_manager()
    config = load_config(folder / "driftscope.yaml", plugins)
    store = plugins.get("store", config.store_settings.type)(config.store_settings)
    store.open()
    return store


def server_pids(log: str) -> list[int]:
    """The pids uvicorn reports (``Started server process [123]``)."""
    return [int(p) for p in re.findall(r"Started server process \[(\d+)\]", log)]


def test_demo_once_detects_drift_records_an_alert_and_leaves_nothing_running(tmp_path):
    folder = tmp_path / "demo"
    port = free_port()
    result, seconds = run_demo(folder, port)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert seconds < 120, f"the short demo took {seconds:.0f}s"

    # what it printed: the URLs at the start, alerts as they fired, the verdict
    assert f"http://127.0.0.1:{port}/docs" in result.stdout
    assert "firing" in result.stdout
    assert "drift detected and alerted" in result.stdout

    summary = json.loads((folder / "summary.json").read_text())
    assert summary["ok"] is True
    assert summary["predictions_sent"] == 600
    assert summary["predictions_failed"] == 0
    assert summary["drift_injected_after"] == 300
    assert summary["drift_detected"] is True
    assert summary["detected_after_requests"] > 0
    assert summary["false_alarms"] == 0
    assert set(summary["drifted_features"]) & DRIFTING
    assert summary["alerts_fired"] >= 1
    assert summary["messages"]["console"].get("sent", 0) >= 1

    # the store itself agrees: every prediction flushed, drift reported, alerts recorded
    store = open_store(folder)
    try:
        now = datetime.now(UTC)
        rows, labelled = store.count_predictions("cancer", now - timedelta(hours=1), now)
        assert rows == 600
        assert labelled == 600
        reports = store.list_reports(MONITOR, limit=1000)
        assert any(r.drifted for r in reports)
        events = store.list_alert_events(monitor=MONITOR, limit=1000)
        firing = {e.feature for e in events if e.to_state == "firing"}
        assert firing & DRIFTING, firing
        assert {m.status for m in store.list_messages(limit=100)} == {"sent"}
    finally:
        store.close()

    # the log notifier wrote the alert to the API's log
    log = (folder / "api.log").read_text()
    assert "ALERT cancer-drift firing" in log

    # nothing left running or listening
    assert not listening(port)
    pids = server_pids(log)
    assert pids, log[-2000:]
    assert not any(alive(pid) for pid in pids)


def test_demo_runs_twice_reusing_or_replacing_its_folder(tmp_path):
    folder = tmp_path / "demo"
    first, _ = run_demo(folder, free_port())
    assert first.returncode == 0, first.stdout + first.stderr

    # --reuse keeps the first run's predictions and alert history
    port = free_port()
    second, _ = run_demo(folder, port, "--reuse")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "reusing the folder's database" in second.stdout
    store = open_store(folder)
    try:
        now = datetime.now(UTC)
        rows, _ = store.count_predictions("cancer", now - timedelta(hours=1), now)
        assert rows == 1200
    finally:
        store.close()
    assert json.loads((folder / "summary.json").read_text())["ok"] is True

    # --replace (the default) starts from a fresh database
    third, _ = run_demo(folder, free_port())
    assert third.returncode == 0, third.stdout + third.stderr
    store = open_store(folder)
    try:
        now = datetime.now(UTC)
        rows, _ = store.count_predictions("cancer", now - timedelta(hours=1), now)
        assert rows == 600
    finally:
        store.close()
    assert not listening(port)


def test_demo_refuses_a_port_in_use(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result, _ = run_demo(tmp_path / "demo", port)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"port {port}" in result.stdout and "already in use" in result.stdout
