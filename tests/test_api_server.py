"""A real uvicorn server on 127.0.0.1: graceful shutdown under load, and ``driftscope serve``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from driftscope.apps.cli import serve as cli_serve
from support.api_helpers import (
    REPO,
    ServerProcess,
    count_rows,
    demo_rows,
    free_port,
    make_demo_config,
)

GRACEFUL = (0, -signal.SIGTERM)
SETTINGS_VARS = (
    "DRIFTSCOPE_CONFIG",
    "DRIFTSCOPE_API_HOST",
    "DRIFTSCOPE_API_PORT",
    "DRIFTSCOPE_WORKERS",
    "DRIFTSCOPE_SCHEDULER",
    "DRIFTSCOPE_API_KEY",
    "DRIFTSCOPE_STORE_URL",
)


async def _load(url: str, rows: list[dict[str, float]], server: ServerProcess) -> tuple[int, int]:
    """16 clients predicting 1- and 5-row requests; SIGTERM after 300 answers. Returns
    (rows answered 2xx, requests answered 2xx)."""
    answered_rows = 0
    answered = 0
    stop = asyncio.Event()

    async def client(n: int) -> None:
        nonlocal answered_rows, answered
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            i = 0
            while not stop.is_set() and i < 2000:
                size = 5 if (n + i) % 3 == 0 else 1
                body = {"rows": rows[:size]} if size > 1 else {"features": rows[0]}
                i += 1
                try:
                    response = await http.post("/v1/models/cancer/predict", json=body)
                except httpx.HTTPError:
                    stop.set()  # the server has closed: no more answers can come
                    return
                if response.status_code == 200:
                    answered += 1
                    answered_rows += len(response.json()["predictions"])
                    if answered == 300:
                        server.terminate()
                elif response.status_code >= 500:
                    stop.set()
                    return

    await asyncio.gather(*(client(n) for n in range(16)))
    return answered_rows, answered


@pytest.mark.slow
def test_sigterm_under_load_keeps_every_answered_row(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> None:
    # async with a long flush interval keeps rows in the queue when SIGTERM arrives
    config = make_demo_config(
        tmp_path,
        sqlite_url,
        api={"logging": "async", "flush_interval": "500ms", "flush_rows": 100_000},
        model_folder=demo_dir,
    )
    server = ServerProcess(
        {"DRIFTSCOPE_CONFIG": str(config), "DRIFTSCOPE_SCHEDULER": "false"},
        log_path=tmp_path / "server.log",
    ).start()
    try:
        rows, requests = asyncio.run(_load(server.url, demo_rows(demo_dir, 5), server))
        # uvicorn re-raises the SIGTERM it caught once its graceful shutdown is done
        assert server.wait(60) in GRACEFUL, (tmp_path / "server.log").read_text()
    finally:
        server.stop()
    assert requests >= 300
    assert count_rows(sqlite_url) == (rows, 0)


def _serve_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """driftscope (test shell)."""

    cli_serve.register(app)
    return app


def test_serve_flags_override_settings(
    tmp_path: Path, sqlite_url: str, demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in SETTINGS_VARS:
        monkeypatch.delenv(name, raising=False)
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    config = make_demo_config(tmp_path, sqlite_url, model_folder=demo_dir)
    runner = CliRunner()

    result = runner.invoke(_serve_app(), ["serve", "--config", str(config)])
    assert result.exit_code == 0, result.output
    call = calls.pop()
    assert call["app"] == "driftscope.apps.api.main:create_app" and call["factory"] is True
    assert call["host"] == "127.0.0.1" and call["port"] == 8000 and call["workers"] == 1
    assert os.environ["DRIFTSCOPE_CONFIG"] == str(config.resolve())
    assert "DRIFTSCOPE_SCHEDULER" not in os.environ

    monkeypatch.setenv("DRIFTSCOPE_API_PORT", "9100")
    result = runner.invoke(_serve_app(), ["serve", "-c", str(config)])
    assert calls.pop()["port"] == 9100  # the environment still applies without a flag

    args = ["serve", "-c", str(config), "--host", "0.0.0.0", "--port", "9001"]
    result = runner.invoke(_serve_app(), [*args, "--workers", "3", "--no-scheduler"])
    assert result.exit_code == 0, result.output
    call = calls.pop()
    assert (call["host"], call["port"], call["workers"]) == ("0.0.0.0", 9001, 3)
    assert os.environ["DRIFTSCOPE_SCHEDULER"] == "false"


def test_serve_refuses_a_bad_config_before_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in SETTINGS_VARS:
        monkeypatch.delenv(name, raising=False)
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("must not start"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  - name: m\n    path: missing.skops\n    reference: nope.csv\n")
    result = CliRunner().invoke(_serve_app(), ["serve", "--config", str(bad)])
    assert result.exit_code == 2
    assert "not found" in result.output
    monkeypatch.delenv("DRIFTSCOPE_CONFIG")
    result = CliRunner().invoke(_serve_app(), ["serve"])
    assert result.exit_code == 2 and "DRIFTSCOPE_CONFIG" in result.output


@pytest.mark.slow
def test_serve_runs_uvicorn_and_stops_on_sigterm(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> None:
    config = make_demo_config(tmp_path, sqlite_url, model_folder=demo_dir)
    port = free_port()
    shell = (
        "import typer; from driftscope.apps.cli.serve import register\n"
        "app = typer.Typer()\n"
        "app.callback()(lambda: None)\n"
        "register(app)\n"
        "app()\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARS}
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-c", shell, "serve", "-c", str(config), "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                ready = httpx.get(url + "/readyz", timeout=1)
                break
            except httpx.HTTPError:
                assert process.poll() is None, (tmp_path / "serve.log").read_text()
                time.sleep(0.1)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["scheduler"]["ok"] is True
        row = demo_rows(demo_dir, 1)[0]
        assert httpx.post(url + "/v1/models/cancer/predict", json={"features": row}).is_success
        process.terminate()
        assert process.wait(30) in GRACEFUL
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    assert count_rows(sqlite_url) == (1, 0)


def _metric(url: str, name: str) -> float:
    for line in httpx.get(url + "/metrics", timeout=5).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def _wait_for_metric(url: str, name: str, value: float) -> None:
    deadline = time.monotonic() + 30
    while _metric(url, name) != value:
        assert time.monotonic() < deadline, f"{name} never reached {value}"
        time.sleep(0.05)


def _status(sock: socket.socket) -> int:
    answer = b""
    while b"\r\n" not in answer:
        chunk = sock.recv(4096)
        assert chunk, "the server closed the connection without an answer"
        answer += chunk
    return int(answer.split(b" ", 2)[1])


@pytest.mark.slow
def test_request_bodies_in_flight_are_bounded_across_requests(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> None:
    config = make_demo_config(
        tmp_path,
        sqlite_url,
        api={"max_body_bytes": 64_000, "max_body_bytes_in_flight": 128_000},
        model_folder=demo_dir,
    )
    row = demo_rows(demo_dir, 1)[0]
    body = json.dumps({"features": row}).encode()
    body += b" " * (60_000 - len(body))  # valid JSON, padded to 60,000 bytes
    in_flight = "driftscope_request_body_bytes_in_flight"
    predict = "/v1/models/cancer/predict"
    with ServerProcess({"DRIFTSCOPE_CONFIG": str(config), "DRIFTSCOPE_SCHEDULER": "false"}) as srv:
        # two uploads that have sent their headers and a little of their bodies: each holds
        # its declared 60,000 bytes until it is answered
        slow = []
        for _ in range(2):
            sock = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
            sock.sendall(
                f"POST {predict} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body[:1000]
            )
            slow.append(sock)
        _wait_for_metric(srv.url, in_flight, 120_000)

        declared = httpx.post(
            srv.url + predict, content=body, headers={"Content-Type": "application/json"}
        )
        assert declared.status_code == 503, declared.text
        assert declared.headers["Retry-After"] == "1"
        assert "128000 bytes" in declared.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: charged as the bytes arrive
            for start in range(0, len(body), 5_000):
                yield body[start : start + 5_000]

        chunked = httpx.post(
            srv.url + predict, content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert chunked.status_code == 503, chunked.text
        assert chunked.headers["Retry-After"] == "1"
        # one body over max_body_bytes is still a 413, and bodiless requests still pass
        too_large = httpx.post(srv.url + predict, content=b" " * 70_000)
        assert too_large.status_code == 413
        assert httpx.get(srv.url + "/healthz").status_code == 200
        assert _metric(srv.url, "driftscope_request_bodies_refused_total") == 2

        for sock in slow:
            sock.sendall(body[1000:])
            assert _status(sock) == 200
            sock.close()
        _wait_for_metric(srv.url, in_flight, 0)
        accepted = httpx.post(
            srv.url + predict, content=body, headers={"Content-Type": "application/json"}
        )
        assert accepted.status_code == 200, accepted.text
        assert _metric(srv.url, in_flight) == 0

        # a client that hangs up mid-body gives its bytes back too
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        sock.sendall(
            f"POST {predict} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body[:1000]
        )
        _wait_for_metric(srv.url, in_flight, 60_000)
        sock.close()
        _wait_for_metric(srv.url, in_flight, 0)
