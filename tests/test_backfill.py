"""Monitors over history: `POST /v1/monitors/{name}/run?at=` and `driftscope backfill`.

Past predictions go in through `/records` with their own timestamps, as a user loading last
quarter's data would send them: two hours of held-out rows of the reference's distribution,
then two hours with drift injected. A backfill over those four hours must say which windows
drifted, mark its reports backfilled, and page nobody unless asked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from driftscope.apps.api.main import create_app
from driftscope.apps.cli.main import app as cli
from driftscope.apps.demo.model import TARGET, drifted_rows
from driftscope.core.config.environment import DeploymentSettings
from driftscope.core.runtime import Runtime
from support.api_helpers import api_client, demo_model
from support.factories import write_config

pytestmark = pytest.mark.anyio

# a whole hour in the past, so every window of the test lies before "now"
END = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
HOURS = [END - timedelta(hours=3 - k) for k in range(4)]  # four window ends, one hour apart
DRIFTED = [False, False, True, True]


def _monitor() -> dict[str, Any]:
    # KS with Bonferroni across the 30 features: a held-out hour of the reference's own
    # distribution flags nothing (family-wise error 5%), a shifted one flags the shifts
    return {
        "detectors": [{"type": "ks", "p_value": 0.05, "prediction": False}],
        "window": {"last": "1h", "min_samples": 50},
        "correction": "bonferroni",
    }


def _config(folder: Path, store_url: str, demo_dir: Path) -> Path:
    return write_config(
        folder,
        store_url,
        monitor=_monitor(),
        notifiers=[{"name": "log", "type": "log"}],
        model_folder=demo_dir,
    )


def _hour_rows(demo_dir: Path) -> list[pd.DataFrame]:
    """Four hours of rows: two halves of the held-out split, then both halves drifted."""
    holdout = demo_model(demo_dir).holdout
    half = len(holdout) // 2
    stable = [holdout.iloc[:half], holdout.iloc[half:]]
    features = demo_model(demo_dir).feature_names
    rng = np.random.default_rng(7)
    return [*stable, *(drifted_rows(rows, features, rng) for rows in stable)]


def _records(frame: pd.DataFrame, hour_end: datetime) -> list[dict[str, Any]]:
    """One record per row, spread over the hour that ends at ``hour_end``."""
    spacing = timedelta(hours=1) / (len(frame) + 1)
    features = [c for c in frame.columns if c != TARGET]
    return [
        {
            "features": {name: float(row[name]) for name in features},
            "prediction": str(int(row[TARGET])),
            "label": str(int(row[TARGET])),
            "timestamp": (hour_end - timedelta(hours=1) + spacing * (i + 1)).isoformat(),
        }
        for i, (_, row) in enumerate(frame.iterrows())
    ]


async def _load_history(client: httpx.AsyncClient, demo_dir: Path) -> None:
    for frame, hour_end in zip(_hour_rows(demo_dir), HOURS, strict=True):
        response = await client.post(
            "/v1/models/cancer/records", json={"rows": _records(frame, hour_end)}
        )
        assert response.status_code == 200, response.text


@pytest.fixture
async def client(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    config = _config(tmp_path, sqlite_url, demo_dir)
    settings = DeploymentSettings(config=config, scheduler=False, logging="durable")
    async with api_client(create_app(settings)) as c:
        yield c


async def test_run_at_a_past_time_scores_that_window_and_fires_nothing(
    client: httpx.AsyncClient, demo_dir: Path
) -> None:
    await _load_history(client, demo_dir)
    found = []
    for at in HOURS:
        response = await client.post("/v1/monitors/cancer-drift/run", params={"at": at.isoformat()})
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["backfilled"] is True
        assert datetime.fromisoformat(report["window"]["end"]) == at
        assert datetime.fromisoformat(report["window"]["start"]) == at - timedelta(hours=1)
        found.append(report["drifted"])
    assert found == DRIFTED
    assert (await client.get("/v1/alerts")).json()["alerts"] == []


async def test_run_at_with_alerts_lets_the_report_fire(
    client: httpx.AsyncClient, demo_dir: Path
) -> None:
    await _load_history(client, demo_dir)
    response = await client.post(
        "/v1/monitors/cancer-drift/run", params={"at": HOURS[-1].isoformat(), "alerts": "true"}
    )
    assert response.json()["drifted"] is True
    alerts = (await client.get("/v1/alerts")).json()["alerts"]
    assert alerts and {a["state"] for a in alerts} == {"firing"}


async def test_a_scheduled_style_run_is_not_marked_backfilled(client: httpx.AsyncClient) -> None:
    report = (await client.post("/v1/monitors/cancer-drift/run")).json()
    assert report["backfilled"] is False


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ("not-a-time", "datetime"),
        ((datetime.now(UTC) + timedelta(days=1)).isoformat(), "future"),
        ("0001-01-01T00:00:00", None),
    ],
)
async def test_run_at_refuses_a_bad_time_naming_the_query_field(
    client: httpx.AsyncClient, at: str, message: str | None
) -> None:
    response = await client.post("/v1/monitors/cancer-drift/run", params={"at": at})
    if message is None:  # the earliest time a store holds is a valid (empty) window end
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "waiting_for_predictions"  # no traffic yet
        return
    assert response.status_code == 422, response.text
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["query", "at"]
    assert message in problem["msg"]


# -- the CLI ----------------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    fixture = "postgres_url" if request.param == "postgres" else "sqlite_url"
    return str(request.getfixturevalue(fixture))


async def _history_in(config: Path, demo_dir: Path) -> None:
    settings = DeploymentSettings(config=config, scheduler=False, logging="durable")
    async with api_client(create_app(settings)) as c:
        await _load_history(c, demo_dir)


async def test_backfill_writes_one_report_per_step_and_says_when_drift_began(
    tmp_path: Path, store_url: str, demo_dir: Path
) -> None:
    config = _config(tmp_path, store_url, demo_dir)
    await _history_in(config, demo_dir)
    result = CliRunner().invoke(
        cli,
        [
            "backfill",
            "cancer-drift",
            "--from",
            HOURS[0].isoformat(),
            "--to",
            HOURS[-1].isoformat(),
            "--every",
            "1h",
            "-c",
            str(config),
        ],
    )
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert f"first drifted window ends {HOURS[2]:%Y-%m-%d %H:%M:%S} UTC" in said
    assert "4 backfilled report(s)" in said
    runtime = Runtime.from_path(config, load_models=False)
    try:
        reports = sorted(
            runtime.store.list_reports("cancer-drift", limit=10), key=lambda r: r.window.end
        )
        assert [r.window.end for r in reports] == HOURS
        assert [r.drifted for r in reports] == DRIFTED
        assert all(r.backfilled for r in reports)
        assert runtime.store.list_alert_states() == []
    finally:
        runtime.close()


async def test_backfill_with_alerts_fires_them(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> None:
    config = _config(tmp_path, sqlite_url, demo_dir)
    await _history_in(config, demo_dir)
    args = ["backfill", "cancer-drift", "--from", HOURS[0].isoformat()]
    args += ["--to", HOURS[-1].isoformat(), "--every", "1h", "--alerts", "-c", str(config)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    runtime = Runtime.from_path(config, load_models=False)
    try:
        states = runtime.store.list_alert_states("firing")
        assert states and {s.monitor for s in states} == {"cancer-drift"}
    finally:
        runtime.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "--from", "2026-01-01"], "unknown monitor 'nope'"),
        (["cancer-drift", "--from", "yesterday"], "--from 'yesterday' is not an ISO 8601"),
        (["cancer-drift", "--from", "2026-01-02", "--to", "2026-01-01"], "is after --to"),
        (["cancer-drift", "--from", "2026-01-01", "--to", "2999-01-01"], "in the future"),
        (["cancer-drift", "--from", "2026-01-01", "--every", "0s"], "--every"),
        (["cancer-drift", "--from", "2026-01-01", "--every", "soon"], "--every"),
        (["cancer-drift", "--from", "2000-01-01", "--every", "1s"], "steps of 1s"),
    ],
)
def test_backfill_refuses_bad_input_with_exit_code_2(
    tmp_path: Path, sqlite_url: str, demo_dir: Path, args: list[str], message: str
) -> None:
    config = _config(tmp_path, sqlite_url, demo_dir)
    result = CliRunner().invoke(cli, ["backfill", *args, "-c", str(config)])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
