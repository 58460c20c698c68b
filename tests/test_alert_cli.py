"""The alerting commands: alerts, silence add/list/remove, notify-test.

Each runs as a user runs it, ``driftscope COMMAND -c CONFIG`` through the CLI's own entry
(typer's CliRunner on ``driftscope.apps.cli.main.app``), against a real store file (SQLite,
and PostgreSQL where it costs little). The alerts they show come from real monitor runs on
the demo model, turned into alert changes by the real alert manager, and are delivered by
the real delivery worker to a local Discord stand-in or webhook receiver.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from driftscope.core.config.yaml_file import load_config
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.core.runtime import Runtime
from support.discord_standin import WEBHOOK_TOKEN, DiscordStandIn, server_error, unknown_webhook
from support.factories import demo_model, log_traffic, write_config
from support.receiver import WebhookReceiver

#: The monitor of every config here: KS on the features only, so a drifted run fires the
#: features the demo's drift shifts and nothing else.
DETECTORS = [{"type": "ks", "p_value": 0.05, "prediction": False}]
SHIFTED = {"mean radius", "mean texture", "mean perimeter", "radius error", "texture error"}

STORES = ["sqlite_url", pytest.param("postgres_url", marks=pytest.mark.postgres)]


def driftscope(*args: str) -> Any:
    """``driftscope *args`` in this process, as the console script runs it."""
    from driftscope.apps.cli.main import app

    # rich sizes its tables from COLUMNS: wide enough that no key is cut
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})


def tables(output: str) -> list[list[list[str]]]:
    """The body rows of each table rich printed (cells stripped), in order; a line whose
    first cell is empty continues the row above (rich wraps long cells)."""
    found: list[list[list[str]]] = []
    for line in output.splitlines():
        if line.startswith("┡"):
            found.append([])
        elif line.startswith("│") and found:
            cells = [cell.strip() for cell in line.split("│")[1:-1]]
            if found[-1] and not cells[0]:
                above = found[-1][-1]
                found[-1][-1] = [
                    " ".join(filter(None, pair)) for pair in zip(above, cells, strict=True)
                ]
            else:
                found[-1].append(cells)
    return found


def make_config(
    folder: Path,
    store_url: str,
    *,
    notifiers: list[dict[str, Any]] | None = None,
    notify: list[str] | None = None,
    delivery: dict[str, Any] | None = None,
) -> Path:
    extra = {"delivery": delivery} if delivery else None
    return write_config(
        folder,
        store_url,
        detectors=DETECTORS,
        monitor={"notify": notify or []},
        notifiers=notifiers,
        extra=extra,
    )


@pytest.fixture
def runtime_of() -> Iterator[Any]:
    """Opens runtimes on config files (as the scheduler or the API would), closed after."""
    opened: list[Runtime] = []

    def open_runtime(path: Path) -> Runtime:
        plugins = create_plugin_manager()
        runtime = Runtime(load_config(path, plugins), plugins)
        opened.append(runtime)
        return runtime

    yield open_runtime
    for runtime in opened:
        runtime.close()


def drifted_run(runtime: Runtime, folder: Path) -> set[str]:
    """Log drifted traffic and run the monitor once: the features it found drifting."""
    log_traffic(runtime.store, runtime.models["cancer"], demo_model(folder), drift=True)
    report = runtime.run_monitor("cancer-drift")
    drifted = {r.feature for r in report.results if r.drifted}
    assert drifted == SHIFTED  # the drift the demo injects, found by the real engine
    return {f for f in drifted if f is not None}


@pytest.mark.parametrize("url_fixture", STORES)
def test_alerts_shows_what_a_real_run_fired_its_history_and_delivery(
    tmp_path: Path, runtime_of: Any, request: pytest.FixtureRequest, url_fixture: str
) -> None:
    config = make_config(tmp_path, request.getfixturevalue(url_fixture))
    runtime = runtime_of(config)  # as `driftscope serve` would: it creates the database
    empty = driftscope("alerts", "-c", str(config))
    assert empty.exit_code == 0, empty.output
    assert "no alerts firing" in empty.output and "no alert history" in empty.output

    fired = drifted_run(runtime, tmp_path)
    result = driftscope("alerts", "-c", str(config))
    assert result.exit_code == 0, result.output
    states, history, delivery = tables(result.output)
    keys = {f"cancer-drift/ks/{feature}" for feature in fired}
    # key, state, since, statistic, threshold, last notified
    assert {row[0] for row in states} == keys and {row[1] for row in states} == {"firing"}
    # at, key, change, statistic, silenced
    assert {row[1] for row in history} == keys
    assert {(row[2], row[4]) for row in history} == {("ok → firing", "")}
    # nothing named a notifier, so the log notifier got one message, not yet delivered
    (message,) = runtime.store.list_messages(limit=10)
    assert message.notifier == "log" and message.status == "pending"
    # notifier, type, pending, retrying, sent, failed, given up, status
    assert delivery == [["log", "log", "1", "0", "0", "0", "0", "ok"]]

    assert runtime.delivery.run_once() == 1
    assert tables(driftscope("alerts", "-c", str(config)).output)[2] == [
        ["log", "log", "0", "0", "1", "0", "0", "ok"]
    ]

    only = driftscope("alerts", "-c", str(config), "--monitor", "cancer-drift")
    assert only.exit_code == 0 and "cancer-drift/ks/mean radius" in only.output
    unknown = driftscope("alerts", "-c", str(config), "--monitor", "cancer-drfit")
    assert unknown.exit_code == 2 and "Did you mean 'cancer-drift'?" in unknown.output


def test_alerts_lists_retrying_and_given_up_messages(tmp_path: Path, runtime_of: Any) -> None:
    with DiscordStandIn() as discord:
        discord.script(*[server_error() for _ in range(10)])
        config = make_config(
            tmp_path,
            f"sqlite:///{tmp_path / 'alerts.db'}",
            notifiers=[{"name": "ops", "type": "discord", "webhook_url": discord.url}],
            notify=["ops"],
            delivery={
                "fast_attempts": 1,
                "backoff_initial": "1s",
                "backoff_max": "10s",
                "give_up_after": "1m",
            },
        )
        runtime = runtime_of(config)
        drifted_run(runtime, tmp_path)
        (message,) = runtime.store.list_messages(status="pending")
        at = message.created_at
        assert runtime.delivery.run_once(now=at) == 0
        (message,) = runtime.store.list_messages(status="pending")
        assert message.next_attempt_at is not None
        out = driftscope("alerts", "-c", str(config)).output
        assert f"pending {message.id[:12]} to ops about cancer-drift" in out
        assert f"1 attempt(s), next attempt {message.next_attempt_at:%Y-%m-%d %H:%M:%S}" in out
        assert "    ks/mean radius: ok → firing" in out
        assert "    last error: Discord answered HTTP 500" in out
        assert "retrying since" in out

        while runtime.store.list_messages(status="pending"):
            at += timedelta(seconds=11)
            runtime.delivery.run_once(now=at)
        out = driftscope("alerts", "-c", str(config)).output
        assert f"given up {message.id[:12]} to ops about cancer-drift" in out
        assert "last error: given up: undelivered 1m after it was created" in out
        assert "messages lost" in out
        assert WEBHOOK_TOKEN not in out


@pytest.mark.parametrize("url_fixture", STORES)
def test_a_silence_added_on_the_command_line_mutes_the_next_real_run(
    tmp_path: Path, runtime_of: Any, request: pytest.FixtureRequest, url_fixture: str
) -> None:
    config = make_config(tmp_path, request.getfixturevalue(url_fixture))
    runtime = runtime_of(config)  # the server's, which made the database
    before = datetime.now(UTC)
    added = driftscope(
        "silence",
        "add",
        "--monitor",
        "cancer-drift",
        "--feature",
        "mean radius",
        "--for",
        "2h",
        "--reason",
        "known shift",
        "--by",
        "oncall",
        "-c",
        str(config),
    )
    assert added.exit_code == 0, added.output

    (silence,) = runtime.alerts.list_silences()
    assert (silence.monitor, silence.feature, silence.detector) == (
        "cancer-drift",
        "mean radius",
        None,
    )
    assert silence.reason == "known shift" and silence.created_by == "oncall"
    assert before <= silence.starts_at <= datetime.now(UTC)
    assert silence.ends_at - silence.starts_at == timedelta(hours=2)
    assert f"silence {silence.id} mutes cancer-drift/mean radius until" in added.output

    listed = driftscope("silence", "list", "-c", str(config))
    assert (
        silence.id in listed.output and "known shift" in listed.output and "oncall" in listed.output
    )

    fired = drifted_run(runtime, tmp_path)
    events = {e.feature: e for e in runtime.store.list_alert_events(monitor="cancer-drift")}
    assert set(events) == fired
    assert events["mean radius"].silenced
    assert not any(e.silenced for f, e in events.items() if f != "mean radius")
    (message,) = runtime.store.list_messages(limit=10)
    assert {c["feature"] for c in message.payload["changes"]} == fired - {"mean radius"}
    shown = driftscope("alerts", "-c", str(config)).output
    assert "    ks/mean texture: ok → firing" in shown
    assert "    ks/mean radius: ok → firing" not in shown
    # the silenced column of the history table
    history = {row[1]: row[4] for row in tables(shown)[1]}
    assert history == {f"cancer-drift/ks/{f}": "yes" if f == "mean radius" else "" for f in fired}

    assert driftscope("silence", "remove", silence.id, "-c", str(config)).exit_code == 0
    gone = driftscope("silence", "remove", silence.id, "-c", str(config))
    assert gone.exit_code == 2 and "no silence with id" in gone.output
    assert "no active silences" in driftscope("silence", "list", "-c", str(config)).output
    assert runtime.alerts.list_silences() == []


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (("--monitor", "cancer-drift", "--for", "soon", "--reason", "x"), "--for"),
        (("--monitor", "cancer-drift", "--for", "-1h", "--reason", "x"), "--for"),
        (("--monitor", "cancer-drift", "--for", "1h", "--reason", "  "), "--reason"),
        (("--monitor", "cancer-drfit", "--for", "1h", "--reason", "x"), "cancer-drift"),
    ],
)
def test_bad_silence_input_exits_2_and_stores_nothing(
    tmp_path: Path, sqlite_url: str, runtime_of: Any, args: tuple[str, ...], flag: str
) -> None:
    config = make_config(tmp_path, sqlite_url)
    runtime = runtime_of(config)  # the server's, which made the database
    result = driftscope("silence", "add", *args, "-c", str(config))
    assert result.exit_code == 2, result.output
    assert flag in result.output
    assert runtime.alerts.list_silences(active_only=False) == []


def test_notify_test_sends_through_each_configured_notifier(
    tmp_path: Path, sqlite_url: str
) -> None:
    with DiscordStandIn() as discord, WebhookReceiver("/hooks/driftscope") as receiver:
        config = make_config(
            tmp_path,
            sqlite_url,
            notifiers=[
                {"name": "audit", "type": "log"},
                {"name": "ops", "type": "discord", "webhook_url": discord.url},
                {"name": "pager", "type": "webhook", "url": receiver.url, "secret": "k3y"},
            ],
            notify=["ops"],
        )
        logged = driftscope("notify-test", "audit", "-c", str(config))
        assert logged.exit_code == 0 and "delivered through audit" in logged.output
        unknown = driftscope("notify-test", "audti", "-c", str(config))
        assert unknown.exit_code == 2 and "Did you mean 'audit'" in unknown.output

        delivered = driftscope("notify-test", "ops", "-c", str(config))
        assert delivered.exit_code == 0, delivered.output
        (posted,) = discord.accepted
        assert "[TEST]" in posted.body["embeds"][0]["title"]
        assert f"(message id {posted.reply['id']})" in delivered.output

        hooked = driftscope("notify-test", "pager", "-c", str(config))
        assert hooked.exit_code == 0 and "delivered through pager (message id r-1)" in hooked.output
        (request,) = receiver.requests
        assert request.headers["X-Driftscope-Event"] == "test" and request.body["test"] is True

        discord.script(unknown_webhook())
        failed = driftscope("notify-test", "ops", "-c", str(config))
        assert failed.exit_code == 1 and "HTTP 404" in failed.output
        assert "the endpoint is gone or refuses us" in failed.output
        for output in (failed.output, delivered.output):
            assert WEBHOOK_TOKEN not in output and "k3y" not in output
    # notify-test sends directly: nothing waits in the store's outbox
    plugins = create_plugin_manager()
    runtime = Runtime(load_config(config, plugins), plugins, load_models=False)
    try:
        assert runtime.store.list_messages(limit=10) == []
    finally:
        runtime.close()


def test_monitor_alerting_reads_the_config_and_defaults_to_the_log_notifier(
    tmp_path: Path, sqlite_url: str
) -> None:
    from driftscope.core.alerting.wiring import monitor_alerting

    path = write_config(
        tmp_path,
        sqlite_url,
        monitor={
            "notify": ["ops"],
            "alert": {"for_runs": 2},
            "window": {"last": "1h", "min_samples": 50},
        },
        notifiers=[{"name": "ops", "type": "log"}],
        extra={"dashboard": {"url": "http://dash"}},
    )
    document = yaml.safe_load(path.read_text())
    quiet = {**document["monitors"][0], "name": "quiet", "notify": [], "alert": {}}
    quiet["window"] = {"last": "1h", "min_samples": 100}
    document["monitors"].append(quiet)
    path.write_text(yaml.safe_dump(document))
    config = load_config(path, create_plugin_manager())
    alerting = monitor_alerting(config, ("log",))
    assert alerting["cancer-drift"].notify == ("ops",)
    assert alerting["cancer-drift"].rules.for_runs == 2
    assert alerting["cancer-drift"].min_samples == 50
    assert alerting["quiet"].notify == ("log",) and alerting["quiet"].min_samples == 100
    assert alerting["quiet"].rules.for_runs == 1
    assert alerting["cancer-drift"].dashboard_url == "http://dash"
