"""The alerting commands: alerts, silence add/list/remove, notify-test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from pydantic import SecretStr
from typer.testing import CliRunner

from driftscope.apps.cli.alerts import register
from driftscope.core.alerting.config import DeliverySettings
from driftscope.core.alerting.delivery import DeliveryWorker
from driftscope.core.alerting.manager import AlertManager
from driftscope.core.alerting.rules import MonitorAlerting
from driftscope.core.alerting.wiring import monitor_alerting
from driftscope.core.contracts.notifier import Notifier
from driftscope.core.contracts.store import Store, StoreSettings
from driftscope.plugins.notifiers.discord import DiscordNotifier, DiscordSettings
from driftscope.plugins.notifiers.log import LogNotifier, LogSettings
from driftscope.plugins.stores.sql import SQLStore
from support.discord_standin import WEBHOOK_TOKEN, DiscordStandIn, server_error, unknown_webhook
from support.reports import report


@dataclass
class _Monitor:
    name: str


@dataclass
class _Config:
    monitors: list[_Monitor]


@dataclass
class _Runtime:
    """The parts of driftscope.core.runtime.Runtime the alert commands use."""

    config: _Config
    store: Store
    notifiers: dict[str, Notifier]
    alerts: AlertManager
    delivery: DeliveryWorker
    closed: list[bool] = field(default_factory=list)

    def close(self) -> None:
        self.closed.append(True)


@pytest.fixture
def app_and_runtime(sqlite_url: str) -> Iterator[tuple[typer.Typer, _Runtime]]:
    store = SQLStore(StoreSettings(url=SecretStr(sqlite_url)))
    store.open()
    notifiers: dict[str, Notifier] = {"log": LogNotifier(LogSettings(name="log"))}
    alerts = AlertManager(store, None, {"credit": MonitorAlerting(notify=("log",))})
    runtime = _Runtime(
        _Config([_Monitor("credit")]),
        store,
        notifiers,
        alerts,
        DeliveryWorker(store, notifiers, DeliverySettings()),
    )
    app = typer.Typer()

    @app.command()
    def version() -> None:
        """A second command so typer keeps sub-command names."""

    register(app, lambda path: runtime)  # type: ignore[arg-type, return-value]
    yield app, runtime
    store.close()


def invoke(app: typer.Typer, *args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_alerts_shows_firing_history_and_delivery(
    app_and_runtime: tuple[typer.Typer, _Runtime],
) -> None:
    app, runtime = app_and_runtime
    assert "no alerts firing" in invoke(app, "alerts").output
    now = datetime.now(UTC)
    runtime.alerts.handle_report(report({"age": True}, model="m", at=now))
    result = invoke(app, "alerts")
    assert result.exit_code == 0, result.output
    assert "credit/psi/age" in result.output and "firing" in result.output
    assert "ok → firing" in result.output
    assert "log" in result.output and "pending" in result.output.lower()
    assert invoke(app, "alerts", "--monitor", "nope").exit_code == 2
    assert runtime.closed


def test_alerts_lists_retrying_and_given_up_messages(
    app_and_runtime: tuple[typer.Typer, _Runtime],
) -> None:
    app, runtime = app_and_runtime
    t0 = datetime(2024, 6, 1, 12, tzinfo=UTC)
    with DiscordStandIn() as discord:
        discord.script(*[server_error() for _ in range(10)])
        runtime.notifiers["ops"] = DiscordNotifier(
            DiscordSettings(name="ops", webhook_url=SecretStr(discord.url))
        )
        settings = DeliverySettings(
            fast_attempts=1,
            backoff_initial=timedelta(seconds=1),
            backoff_max=timedelta(seconds=10),
            give_up_after=timedelta(minutes=1),
        )
        runtime.delivery = DeliveryWorker(runtime.store, runtime.notifiers, settings)
        manager = AlertManager(runtime.store, None, {"credit": MonitorAlerting(notify=("ops",))})
        manager.handle_report(report({"age": True}, model="m", at=t0), now=t0)
        runtime.delivery.run_once(now=t0)
        (message,) = runtime.store.list_messages(status="pending")
        out = invoke(app, "alerts").output
        assert f"pending {message.id[:12]} to ops about credit" in out
        assert "1 attempt(s), next attempt 2024-06-01 12:00:0" in out
        assert "    psi/age: ok → firing" in out
        assert "    last error: Discord answered HTTP 500" in out

        at = t0
        while runtime.store.list_messages(status="pending"):
            at += timedelta(seconds=11)
            runtime.delivery.run_once(now=at)
        out = invoke(app, "alerts").output
        assert f"given up {message.id[:12]} to ops about credit" in out
        assert "last error: given up: undelivered 1m after it was created" in out
        assert WEBHOOK_TOKEN not in out
        runtime.notifiers.pop("ops").close()


def test_silence_add_list_remove(app_and_runtime: tuple[typer.Typer, _Runtime]) -> None:
    app, runtime = app_and_runtime
    added = invoke(
        app,
        "silence",
        "add",
        "--monitor",
        "credit",
        "--feature",
        "age",
        "--for",
        "2h",
        "--reason",
        "known shift",
    )
    assert added.exit_code == 0, added.output
    (silence,) = runtime.alerts.list_silences()
    assert silence.feature == "age" and silence.reason == "known shift"
    assert (
        timedelta(hours=1, minutes=59) < silence.ends_at - silence.starts_at <= timedelta(hours=2)
    )
    listed = invoke(app, "silence", "list")
    assert silence.id in listed.output and "known shift" in listed.output
    assert invoke(app, "silence", "remove", silence.id).exit_code == 0
    assert invoke(app, "silence", "remove", silence.id).exit_code == 2
    assert "no active silences" in invoke(app, "silence", "list").output


@pytest.mark.parametrize(
    "args",
    [
        ("--monitor", "credit", "--for", "soon", "--reason", "x"),
        ("--monitor", "credit", "--for", "-1h", "--reason", "x"),
        ("--monitor", "credit", "--for", "1h", "--reason", "  "),
        ("--monitor", "crdit", "--for", "1h", "--reason", "x"),
    ],
)
def test_bad_silence_input_exits_2(
    app_and_runtime: tuple[typer.Typer, _Runtime], args: tuple[str, ...]
) -> None:
    app, runtime = app_and_runtime
    result = invoke(app, "silence", "add", *args)
    assert result.exit_code == 2, result.output
    assert runtime.alerts.list_silences() == []


def test_notify_test_reports_success_and_failure(
    app_and_runtime: tuple[typer.Typer, _Runtime],
) -> None:
    app, runtime = app_and_runtime
    ok = invoke(app, "notify-test", "log")
    assert ok.exit_code == 0 and "delivered" in ok.output
    unknown = invoke(app, "notify-test", "lgo")
    assert unknown.exit_code == 2 and "Did you mean 'log'" in unknown.output
    with DiscordStandIn() as discord:
        runtime.notifiers["ops"] = DiscordNotifier(
            DiscordSettings(name="ops", webhook_url=SecretStr(discord.url))
        )
        delivered = invoke(app, "notify-test", "ops")
        assert delivered.exit_code == 0 and "message id" in delivered.output
        assert "[TEST]" in discord.accepted[0].body["embeds"][0]["title"]
        discord.script(unknown_webhook())
        failed = invoke(app, "notify-test", "ops")
        assert failed.exit_code == 1 and "404" in failed.output
        assert "the endpoint is gone or refuses us" in failed.output
        assert WEBHOOK_TOKEN not in failed.output and WEBHOOK_TOKEN not in delivered.output


def test_monitor_alerting_reads_the_config_and_defaults_to_the_log_notifier(
    tmp_path: Path,
) -> None:
    from driftscope.core.alerting.config import AlertRuleSettings

    @dataclass
    class Window:
        min_samples: int

    @dataclass
    class Monitor:
        name: str
        model: str
        notify: list[str]
        alert: AlertRuleSettings
        window: Window

    @dataclass
    class Dashboard:
        url: str | None

    @dataclass
    class Config:
        monitors: list[Monitor]
        dashboard: Dashboard

    config = Config(
        [
            Monitor("a", "m", ["ops"], AlertRuleSettings(for_runs=2), Window(50)),
            Monitor("b", "m", [], AlertRuleSettings(), Window(100)),
        ],
        Dashboard("http://dash"),
    )
    alerting = monitor_alerting(config, ("log",))
    assert alerting["a"].notify == ("ops",) and alerting["a"].rules.for_runs == 2
    assert alerting["b"].notify == ("log",) and alerting["b"].min_samples == 100
    assert alerting["a"].dashboard_url == "http://dash"
