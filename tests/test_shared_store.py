"""Two configs on one store keep to themselves: each process delivers the outbox messages of
the notifiers it has, and leaves the others' alone (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from pydantic import Field

from driftscope import (
    DeliveryOutcome,
    DeliveryResult,
    Notification,
    Notifier,
    NotifierRecord,
    NotifierSettings,
    hookimpl,
)
from driftscope.core.config.environment import DeploymentSettings
from driftscope.core.config.yaml_file import load_config
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.core.runtime import Runtime
from support.reports import T0, report


class FileSettings(NotifierSettings):
    type: Literal["file"] = "file"
    path: Path = Field(description="JSON lines file the notifications are appended to.")


class FileNotifier(Notifier[FileSettings]):
    """Appends each notification to a file: what it received is what it delivered."""

    Settings = FileSettings

    def send(self, notification: Notification) -> DeliveryResult:
        with self.settings.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(notification.to_dict(), default=str) + "\n")
        return DeliveryResult(DeliveryOutcome.DELIVERED)


class _FilePlugin:
    @hookimpl
    def driftscope_notifiers(self) -> Iterator[NotifierRecord]:
        yield NotifierRecord("file", FileNotifier)


def runtime_of(folder: Path, team: str, store_url: str) -> Runtime:
    """The runtime of team ``team``'s config in ``folder``: model ``m``, monitor
    ``mon-<team>`` notifying ``to-<team>``, a file notifier, on the shared store."""
    folder.mkdir()
    (folder / "ref.csv").write_text("age,p\n1.0,a\n2.0,b\n")
    document: dict[str, Any] = {
        "models": [{"name": "m", "reference": "ref.csv", "prediction_column": "p"}],
        "monitors": [
            {
                "name": f"mon-{team}",
                "model": "m",
                "window": {"last": "1h", "min_samples": 1},
                "detectors": [{"type": "psi"}],
                "notify": [f"to-{team}"],
                "alert": {"for_runs": 1},
            }
        ],
        "notifiers": [{"name": f"to-{team}", "type": "file", "path": "alerts.jsonl"}],
        "store": {"type": "sql", "url": store_url},
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(document))
    plugins = create_plugin_manager(entry_points=False)
    plugins.register(_FilePlugin(), "file-notifier")
    config = load_config(folder / "config.yaml", plugins)
    return Runtime(config, plugins, DeploymentSettings(store_url=None), load_models=False)


def delivered(folder: Path) -> list[str]:
    path = folder / "alerts.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["monitor"] for line in path.read_text().splitlines()]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_configs_on_one_store_each_deliver_only_their_own(tmp_path, request, backend):
    store_url = request.getfixturevalue("postgres_url" if backend == "postgres" else "sqlite_url")
    a = runtime_of(tmp_path / "a", "a", store_url)
    b = runtime_of(tmp_path / "b", "b", store_url)
    try:
        a.alerts.handle_report(report({"age": True}, monitor="mon-a", model="m"), now=T0)
        b.alerts.handle_report(report({"age": True}, monitor="mon-b", model="m"), now=T0)

        # a runs first and sees b's message in the outbox: it must leave it alone
        assert a.delivery.run_once(now=T0) == 1
        assert delivered(tmp_path / "a") == ["mon-a"]
        [waiting] = a.store.list_messages(status="pending")
        assert waiting.notifier == "to-b" and waiting.attempts == 0 and waiting.last_error is None
        health = a.delivery.health()
        assert set(health.notifiers) == {"to-a"} and not health.degraded
        assert health.elsewhere == {"to-b": 1}
        assert health.to_dict()["elsewhere"] == {"to-b": 1}

        # b is not kept out by a's lease: it delivers its own at once
        assert b.delivery.run_once(now=T0) == 1
        assert delivered(tmp_path / "b") == ["mon-b"]
        assert delivered(tmp_path / "a") == ["mon-a"]
        statuses = {m.notifier: m.status for m in a.store.list_messages()}
        assert statuses == {"to-a": "sent", "to-b": "sent"}
        assert a.store.list_messages(status="failed") == []
        assert not b.delivery.health().degraded and b.delivery.health().elsewhere == {}
    finally:
        a.close()
        b.close()


def test_two_processes_of_one_config_still_send_each_message_once(tmp_path, sqlite_url):
    first = runtime_of(tmp_path / "first", "a", sqlite_url)
    second = runtime_of(tmp_path / "second", "a", sqlite_url)
    try:
        first.alerts.handle_report(report({"age": True}, monitor="mon-a", model="m"), now=T0)
        assert first.delivery.run_once(now=T0) == 1  # and holds the lease of notifier to-a
        first.alerts.handle_report(
            report({"age": True, "income": True}, monitor="mon-a", model="m"), now=T0
        )
        assert second.delivery.run_once(now=T0) == 0
        assert delivered(tmp_path / "second") == []
        assert first.delivery.run_once(now=T0) == 1
        assert delivered(tmp_path / "first") == ["mon-a", "mon-a"]
    finally:
        first.close()
        second.close()
