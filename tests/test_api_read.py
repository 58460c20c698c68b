"""The read endpoints, run-now, health checks and /metrics, through HTTP against the real app."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
import yaml
from prometheus_client.parser import text_string_to_metric_families
from scipy import stats
from sklearn.metrics import accuracy_score

from driftscope.apps.api.main import create_app
from driftscope.apps.demo.model import TARGET
from driftscope.core.config.environment import DeploymentSettings
from driftscope.core.contracts.store import AlertEvent, AlertState
from driftscope.core.errors import StoreError
from support.api_helpers import api_client, demo_labels, demo_model, demo_rows, make_demo_config

pytestmark = pytest.mark.anyio
PREDICT = "/v1/models/cancer/predict"

REPORT_KEYS = {
    "id",
    "monitor",
    "model",
    "created_at",
    "window",
    "drifted",
    "status",
    "duration_ms",
    "backfilled",
    "results",
    "features",
}
SUMMARY_KEYS = {"name", "kind", "result_kind", "reference", "current", "histogram", "sampled"}
SIDE_KEYS = {
    "rows",
    "missing",
    "infinite",
    "out_of_range",
    "unseen",
    "mean",
    "std",
    "min",
    "max",
    "distinct",
}
RESULT_KEYS = {
    "kind",
    "feature",
    "detector",
    "statistic",
    "p_value",
    "threshold",
    "drifted",
    "status",
    "error",
    "details",
    # what the decision compared (see driftscope.core.contracts.comparison)
    "compared",
    "value",
    "drifts_when",
    "p_value_adjusted",
    "statistic_floor",
}


@pytest.fixture
async def client(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    config = make_demo_config(tmp_path, sqlite_url, model_folder=demo_dir)
    async with api_client(create_app(DeploymentSettings(config=config, scheduler=False))) as c:
        yield c


@dataclass(frozen=True)
class Sent:
    """Traffic a test sent: the rows, the labels it gave them and what the API predicted."""

    ids: list[str]
    rows: pd.DataFrame
    labels: list[int | None]
    predictions: list[str]
    probabilities: list[float]  # of class "1"

    def __add__(self, other: Sent) -> Sent:
        return Sent(
            self.ids + other.ids,
            pd.concat([self.rows, other.rows], ignore_index=True),
            self.labels + other.labels,
            self.predictions + other.predictions,
            self.probabilities + other.probabilities,
        )


def _answered(features: list[dict[str, float]], answer: dict[str, Any]) -> Sent:
    """Unlabelled rows and what the predict endpoint answered for them."""
    predictions = answer["predictions"]
    return Sent(
        [p["id"] for p in predictions],
        pd.DataFrame(features),
        [None] * len(predictions),
        [p["prediction"] for p in predictions],
        [p["probabilities"]["1"] for p in predictions],
    )


async def _traffic(
    client: httpx.AsyncClient, demo_dir: Path, rows: int = 60, *, wrong_every: int = 0
) -> Sent:
    """Predict ``rows`` held-out rows and send their true labels (every ``wrong_every``-th
    label flipped, so accuracy is not simply 1)."""
    features = demo_rows(demo_dir, rows)
    response = await client.post("/v1/models/cancer/predict", json={"rows": features})
    sent = _answered(features, response.json())
    labels: list[int | None] = [
        1 - y if wrong_every and i % wrong_every == 0 else y
        for i, y in enumerate(demo_labels(demo_dir, rows))
    ]
    await client.post(
        "/v1/models/cancer/feedback",
        json={"labels": [{"id": i, "label": y} for i, y in zip(sent.ids, labels, strict=True)]},
    )
    return Sent(sent.ids, sent.rows, labels, sent.predictions, sent.probabilities)


@dataclass(frozen=True)
class Expected:
    """One result of the demo monitor, computed without driftscope."""

    statistic: float
    drifted: bool
    p_value_adjusted: float | None = None
    edges: list[float] | None = None
    current_counts: list[int] | None = None
    reference_value: float | None = None


def _psi_by_hand(
    reference: np.ndarray, current: np.ndarray
) -> tuple[float, list[float], list[int]]:
    """PSI over 10 bins at the reference's inverted-CDF deciles, right-closed and open at both
    ends, each proportion floored at 1e-4 (the psi detector's documented defaults)."""
    edges = np.unique(np.quantile(reference, np.arange(1, 10) / 10, method="inverted_cdf"))
    ref_counts = np.bincount(np.searchsorted(edges, reference), minlength=edges.size + 1)
    cur_counts = np.bincount(np.searchsorted(edges, current), minlength=edges.size + 1)
    p = np.maximum(ref_counts / reference.size, 1e-4)
    q = np.maximum(cur_counts / current.size, 1e-4)
    return float(np.sum((q - p) * np.log(q / p))), edges.tolist(), cur_counts.tolist()


def _expected(demo_dir: Path, sent: Sent) -> dict[tuple[str, str], Expected]:
    """Every result of ``make_demo_config``'s monitor (ks at 0.05 with Bonferroni, psi at
    0.25, accuracy with max_drop 0.15) on ``sent``, keyed (detector, feature or kind) as on
    /metrics: KS from scipy, PSI by hand, accuracy from scikit-learn, the reference's
    predictions from the model file loaded with skops directly."""
    demo = demo_model(demo_dir)
    reference = pd.read_csv(demo.reference_path)
    model = sio.load(demo.model_path, trusted=sio.get_untrusted_types(file=demo.model_path))
    ref_x = reference[demo.feature_names]
    numeric = {name: (reference[name].to_numpy(), sent.rows[name].to_numpy()) for name in ref_x}
    numeric["probability:1"] = (model.predict_proba(ref_x)[:, 1], np.array(sent.probabilities))
    expected: dict[tuple[str, str], Expected] = {}
    for name, (ref, cur) in numeric.items():
        ks = stats.ks_2samp(ref, cur)
        adjusted = min(1.0, ks.pvalue * len(numeric))  # Bonferroni over the 31 KS tests
        expected["ks", name] = Expected(ks.statistic, bool(adjusted < 0.05), adjusted)
        psi, edges, counts = _psi_by_hand(ref, cur)
        expected["psi", name] = Expected(psi, bool(psi >= 0.25), None, edges, counts)
    ref_classes = pd.Series(model.predict(ref_x).astype(str)).value_counts(normalize=True)
    cur_classes = pd.Series(sent.predictions).value_counts(normalize=True)
    p = np.maximum(ref_classes.reindex(["0", "1"], fill_value=0).to_numpy(), 1e-4)
    q = np.maximum(cur_classes.reindex(["0", "1"], fill_value=0).to_numpy(), 1e-4)
    class_psi = float(np.sum((q - p) * np.log(q / p)))
    expected["psi", "prediction"] = Expected(class_psi, bool(class_psi >= 0.25))
    reference_accuracy = accuracy_score(reference[TARGET], model.predict(ref_x))
    labelled = [
        (y, int(p)) for y, p in zip(sent.labels, sent.predictions, strict=True) if y is not None
    ]
    accuracy = accuracy_score([y for y, _ in labelled], [p for _, p in labelled])
    expected["performance", "performance"] = Expected(
        accuracy, bool(accuracy < reference_accuracy * 0.85), reference_value=reference_accuracy
    )
    return expected


def _check_results(
    results: list[dict[str, Any]], expected: dict[tuple[str, str], Expected]
) -> None:
    got = {(r["detector"], r["feature"] or r["kind"]): r for r in results}
    assert set(got) == set(expected)
    for key, want in expected.items():
        row = got[key]
        assert row["status"] == "ok", (key, row["error"])
        assert row["statistic"] == pytest.approx(want.statistic, rel=1e-9, abs=1e-12), key
        assert row["drifted"] is want.drifted, (key, row["statistic"], row["threshold"])
        details = row["details"]
        if want.p_value_adjusted is not None:
            assert details["p_value_adjusted"] == pytest.approx(want.p_value_adjusted, rel=1e-6)
            assert details["correction"] == "bonferroni"
        if want.edges is not None:
            assert details["bins"]["edges"] == pytest.approx(want.edges, rel=1e-12), key
            assert details["bins"]["current_counts"] == want.current_counts, key
        if want.reference_value is not None:
            assert details["reference_value"] == pytest.approx(want.reference_value, rel=1e-12)
            assert row["threshold"] == pytest.approx(want.reference_value * 0.85, rel=1e-12)


async def test_models(client: httpx.AsyncClient, demo_dir: Path) -> None:
    (model,) = (await client.get("/v1/models")).json()["models"]
    assert model["name"] == "cancer" and model["task"] == "classification"
    assert [f["name"] for f in model["features"]] == demo_model(demo_dir).feature_names
    assert {f["kind"] for f in model["features"]} == {"numeric"}
    assert model["classes"] == ["0", "1"]
    assert model["serves_predictions"] and model["has_probabilities"]


async def test_monitors_and_latest_report(client: httpx.AsyncClient, demo_dir: Path) -> None:
    (monitor,) = (await client.get("/v1/monitors")).json()["monitors"]
    assert monitor["name"] == "cancer-drift" and monitor["model"] == "cancer"
    assert monitor["every_seconds"] == 3600 and monitor["window_seconds"] == 3600
    assert monitor["detectors"] == ["ks", "psi", "performance"]
    assert monitor["latest_report"] is None
    await _traffic(client, demo_dir)
    report = (await client.post("/v1/monitors/cancer-drift/run")).json()
    (monitor,) = (await client.get("/v1/monitors")).json()["monitors"]
    assert monitor["latest_report"]["id"] == report["id"]
    assert monitor["latest_report"]["rows"] == 60


async def test_run_now_returns_the_published_report_shape(
    client: httpx.AsyncClient, demo_dir: Path
) -> None:
    sent = await _traffic(client, demo_dir)
    response = await client.post("/v1/monitors/cancer-drift/run")
    assert response.status_code == 200
    report = response.json()
    assert set(report) == REPORT_KEYS
    assert report["monitor"] == "cancer-drift" and report["model"] == "cancer"
    assert set(report["window"]) >= {"start", "end", "rows", "labelled_rows"}
    assert report["window"]["rows"] == 60 and report["window"]["labelled_rows"] == 60
    kinds = {r["kind"] for r in report["results"]}
    assert kinds == {"feature", "prediction", "performance"}
    for result in report["results"]:
        assert set(result) == RESULT_KEYS
    # every value, against scipy, scikit-learn and PSI by hand on the rows sent
    expected = _expected(demo_dir, sent)
    _check_results(report["results"], expected)
    # 60 rows in 10 bins: PSI's sampling noise alone is about 9 * (1/60 + 1/171) = 0.2, so
    # some held-out features cross 0.25 (KS, corrected, finds nothing; accuracy holds)
    psi_drifted = {f for (d, f), e in expected.items() if d == "psi" and e.drifted}
    assert report["drifted"] is True and len(psi_drifted) >= 1
    assert not any(e.drifted for (d, _), e in expected.items() if d != "psi")
    datetime.fromisoformat(report["created_at"])
    stored = (await client.get(f"/v1/reports/{report['id']}")).json()
    assert stored["id"] == report["id"] and stored["results"] == report["results"]
    # one summary per monitored column: the features, the prediction, its probability
    names = [s["name"] for s in stored["features"]]
    assert names == [*demo_model(demo_dir).feature_names, "prediction", "probability:1"]
    for summary in stored["features"]:
        assert set(summary) == SUMMARY_KEYS
        assert set(summary["reference"]) == set(summary["current"]) == SIDE_KEYS
        assert summary["current"]["rows"] == 60 and summary["sampled"] is False
    radius = stored["features"][0]
    assert radius["kind"] == "numeric" and len(radius["histogram"]["edges"]) == 21
    assert len(radius["histogram"]["current"]) == 22 and sum(radius["histogram"]["current"]) == 60
    prediction = stored["features"][-2]
    assert prediction["histogram"]["categories"][-2:] == ["(other)", "(unseen)"]


async def test_unknown_monitor_and_report_are_404(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v1/monitors/nope/run")).status_code == 404
    assert (await client.get("/v1/monitors/nope/reports")).status_code == 404
    assert (await client.get("/v1/reports/nope")).status_code == 404


async def test_reports_newest_first_paginated(client: httpx.AsyncClient, demo_dir: Path) -> None:
    await _traffic(client, demo_dir, rows=30)
    made = []
    for _ in range(5):
        made.append((await client.post("/v1/monitors/cancer-drift/run")).json())
        await asyncio.sleep(0.002)
    newest_first = [r["id"] for r in reversed(made)]
    url = "/v1/monitors/cancer-drift/reports"
    first = (await client.get(url, params={"limit": 2})).json()
    assert [r["id"] for r in first["reports"]] == newest_first[:2]
    second = (await client.get(url, params={"limit": 2, "before": first["next_before"]})).json()
    assert [r["id"] for r in second["reports"]] == newest_first[2:4]
    third = (await client.get(url, params={"limit": 2, "before": second["next_before"]})).json()
    assert [r["id"] for r in third["reports"]] == newest_first[4:]
    assert third["next_before"] is None
    since = (await client.get(url, params={"since": made[3]["created_at"]})).json()
    assert [r["id"] for r in since["reports"]] == newest_first[:2]
    light = (await client.get(url, params={"limit": 1, "details": False})).json()
    light_results = light["reports"][0]["results"]
    # plain values stay (sizes, the adjusted p-value), chart data (bins, ECDFs) goes
    assert all(not isinstance(v, dict | list) for r in light_results for v in r["details"].values())
    ks = [r for r in light_results if r["detector"] == "ks" and r["status"] == "ok"]
    assert ks and all("p_value_adjusted" in r["details"] for r in ks)
    assert all("ecdf" not in r["details"] for r in ks)
    # the summaries' numbers stay, their histograms (chart data) go
    summaries = light["reports"][0]["features"]
    assert summaries and all(s["histogram"] is None for s in summaries)
    assert all(s["current"]["rows"] == 30 for s in summaries)
    assert (await client.get(url, params={"limit": 0})).status_code == 422


async def test_alerts_from_the_store(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/alerts")).json() == {"alerts": []}
    runtime = client._transport.app.state.api.runtime  # type: ignore[attr-defined]
    now = datetime.fromisoformat("2030-01-01T00:00:00+00:00")
    runtime.store.commit_alert_changes(
        [
            AlertState("cancer-drift", "psi", "mean radius", "firing", 1, 0, now, None, 0.4, 0.25),
            AlertState("cancer-drift", "ks", "mean area", "ok", 0, 3, now),
        ],
        [AlertEvent("cancer-drift", "psi", "mean radius", "ok", "firing", now, 0.4, 0.25)],
        [],
    )
    firing = (await client.get("/v1/alerts", params={"state": "firing"})).json()["alerts"]
    assert [(a["detector"], a["feature"], a["state"]) for a in firing] == [
        ("psi", "mean radius", "firing")
    ]
    assert len((await client.get("/v1/alerts")).json()["alerts"]) == 2
    assert (await client.get("/v1/alerts", params={"state": "bogus"})).status_code == 422
    (event,) = (await client.get("/v1/alerts/events")).json()["events"]
    assert event["from_state"] == "ok" and event["to_state"] == "firing"


async def test_stats(client: httpx.AsyncClient, demo_dir: Path) -> None:
    empty = (await client.get("/v1/models/cancer/stats")).json()
    assert empty["count"] == 0 and empty["labelled_share"] is None
    sent = await _traffic(client, demo_dir, rows=40)
    await client.post("/v1/models/cancer/predict", json={"features": demo_rows(demo_dir, 1)[0]})
    counts = (await client.get("/v1/models/cancer/stats", params={"last": "15m"})).json()
    assert counts["count"] == 41 and counts["labelled"] == len(sent.ids)
    assert counts["labelled_share"] == pytest.approx(40 / 41)
    # per minute of traffic, not per the 15 minutes asked for (two requests just now)
    assert counts["active_minutes"] in (1, 2)
    assert counts["rate_per_second"] == pytest.approx(41 / (60 * counts["active_minutes"]))
    assert 0 < counts["latency_p50_ms"] <= counts["latency_p90_ms"] <= counts["latency_p99_ms"]
    for bad in ("soon", "-5m", "999999999999d"):
        response = await client.get("/v1/models/cancer/stats", params={"last": bad})
        assert response.status_code == 422, bad


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True
    assert {"store", "models", "logging"} <= set(body["checks"])
    assert "scheduler" not in body["checks"]  # disabled in this app


async def test_readiness_fails_when_the_store_is_down_without_leaking_the_url(
    tmp_path: Path, demo_dir: Path
) -> None:
    url = f"sqlite:///{tmp_path}/s3cret-name.db"
    config = make_demo_config(tmp_path, url, model_folder=demo_dir)
    app = create_app(DeploymentSettings(config=config, scheduler=False))
    async with api_client(app) as client:
        store = app.state.api.runtime.store

        def down() -> None:
            raise StoreError(f"cannot connect to {url}")

        store.ping = down
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["store"]["ok"] is False
        assert "s3cret-name" not in response.text


async def test_scheduler_runs_with_the_app_and_shows_in_readiness(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> None:
    config = make_demo_config(tmp_path, sqlite_url, every="1h", model_folder=demo_dir)
    app = create_app(DeploymentSettings(config=config))
    async with api_client(app) as client:
        body = (await client.get("/readyz")).json()
        assert body["checks"]["scheduler"]["ok"] is True
        assert app.state.api.scheduler.running
        metrics = (await client.get("/metrics")).text
        assert "driftscope_scheduler_running 1.0" in metrics
    assert not app.state.api  # stopped and released on shutdown


async def test_metrics_parse_with_prometheus_parser(
    client: httpx.AsyncClient, demo_dir: Path
) -> None:
    sent = await _traffic(client, demo_dir, rows=30, wrong_every=5)
    for row in demo_rows(demo_dir, 3):
        answer = await client.post("/v1/models/cancer/predict", json={"features": row})
        sent += _answered([row], answer.json())
    await client.post("/v1/models/cancer/predict", json={"features": {"x": 1}})  # 422
    report = (await client.post("/v1/monitors/cancer-drift/run")).json()
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}

    def value(family: str, sample: str, **labels: str) -> float:
        for s in families[family].samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
        raise AssertionError(f"no sample {sample} {labels}")

    assert value("driftscope_predictions", "driftscope_predictions_total", model="cancer") == 33
    assert families["driftscope_prediction_latency_seconds"].type == "histogram"
    assert (
        value(
            "driftscope_prediction_latency_seconds",
            "driftscope_prediction_latency_seconds_count",
            model="cancer",
        )
        == 4
    )
    assert (
        value(
            "driftscope_prediction_errors",
            "driftscope_prediction_errors_total",
            model="cancer",
            reason="validation",
        )
        == 1
    )
    assert value("driftscope_log_queue_depth", "driftscope_log_queue_depth") == 0
    assert value("driftscope_log_rows_dropped", "driftscope_log_rows_dropped_total") == 0
    assert value("driftscope_log_rows_written", "driftscope_log_rows_written_total") == 33
    # bounded caches and queues report their size against their bound
    assert value("driftscope_profile_cache_capacity", "driftscope_profile_cache_capacity") == 4096
    misses = value("driftscope_profile_cache_misses", "driftscope_profile_cache_misses_total")
    assert misses == value("driftscope_profile_cache_entries", "driftscope_profile_cache_entries")
    assert misses > 0
    assert value("driftscope_outbox_capacity", "driftscope_outbox_capacity") == 1000
    assert value("driftscope_outbox_overflowed", "driftscope_outbox_overflowed_total") == 0
    drift = families["driftscope_drift_statistic"].samples
    assert drift and all(set(s.labels) == {"monitor", "detector", "feature"} for s in drift)
    assert {s.labels["detector"] for s in drift} == {"ks", "psi", "performance"}
    # the accuracy gauge: scikit-learn's accuracy of the API's predictions against the labels
    # sent (every fifth one wrong), 30 labelled rows of the 33 in the window
    accuracy = accuracy_score(sent.labels[:30], [int(p) for p in sent.predictions[:30]])
    assert 0.7 <= accuracy <= 0.85  # the flipped labels bite: not 1.0 by luck
    assert value(
        "driftscope_drift_statistic",
        "driftscope_drift_statistic",
        monitor="cancer-drift",
        detector="performance",
        feature="performance",
    ) == pytest.approx(accuracy, rel=1e-12)
    # every gauge holds its result's value, which the run-now answer gives
    results = {(r["detector"], r["feature"] or r["kind"]): r for r in report["results"]}
    assert len(drift) == len(results) == 64
    for (detector, feature), row in results.items():
        labels = {"monitor": "cancer-drift", "detector": detector, "feature": feature}
        family = "driftscope_drift_statistic"
        assert value(family, family, **labels) == row["statistic"], labels
        flag = value("driftscope_drift_detected", "driftscope_drift_detected", **labels)
        assert flag == (1.0 if row["drifted"] else 0.0), labels
        p_value = value("driftscope_drift_p_value", "driftscope_drift_p_value", **labels)
        assert p_value == row["p_value"] if row["p_value"] is not None else np.isnan(p_value)
    _check_results(report["results"], _expected(demo_dir, sent))
    # no prediction ids or raw values as label values
    ids_or_values = [
        s for f in families.values() for s in f.samples for v in s.labels.values() if len(v) >= 32
    ]
    assert ids_or_values == []


async def test_drift_gauges_are_seeded_from_the_latest_stored_report(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> None:
    config = make_demo_config(tmp_path, sqlite_url, model_folder=demo_dir)
    async with api_client(create_app(DeploymentSettings(config=config, scheduler=False))) as client:
        await _traffic(client, demo_dir, rows=30)
        report = (await client.post("/v1/monitors/cancer-drift/run")).json()
    # a new process: nothing observed yet, the gauges come from the stored report
    async with api_client(create_app(DeploymentSettings(config=config, scheduler=False))) as client:
        text = (await client.get("/metrics")).text
    samples = {
        (s.labels["detector"], s.labels["feature"]): s.value
        for f in text_string_to_metric_families(text)
        if f.name == "driftscope_drift_statistic"
        for s in f.samples
        if s.labels["monitor"] == "cancer-drift"
    }
    results = {
        (r["detector"], r["feature"] or r["kind"]): r["statistic"] for r in report["results"]
    }
    assert samples == results and len(samples) == 64


async def test_delivery_problems_are_readiness_warnings(client: httpx.AsyncClient) -> None:
    from driftscope.core.alerting.delivery import config_hash
    from driftscope.core.contracts.store import NotifierStatus

    runtime = client._transport.app.state.api.runtime  # type: ignore[attr-defined]
    body = (await client.get("/readyz")).json()
    assert body["checks"]["delivery"]["ok"] is True and body["warnings"] == []
    name, notifier = next(iter(runtime.notifiers.items()))
    runtime.store.set_notifier_status(
        NotifierStatus(name, config_hash(notifier.settings), disabled=True, reason="HTTP 404")
    )
    response = await client.get("/readyz")
    assert response.status_code == 200  # a disabled notifier does not stop serving
    assert any("disabled" in w and name in w for w in response.json()["warnings"])


async def _until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + 60
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not reached in 60 s")
        await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_a_receiver_that_is_down_shows_as_degraded_on_readyz_and_metrics(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> None:
    from support.discord_standin import WEBHOOK_TOKEN, DiscordStandIn, server_error

    with DiscordStandIn() as discord:
        discord.script(*[server_error() for _ in range(1000)])
        notifiers = [{"name": "ops", "type": "discord", "webhook_url": discord.url}]
        config = make_demo_config(tmp_path, sqlite_url, model_folder=demo_dir, notifiers=notifiers)
        document = yaml.safe_load(config.read_text())
        document["delivery"] = {
            "fast_attempts": 1,
            "backoff_initial": "50ms",
            "backoff_max": "100ms",
            "give_up_after": "5s",
            "poll_interval": "50ms",
        }
        config.write_text(yaml.safe_dump(document))
        async with api_client(
            create_app(DeploymentSettings(config=config, scheduler=False))
        ) as client:
            # one prediction, fewer than min_samples: the run finds too few rows, and "no
            # data" is announced to ops
            one = {"features": demo_rows(demo_dir, 1)[0]}
            assert (await client.post("/v1/models/cancer/predict", json=one)).status_code == 200
            await client.post("/v1/monitors/cancer-drift/run")

            async def tried_twice() -> bool:
                return len(discord.requests) >= 2

            await _until(tried_twice, "two failed attempts")
            response = await client.get("/readyz")
            assert response.status_code == 200  # a receiver being down does not stop serving
            check = response.json()["checks"]["delivery"]
            assert check["ok"] and check["detail"].startswith("degraded: notifier ops: 1 message")
            ops = check["data"]["notifiers"]["ops"]
            assert (ops["pending"], ops["retrying"], ops["given_up"]) == (1, 1, 0)
            (waiting,) = check["data"]["messages"]
            assert waiting["status"] == "pending" and waiting["attempts"] >= 1
            assert waiting["changes"] == ["monitor/: ok → no_data"]
            families = {
                f.name: f
                for f in text_string_to_metric_families((await client.get("/metrics")).text)
            }

            def sample(family: str) -> float:
                (found,) = [s for s in families[family].samples if s.labels == {"notifier": "ops"}]
                return found.value

            assert sample("driftscope_outbox_pending") == 1
            assert sample("driftscope_outbox_retrying") == 1
            assert sample("driftscope_outbox_given_up") == 0
            created = datetime.fromisoformat(waiting["created_at"]).timestamp()
            assert sample("driftscope_outbox_oldest_pending_timestamp_seconds") == created

            async def given_up() -> bool:
                body = (await client.get("/readyz")).json()
                return body["checks"]["delivery"]["data"]["notifiers"]["ops"]["given_up"] == 1

            await _until(given_up, "the message given up after give_up_after")
            response = await client.get("/readyz")
            assert response.status_code == 200
            body = response.json()
            assert "1 message(s) given up" in body["checks"]["delivery"]["detail"]
            assert any("given up" in w for w in body["warnings"])
            (lost,) = body["checks"]["delivery"]["data"]["messages"]
            assert lost["status"] == "given_up" and "given up: undelivered 5s" in lost["last_error"]
            metrics = (await client.get("/metrics")).text
            assert 'driftscope_outbox_given_up{notifier="ops"} 1.0' in metrics
            assert WEBHOOK_TOKEN not in response.text and WEBHOOK_TOKEN not in metrics


async def test_app_started_hook_fires_with_app_and_settings(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> None:
    from driftscope import hookimpl
    from driftscope.core.runtime import Runtime

    seen: list[tuple[object, object]] = []

    class Observer:
        @hookimpl
        def driftscope_app_started(self, app: object, settings: object) -> None:
            seen.append((app, settings))

    config = make_demo_config(tmp_path, sqlite_url, model_folder=demo_dir)
    settings = DeploymentSettings(scheduler=False)
    runtime = Runtime.from_path(config, settings)
    runtime.plugins.register(Observer(), "test-observer")
    try:
        app = create_app(settings, runtime)
        async with api_client(app) as client:
            assert seen == [(app, settings)]
            assert (await client.get("/healthz")).status_code == 200
        assert not runtime.delivery.running  # the app stops what it started
    finally:
        runtime.close()


async def test_a_failing_alert_observer_is_counted_on_metrics(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> None:
    from driftscope import hookimpl
    from driftscope.core.runtime import Runtime

    seen: list[str] = []

    class Broken:
        @hookimpl
        def driftscope_alert_changed(self, event: AlertEvent) -> None:
            raise RuntimeError("observer bug")

    class Watching:
        @hookimpl
        def driftscope_alert_changed(self, event: AlertEvent) -> None:
            seen.append(event.to_state)

    config = make_demo_config(tmp_path, sqlite_url, model_folder=demo_dir)
    settings = DeploymentSettings(scheduler=False)
    runtime = Runtime.from_path(config, settings)
    runtime.plugins.register(Broken(), "broken-alert-observer")
    runtime.plugins.register(Watching(), "watching-observer")
    try:
        async with api_client(create_app(settings, runtime)) as client:
            # one prediction: the window is below min_samples, so the monitor goes no_data
            one = {"features": demo_rows(demo_dir, 1)[0]}
            assert (await client.post("/v1/models/cancer/predict", json=one)).status_code == 200
            assert (await client.post("/v1/monitors/cancer-drift/run")).status_code == 200
            assert seen == ["no_data"]
            families = {
                f.name: f
                for f in text_string_to_metric_families((await client.get("/metrics")).text)
            }
        samples = {
            (s.labels["plugin"], s.labels["where"]): s.value
            for s in families["driftscope_plugin_errors"].samples
            if s.name == "driftscope_plugin_errors_total"
        }
        assert samples == {("broken-alert-observer", "driftscope_alert_changed"): 1.0}
    finally:
        runtime.close()


LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("BEGIN EXCLUSIVE")
conn.execute("UPDATE schema_version SET version = version")
print("locked", flush=True)
sys.stdin.read()  # hold the lock until the test closes stdin
"""


async def _poll(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.02)


async def test_readiness_answers_while_another_process_locks_the_database(
    tmp_path: Path, demo_dir: Path
) -> None:
    from driftscope.core.contracts.store import NotifierStatus

    database = tmp_path / "locked.db"
    config = make_demo_config(
        tmp_path, f"sqlite:///{database}", api={"logging": "sync"}, model_folder=demo_dir
    )
    app = create_app(DeploymentSettings(config=config, scheduler=False))
    async with api_client(app) as client:
        assert (await client.get("/readyz")).status_code == 200
        store = app.state.api.runtime.store
        pool = store._engine.pool
        locker = subprocess.Popen(
            [sys.executable, "-c", LOCKER, str(database)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        writers: list[threading.Thread] = []
        predictions: list[asyncio.Task[httpx.Response]] = []
        try:
            assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
            # every pooled connection waits on the lock (30 s busy timeout) ...
            for i in range(pool.size() + pool._max_overflow + 2):
                status = NotifierStatus(f"n{i}", "hash", disabled=False)
                writer = threading.Thread(target=store.set_notifier_status, args=(status,))
                writer.start()
                writers.append(writer)
            # ... and sync-mode predictions fill the default executor, waiting for it too
            row = demo_rows(demo_dir, 1)[0]
            predictions = [
                asyncio.create_task(client.post(PREDICT, json={"features": row})) for _ in range(12)
            ]
            await _poll(
                lambda: pool.checkedout() >= pool.size() + pool._max_overflow,
                "every pooled connection is taken",
            )
            for _ in range(3):
                # the deadline is generous; before the fix the answer waited for the lock
                async with asyncio.timeout(10):
                    response = await client.get("/readyz")
                assert response.status_code == 503
                assert response.json()["checks"]["store"] == {
                    "ok": False,
                    "detail": "the store is not reachable: timed out",
                    "data": {},
                }
                assert "the outbox could not be read in time" in response.text
            assert locker.poll() is None  # the lock was held all along
            probes = [t for t in threading.enumerate() if t.name.startswith("driftscope-readyz")]
            # a hanging check is awaited again, not started again: one thread per kind of check
            # (store ping, outbox, dead-letter count)
            assert len(probes) <= 3
        finally:
            assert locker.stdin is not None
            locker.stdin.close()
            locker.wait(30)
            for writer in writers:
                writer.join(60)
            await asyncio.gather(*predictions, return_exceptions=True)

        async def ready() -> bool:
            return (await client.get("/readyz")).status_code == 200

        deadline = time.monotonic() + 30
        while not await ready():
            assert time.monotonic() < deadline, "readiness never recovered"
            await asyncio.sleep(0.05)
