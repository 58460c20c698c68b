"""``/stats``: rates per time the model was receiving traffic, latency percentiles per request.

A 9,999-row batch is one request: its latency counts once in the percentiles, as in the
``driftscope_prediction_latency_seconds`` histogram, not 9,999 times (which made p50 = p99
= the batch's latency). 2,000 predictions in one minute of a day are 2,000 a minute, not
1.4. Expected values are numpy percentiles of the latencies the test chose and rates worked
out by hand from the timestamps it sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import chain
from pathlib import Path

import numpy as np
import pytest

from driftscope.apps.api.main import create_app
from driftscope.core.config.environment import DeploymentSettings
from driftscope.core.config.yaml_file import load_config
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.core.runtime import Runtime
from driftscope.core.serving.service import PredictionService
from support.api_helpers import api_client, demo_rows
from support.factories import write_config

pytestmark = pytest.mark.anyio


class ScriptedClock:
    """A clock that gives request ``i`` the latency ``latencies_ms[i]``: the service reads it
    twice per request (when the request starts and when scoring ends). A third reading
    raises, so a change in how latency is measured cannot go unnoticed."""

    def __init__(self, latencies_ms: list[float]) -> None:
        self._readings: Iterator[float] = chain.from_iterable(
            (10.0 * i, 10.0 * i + ms / 1000.0) for i, ms in enumerate(latencies_ms)
        )

    def __call__(self) -> float:
        return next(self._readings)

    def exhausted(self) -> bool:
        return next(self._readings, None) is None


async def test_a_batch_is_one_request_in_the_latency_percentiles(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = write_config(tmp_path, store.settings.url.get_secret_value())
    plugins = create_plugin_manager(entry_points=False)
    runtime = Runtime(load_config(config, plugins), plugins)
    plan = [(9_999, 128.0)] + [(1, float(ms)) for ms in range(1, 21)]
    latencies = [ms for _, ms in plan]
    clock = ScriptedClock(latencies)
    service = PredictionService(runtime.models, runtime.config.api, None, clock=clock)
    started = datetime.now(UTC)
    try:
        for size, _ in plan:
            rows = demo_rows(tmp_path, size)
            result = await service.predict("cancer", lambda rows=rows: (rows, ("body", "rows")))
            # what the log writer would store
            runtime.store.write_predictions(result.records)
        assert clock.exhausted()
        stats = runtime.store.prediction_stats(
            "cancer", started - timedelta(minutes=1), datetime.now(UTC) + timedelta(minutes=1)
        )
    finally:
        runtime.close()
    assert stats.count == 9_999 + 20
    expected = np.percentile(latencies, [50, 90, 99])
    found = [stats.latency_p50_ms, stats.latency_p90_ms, stats.latency_p99_ms]
    assert found == pytest.approx(expected, rel=1e-9)
    assert found[0] < 20  # the batch is one slow request among 21, not most of the rows


async def test_rates_are_per_minute_of_traffic_and_records_count_per_latency(
    tmp_path: Path, sqlite_url: str
) -> None:
    config = write_config(tmp_path, sqlite_url)
    now = datetime.now(UTC)
    minute = now.replace(second=0, microsecond=0) - timedelta(minutes=30)
    features = demo_rows(tmp_path, 1)[0]

    def row(at: datetime, latency: float | None) -> dict[str, object]:
        return {
            "features": features,
            "prediction": "1",
            "timestamp": at.isoformat(),
            "latency_ms": latency,
        }

    # a batch of 2,000 scored elsewhere in one call inside one minute: its latency on one row
    burst = [
        row(minute + timedelta(milliseconds=25 * i), 128.0 if i == 0 else None) for i in range(2000)
    ]
    # three hours earlier, 600 single predictions over exactly three minutes, each its own request
    earlier = minute - timedelta(hours=3)
    singles = [row(earlier + timedelta(seconds=0.3 * i), float(i % 20 + 1)) for i in range(600)]

    async with api_client(create_app(DeploymentSettings(config=config, scheduler=False))) as client:
        for rows in (burst, singles):
            response = await client.post("/v1/models/cancer/records", json={"rows": rows})
            assert response.status_code == 200, response.text
        stats = (await client.get("/v1/models/cancer/stats", params={"last": "24h"})).json()
        recent = (await client.get("/v1/models/cancer/stats", params={"last": "1h"})).json()

    assert stats["count"] == 2600
    assert stats["active_minutes"] == 4  # one minute of the burst, three of the singles
    assert stats["rate_per_minute"] == pytest.approx(2600 / 4)
    assert stats["rate_per_second"] == pytest.approx(2600 / 4 / 60)
    latencies = [128.0] + [float(i % 20 + 1) for i in range(600)]
    expected = np.percentile(latencies, [50, 90, 99])
    found = [stats["latency_p50_ms"], stats["latency_p90_ms"], stats["latency_p99_ms"]]
    assert found == pytest.approx(expected, rel=1e-9)

    # the last hour holds only the burst: 2,000 in its one minute
    assert (recent["count"], recent["active_minutes"]) == (2000, 1)
    assert recent["rate_per_minute"] == pytest.approx(2000.0)
    assert recent["latency_p50_ms"] == recent["latency_p99_ms"] == pytest.approx(128.0)


async def test_no_traffic_is_a_rate_of_zero(tmp_path: Path, sqlite_url: str) -> None:
    config = write_config(tmp_path, sqlite_url)
    async with api_client(create_app(DeploymentSettings(config=config, scheduler=False))) as client:
        stats = (await client.get("/v1/models/cancer/stats")).json()
    assert (stats["count"], stats["active_minutes"]) == (0, 0)
    assert stats["rate_per_second"] == stats["rate_per_minute"] == 0.0
    assert stats["latency_p50_ms"] is None
