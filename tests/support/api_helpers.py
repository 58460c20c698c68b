"""Helpers for tests (and demos) that run the HTTP API against the real demo model.

* :func:`make_demo_config` trains the demo model into a folder and writes a YAML config;
* :func:`demo_rows` gives request rows from the demo's held-out data;
* :func:`api_client` runs an app's lifespan and yields an httpx client over ASGI;
* :class:`ServerProcess` runs ``uvicorn driftscope.apps.api.main:create_app --factory`` on a free
  loopback port in a subprocess.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from driftscope.apps.demo.model import TARGET
from support.factories import demo_model, write_config

REPO = Path(__file__).resolve().parents[2]


def make_demo_config(
    tmp_path: Path,
    store_url: str,
    every: str = "1h",
    *,
    api: Mapping[str, Any] | None = None,
    monitor: Mapping[str, Any] | None = None,
    notifiers: list[dict[str, Any]] | None = None,
    name: str = "driftscope.yaml",
    model_folder: Path | None = None,
) -> Path:
    """Train the demo model into ``tmp_path`` (or reuse the one in ``model_folder``) and
    write a config serving it as ``cancer`` with one monitor ``cancer-drift`` (ks, psi,
    performance) into ``tmp_path``; return the config's path."""
    monitor_block: dict[str, Any] = {"every": every, "window": {"last": "1h", "min_samples": 20}}
    if notifiers is not None:
        monitor_block["notify"] = [n["name"] for n in notifiers]
    return write_config(
        tmp_path,
        store_url,
        detectors=[
            {"type": "ks", "p_value": 0.05},
            {"type": "psi", "threshold": 0.25},
            {"type": "performance", "metric": "accuracy", "max_drop": 0.15, "min_samples": 10},
        ],
        monitor={**monitor_block, **(monitor or {})},
        notifiers=notifiers,
        extra={"api": dict(api or {})},
        model_folder=model_folder,
        name=name,
    )


def demo_rows(tmp_path: Path, count: int, *, start: int = 0) -> list[dict[str, float]]:
    """``count`` feature rows of the demo's held-out data (cycled), as request rows."""
    demo = demo_model(tmp_path)
    frame = demo.holdout[demo.feature_names]
    records = frame.to_dict(orient="records")
    return [
        {k: float(v) for k, v in records[(start + i) % len(records)].items()} for i in range(count)
    ]


def demo_labels(tmp_path: Path, count: int, *, start: int = 0) -> list[int]:
    """The true labels of the rows :func:`demo_rows` returns."""
    labels = demo_model(tmp_path).holdout[TARGET].tolist()
    return [int(labels[(start + i) % len(labels)]) for i in range(count)]


@contextlib.asynccontextmanager
async def api_client(
    app: FastAPI, headers: Mapping[str, str] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """Run ``app``'s lifespan and yield an httpx client talking to it over ASGI."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=dict(headers or {})
        ) as client:
            yield client


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``uvicorn driftscope.apps.api.main:create_app --factory`` in a subprocess on 127.0.0.1.

    ``env`` adds ``DRIFTSCOPE_*`` settings (``DRIFTSCOPE_CONFIG`` at least).
    """

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        app: str = "driftscope.apps.api.main:create_app",
        port: int | None = None,
        log_path: Path | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        self.app = app
        self.log_path = log_path
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def start(self, timeout: float = 60.0) -> ServerProcess:
        """Start the server and wait until /healthz answers."""
        self._log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            self.app,
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-access-log",
            "--log-level",
            "warning",
            *self.extra_args,
        ]
        self.process = subprocess.Popen(
            command, cwd=REPO, env=self.env, stdout=self._log, stderr=self._log
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with code {self.process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the server did not answer /healthz in time")

    def terminate(self) -> None:
        """Send SIGTERM (a graceful shutdown)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 60.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, wait, and kill if it does not exit in time."""
        if self.process is None:
            return None
        self.terminate()
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
        return code

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def count_rows(store_url: str, model: str = "cancer") -> tuple[int, int]:
    """``(rows, labelled_rows)`` of a model in the store at ``store_url``, read through a
    fresh store connection (what another process would see)."""
    from datetime import UTC, datetime

    from pydantic import SecretStr

    from driftscope.core.contracts.store import StoreSettings
    from driftscope.plugins.stores.sql import SQLStore

    store = SQLStore(StoreSettings(url=SecretStr(store_url)))
    store.open()
    try:
        return store.count_predictions(
            model, datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
        )
    finally:
        store.close()


def records_only_config(folder: Path, store_url: str, model_folder: Path) -> Path:
    """The demo config plus a model ``outside`` that driftscope does not serve: its
    reference carries the predictions (column ``pred``), so it only takes ``/records``."""
    import yaml

    reference = folder / "outside.csv"
    frame = demo_model(model_folder).holdout.copy()
    frame["pred"] = frame["label"]
    frame.to_csv(reference, index=False)
    config = make_demo_config(folder, store_url, model_folder=model_folder)
    document = yaml.safe_load(config.read_text())
    document["models"].append(
        {
            "name": "outside",
            "reference": str(reference),
            "target": "label",
            "prediction_column": "pred",
        }
    )
    config.write_text(yaml.safe_dump(document))
    return config
