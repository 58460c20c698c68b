"""A monitor of a model that has never had a prediction waits for them; it does not alert.

A new deployment starts its scheduler before the first request: its empty window is not a
broken pipeline. The report says ``waiting_for_predictions`` and no ``no_data`` alert is
raised. Once the model has had traffic, an empty or thin window is ``no_data`` as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from driftscope.apps.api.main import create_app
from driftscope.core.alerting.rules import MONITOR_DETECTOR, MonitorAlerting, evaluate
from driftscope.core.config.environment import DeploymentSettings
from driftscope.core.config.yaml_file import load_config
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.core.runtime import Runtime
from support.api_helpers import api_client
from support.factories import demo_model, traffic, write_config
from support.reports import T0, report

MONITOR_KEY = ("cancer-drift", MONITOR_DETECTOR, "")


@pytest.fixture
def runtime(store, tmp_path: Path) -> Iterator[Runtime]:  # type: ignore[no-untyped-def]
    config = write_config(
        tmp_path,
        store.settings.url.get_secret_value(),
        monitor={"notify": ["console"]},
        notifiers=[{"name": "console", "type": "log"}],
    )
    plugins = create_plugin_manager(entry_points=False)
    rt = Runtime(load_config(config, plugins), plugins)
    yield rt
    rt.close()


def _log(runtime: Runtime, tmp_path: Path, rows: int, *, at: datetime) -> None:
    frame = pd.read_csv(demo_model(tmp_path).reference_path).head(rows)
    runtime.store.write_predictions(traffic(runtime.models["cancer"], frame, start=at))


def test_no_alert_before_the_first_prediction_then_no_data_as_before(
    runtime: Runtime, tmp_path: Path
) -> None:
    # a new deployment: no prediction has ever been logged
    first = runtime.run_monitor("cancer-drift")
    assert first.status == "waiting_for_predictions" and first.window.rows == 0
    assert runtime.store.list_alert_events() == []
    assert runtime.store.list_messages() == []
    assert MONITOR_KEY not in runtime.store.get_alert_states("cancer-drift")

    # traffic, but fewer rows than min_samples (50): now a thin window is news
    _log(runtime, tmp_path, 10, at=datetime.now(UTC) - timedelta(minutes=5))
    thin = runtime.run_monitor("cancer-drift")
    assert thin.status == "insufficient_data"
    (event,) = runtime.store.list_alert_events()
    assert (event.detector, event.from_state, event.to_state) == (MONITOR_DETECTOR, "ok", "no_data")
    assert len(runtime.store.list_messages()) == 1

    # enough rows: it resolves, as before
    _log(runtime, tmp_path, 100, at=datetime.now(UTC) - timedelta(minutes=4))
    assert runtime.run_monitor("cancer-drift").status == "ok"
    states = runtime.store.get_alert_states("cancer-drift")
    assert states[MONITOR_KEY].state == "resolved"


def test_traffic_seen_outside_the_window_makes_an_empty_window_no_data(
    runtime: Runtime, tmp_path: Path
) -> None:
    _log(runtime, tmp_path, 60, at=datetime.now(UTC) - timedelta(hours=3))  # window: 1h
    empty = runtime.run_monitor("cancer-drift")
    assert empty.status == "insufficient_data" and empty.window.rows == 0
    (event,) = runtime.store.list_alert_events()
    assert (event.from_state, event.to_state) == ("ok", "no_data")


def test_a_monitor_already_out_of_data_stays_so_while_it_waits() -> None:
    """If every prediction has since been pruned, an announced no_data does not resolve."""
    alerting = MonitorAlerting(notify=("ops",), min_samples=50)
    first = report({}, rows=3, status="insufficient_data", at=T0)
    starved = evaluate(first, alerting, {}, now=T0)
    states = {s.key: s for s in starved.states}
    (key,) = [k for k in states if k[1] == MONITOR_DETECTOR]
    assert states[key].state == "no_data"
    later = T0 + timedelta(hours=5)  # past repeat_every (4h)
    waiting = evaluate(
        report({}, rows=0, status="waiting_for_predictions", at=later), alerting, states, now=later
    )
    assert waiting.events == []  # no resolution
    assert [c.to_state for c in waiting.changes] == ["no_data"]  # the reminder, as before
    fresh = evaluate(
        report({}, rows=0, status="waiting_for_predictions", at=T0), alerting, {}, now=T0
    )
    assert fresh.empty and fresh.changes == []


@pytest.mark.anyio
async def test_the_api_and_the_cli_say_waiting_for_the_first_predictions(
    tmp_path: Path, sqlite_url: str
) -> None:
    config = write_config(tmp_path, sqlite_url)
    async with api_client(create_app(DeploymentSettings(config=config, scheduler=False))) as client:
        ran = (await client.post("/v1/monitors/cancer-drift/run")).json()
        alerts = (await client.get("/v1/alerts")).json()["alerts"]
    assert ran["status"] == "waiting_for_predictions"
    assert alerts == []

    from driftscope.apps.cli.main import app

    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["run", "cancer-drift", "-c", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert "waiting for the first predictions of model cancer" in result.output
