"""Unit tests of the dashboard's data shaping (apps/dashboard/data/), its Plotly figures
(apps/dashboard/charts.py) and its API client's error lines (apps/dashboard/client.py)."""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pytest

from driftscope.apps.dashboard import charts
from driftscope.apps.dashboard.client import ApiClient, ApiError
from driftscope.apps.dashboard.data.alerts import (
    alert_events,
    alert_rows,
    alerts_by_monitor,
    firing_by_feature,
    state_counts,
)
from driftscope.apps.dashboard.data.catalog import model_names, monitor_names, monitors
from driftscope.apps.dashboard.data.delivery import delivery_status, outbox_messages
from driftscope.apps.dashboard.data.display import (
    DEFAULT_TIME_RANGE,
    TIME_RANGES,
    format_age,
    format_duration,
    format_number,
    metric_label,
    since_for,
)
from driftscope.apps.dashboard.data.drift import (
    DetectorSeries,
    ResultPoint,
    Series,
    detectors_of,
    drawable,
    drift_series,
    heatmap,
    result_points,
    severity,
)
from driftscope.apps.dashboard.data.multivariate import (
    RankedFeature,
    carriers,
    multivariate_findings,
    multivariate_series,
    ranking,
)
from driftscope.apps.dashboard.data.performance import headline, performance_series
from driftscope.apps.dashboard.data.reports import (
    Comparison,
    ResultNumber,
    backfill_spans,
    bin_labels,
    comparison,
    drifted_count_series,
    finding_lines,
    monitor_state,
    report_features,
    report_label,
    result_numbers,
    results_for_feature,
    sample_counts,
    sample_line,
    state_tallies,
    summarize_report,
)
from driftscope.apps.dashboard.data.stats import model_health
from driftscope.apps.dashboard.data.values import items, latest_report, parse_time, sorted_reports
from driftscope.core.contracts.detector import ResultStatus
from driftscope.core.contracts.report import ReportStatus, ResultRow
from support.reports import report, result

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def published(
    minutes: int,
    results: list[ResultRow],
    *,
    status: ReportStatus = "ok",
    rows: int = 200,
    labelled: int = 50,
    id: str | None = None,
    made_at: datetime | None = None,
    backfilled: bool = False,
) -> dict[str, Any]:
    """A report whose window ends ``minutes`` after T0 (made then, or at ``made_at`` when
    ``backfilled``), in the JSON shape the API publishes it in."""
    return report(
        results=results,
        monitor="m",
        model="cancer",
        at=T0 + timedelta(minutes=minutes),
        id=id or f"r{minutes}",
        status=status,
        rows=rows,
        labelled_rows=labelled,
        duration_ms=3.0,
        made_at=made_at,
        backfilled=backfilled,
    ).to_dict()


def psi(feature: str, value: float, **kw: Any) -> ResultRow:
    return result(feature, "psi", value, threshold=0.25, drifted=value >= 0.25, **kw)


def ks(feature: str, d: float, p: float, **kw: Any) -> ResultRow:
    return result(feature, "ks", d, p_value=p, threshold=0.05, drifted=p < 0.05, **kw)


@pytest.fixture
def history() -> list[dict[str, Any]]:
    """Three runs, newest first as the API lists them: ``a`` drifts from the second run."""
    return [
        published(20, [psi("a", 0.9), psi("b", 0.05), ks("a", 0.5, 1e-9), ks("b", 0.05, 0.6)]),
        published(10, [psi("a", 0.4), psi("b", 0.02), ks("a", 0.3, 0.001), ks("b", 0.04, 0.7)]),
        published(0, [psi("a", 0.01), psi("b", 0.03), ks("a", 0.02, 0.9), ks("b", 0.03, 0.8)]),
    ]


# -- time and formatting ----------------------------------------------------------------------


def test_parse_time_accepts_iso_text_z_and_naive_values() -> None:
    assert parse_time("2026-03-01T12:00:00Z") == T0
    assert parse_time("2026-03-01T13:00:00+01:00") == T0
    assert parse_time("2026-03-01T12:00:00") == T0  # naive = UTC
    assert parse_time(T0) == T0
    assert parse_time("yesterday") is None
    assert parse_time(None) is None
    assert parse_time(12) is None


def test_since_for_and_unknown_range_falls_back_to_default() -> None:
    assert since_for("1h", T0) == T0 - timedelta(hours=1)
    assert since_for("7d", T0) == T0 - timedelta(days=7)
    assert since_for("forever", T0) == T0 - TIME_RANGES[DEFAULT_TIME_RANGE]


@pytest.mark.parametrize(
    ("seconds", "long", "short"),
    [
        (10, "just now", "now"),
        (5 * 60, "5 min ago", "5m ago"),
        (3 * 3600, "3 h ago", "3h ago"),
        (3 * 86400, "3 d ago", "3d ago"),
        (-30, "just now", "now"),
    ],
)
def test_format_age(seconds: int, long: str, short: str) -> None:
    moment = T0 - timedelta(seconds=seconds)
    assert format_age(moment, T0) == long
    assert format_age(moment, T0, short=True) == short
    assert format_age(None) == "never"


def test_format_number_and_duration() -> None:
    assert format_number(None) == "-"
    assert format_number(float("nan")) == "-"
    assert format_number(0.25) == "0.250"
    assert format_number(1.5e-9) == "1.50e-09"
    assert format_number(0) == "0.000"
    assert format_duration(60) == "1m"
    assert format_duration(3600) == "1h"
    assert format_duration(172800) == "2d"
    assert format_duration(90) == "90s"
    assert format_duration(None) is None


def test_items_reads_lists_and_wrapped_lists_and_drops_junk() -> None:
    assert items([{"a": 1}, "x", 3]) == [{"a": 1}]
    assert items({"monitors": [{"name": "m"}]}, "monitors") == [{"name": "m"}]
    assert items({"items": [{"x": 1}]}) == [{"x": 1}]
    assert items({"monitors": "nope"}, "monitors") == []
    assert items(None) == []
    assert items("text") == []


# -- results, series and heatmap --------------------------------------------------------------


def test_reports_are_ordered_oldest_first_and_undated_ones_skipped(history: list[Any]) -> None:
    undated = {"id": "x", "created_at": "garbage", "results": []}
    ordered = sorted_reports([*history, undated, "not a report"])  # type: ignore[list-item]
    assert [r["id"] for r in ordered] == ["r0", "r10", "r20"]
    assert latest_report(history)["id"] == "r20"  # type: ignore[index]
    assert latest_report([]) is None


def test_drift_series_per_detector_uses_statistic_or_p_value(history: list[Any]) -> None:
    series = drift_series(history)
    assert list(series) == ["psi", "ks"]
    psi_series = series["psi"]
    assert psi_series.measure == "statistic" and not psi_series.drift_below
    assert psi_series.threshold == 0.25
    assert psi_series.series["a"].values == [0.01, 0.4, 0.9]
    assert psi_series.series["a"].drifted == [False, True, True]
    assert psi_series.series["a"].times == [T0 + timedelta(minutes=m) for m in (0, 10, 20)]
    ks_series = series["ks"]
    assert ks_series.measure == "p-value" and ks_series.drift_below
    assert ks_series.series["a"].values == [0.9, 0.001, 1e-9]
    assert psi_series.ranked_features() == ["a", "b"]


def test_drift_series_prefers_the_adjusted_p_value_and_skips_failures() -> None:
    reports = [
        published(
            0,
            [
                ks("a", 0.2, 0.01, details={"p_value_adjusted": 0.3}),
                result("b", "ks", None, status="failed", error="boom", threshold=0.05),
                result("c", "ks", None, status="insufficient_data", threshold=0.05),
            ],
        )
    ]
    series = drift_series(reports)["ks"]
    assert series.series["a"].values == [0.3]
    assert set(series.series) == {"a"}


def test_drift_series_of_the_prediction_kind() -> None:
    reports = [
        published(
            0,
            [
                psi("a", 0.1),
                result(
                    "prediction",
                    "chi2",
                    9.0,
                    p_value=0.001,
                    threshold=0.05,
                    drifted=True,
                    kind="prediction",
                ),
                result("probability:1", "psi", 0.4, drifted=True, kind="prediction"),
            ],
        )
    ]
    series = drift_series(reports, "prediction")
    assert set(series) == {"chi2", "psi"}
    assert series["psi"].series["probability:1"].values == [0.4]
    assert "a" not in series["psi"].series


def test_severity_is_one_at_the_threshold_and_agrees_with_the_decision() -> None:
    def point(value: float, uses_p: bool, drifted: bool, threshold: float) -> ResultPoint:
        return ResultPoint(
            T0,
            "r",
            "feature",
            "a",
            "x",
            None if uses_p else value,
            value if uses_p else None,
            threshold,
            drifted,
            "ok",
            None,
            uses_p,
        )

    assert severity(point(0.25, False, True, 0.25)) == 1.0
    assert severity(point(0.5, False, True, 0.25)) == 2.0
    assert severity(point(10.0, False, True, 0.25)) == 3.0  # capped
    assert severity(point(0.125, False, False, 0.25)) == 0.5
    # p-values: log p / log alpha
    assert severity(point(0.05, True, True, 0.05)) == pytest.approx(1.0)
    assert severity(point(0.0025, True, True, 0.05)) == pytest.approx(2.0)
    assert severity(point(1.0, True, False, 0.05)) == 0.0
    # a p-value past alpha that was not called drift (a correction, an effect-size floor)
    assert severity(point(0.01, True, False, 0.05)) == 0.99
    # a statistic below its threshold that drifted anyway still colours as drift
    assert severity(point(0.1, False, True, 0.25)) == 1.0
    assert severity(point(0.0, True, True, 0.05)) == 3.0


def test_heatmap_matrix_puts_the_most_drifted_feature_first(history: list[Any]) -> None:
    hm = heatmap(history, "psi")
    assert hm.detector == "psi"
    assert hm.features == ["a", "b"]
    assert hm.times == [T0 + timedelta(minutes=m) for m in (0, 10, 20)]
    assert hm.drifted == [[False, True, True], [False, False, False]]
    assert hm.z[0][1] == pytest.approx(1.6)
    assert hm.z[0][2] == pytest.approx(3.0)
    assert hm.z[1][0] == pytest.approx(0.12)
    assert "DRIFT" in hm.hover[0][2] and "<b>a</b>" in hm.hover[0][2]
    assert detectors_of(history) == ["psi", "ks"]


def test_heatmap_leaves_gaps_for_missing_and_failed_cells() -> None:
    reports = [
        published(0, [psi("a", 0.1)]),
        published(5, [psi("a", 0.1), psi("b", 0.3)]),
        published(10, [result("a", "psi", None, status="failed", error="boom")]),
    ]
    hm = heatmap(reports, "psi")
    assert hm.features == ["b", "a"]
    assert hm.z[0] == [None, pytest.approx(1.2), None]
    assert hm.z[1][2] is None
    assert "failed: boom" in hm.hover[1][2]


# -- one report --------------------------------------------------------------------------------


def test_summarize_report_counts_features_drift_and_failures() -> None:
    r = published(
        0,
        [
            psi("a", 0.5),
            ks("a", 0.5, 0.001),
            psi("b", 0.1),
            result("c", "ks", None, status="failed", error="no numbers", threshold=0.05),
            result("prediction", "chi2", 1.0, p_value=0.5, threshold=0.05, kind="prediction"),
            result(
                None,
                "performance",
                0.7,
                threshold=0.8,
                drifted=True,
                kind="performance",
                details={"metric": "accuracy"},
            ),
        ],
    )
    s = summarize_report(r)
    assert s.features == ["a", "b", "c"]
    assert s.drifted_features == ["a"]
    assert s.feature_count == 3
    assert s.failed == ["ks on c: no numbers"]
    assert not s.prediction_drifted and s.performance_drifted
    assert s.rows == 200 and s.labelled_rows == 50
    assert s.created_at == T0


def test_monitor_state_priorities() -> None:
    clean = published(0, [psi("a", 0.1)])
    drifting = published(0, [psi("a", 0.5)])
    failing = published(0, [result("a", "psi", None, status="failed", error="x")], status="failed")
    partly_failing = published(0, [psi("a", 0.5), result("b", "psi", None, status="failed")])
    starved = published(0, [], status="insufficient_data", rows=3)
    assert monitor_state(None) == "no_data"
    assert monitor_state(clean) == "ok"
    assert monitor_state(drifting) == "drifting"
    assert monitor_state(failing) == "failing"
    assert monitor_state(partly_failing) == "failing"
    assert monitor_state(starved) == "no_data"
    assert monitor_state(clean, [{"state": "no_data"}]) == "no_data"
    assert monitor_state(drifting, [{"state": "firing"}]) == "firing"
    assert monitor_state(None, [{"state": "firing"}]) == "firing"
    assert monitor_state(clean, [{"state": "resolved"}, {"state": "ok"}]) == "ok"


def test_drifting_counts_every_drifting_monitor_whether_or_not_its_alert_fires() -> None:
    drifting = published(0, [psi("a", 0.5)])
    latest = {
        "fires": drifting,  # drifted, and its alert fires
        "waits": drifting,  # drifted, its alert pending (for_runs) or silenced
        "clean": published(0, [psi("a", 0.1)]),
        "starved": published(0, [], status="insufficient_data", rows=3),
        "never-ran": None,
    }
    alerts = {"fires": [{"state": "firing"}], "waits": [{"state": "pending"}]}
    tallies = state_tallies(latest, alerts)
    assert tallies == {"ok": 1, "drifting": 2, "firing": 1, "failing": 0, "no_data": 2}


def test_drifted_count_series(history: list[Any]) -> None:
    assert drifted_count_series(history) == [0, 1, 1]


def test_comparison_from_psi_bins_with_inner_edges() -> None:
    r = psi(
        "a",
        0.4,
        details={
            "bins": {
                "edges": [1.0, 2.5],
                "labels": ["(-inf, 1.0]", "(1.0, 2.5]", "(2.5, inf)"],
                "reference": [0.3, 0.4, 0.3],
                "current": [0.1, 0.3, 0.6],
                "reference_counts": [30, 40, 30],
                "current_counts": [10, 30, 60],
            },
            "severity": "drift",
        },
    )
    comp = comparison(asdict(r))
    assert comp is not None and comp.shape == "bins"
    assert comp.x == ["≤ 1", "1 – 2.5", "> 2.5"]
    assert comp.reference == [0.3, 0.4, 0.3]
    assert comp.current == [0.1, 0.3, 0.6]


def test_comparison_from_category_counts_only() -> None:
    r = result(
        "colour",
        "chi2",
        5.0,
        p_value=0.01,
        threshold=0.05,
        drifted=True,
        details={
            "bins": {
                "labels": ["red", "blue", "(unseen)"],
                "reference_counts": [50, 50, 0],
                "current_counts": [10, 30, 10],
            }
        },
    )
    comp = comparison(asdict(r))
    assert comp is not None
    assert comp.x == ["red", "blue", "(unseen)"]
    assert comp.reference == [0.5, 0.5, 0.0]
    assert comp.current == [0.2, 0.6, 0.2]


def test_comparison_from_ks_ecdf_with_the_location_of_d() -> None:
    r = ks(
        "a",
        0.5,
        1e-5,
        details={
            "ecdf": {
                "x": [0.0, 1.0, 2.0],
                "reference": [0.2, 0.9, 1.0],
                "current": [0.0, 0.4, 1.0],
            },
            "statistic_location": 1.0,
        },
    )
    comp = comparison(asdict(r))
    assert comp is not None and comp.shape == "ecdf"
    assert comp.x == [0.0, 1.0, 2.0]
    assert comp.location == 1.0
    assert comp.gap_at_location() == (0.9, 0.4)


@pytest.mark.parametrize(
    "details",
    [
        {},
        {"bins": {"reference": [0.5, 0.5], "current": [1.0]}},
        {"bins": "x"},
        {"ecdf": {"x": [1, 2], "reference": [0.5], "current": [0.5, 1]}},
        {"ecdf": {"x": [1, "a"], "reference": [0.5, 1], "current": [0.5, 1]}},
    ],
)
def test_comparison_of_missing_or_malformed_details_is_none(details: dict[str, Any]) -> None:
    assert comparison(asdict(psi("a", 0.1, details=details))) is None
    assert comparison({"details": None}) is None


def test_sample_counts_and_report_features() -> None:
    r = published(
        0,
        [
            psi(
                "b",
                0.1,
                details={
                    "reference_size": 500,
                    "current_size": 180,
                    "current_missing": 20,
                    "current_infinite": 0,
                },
            ),
            psi("a", 0.5),
            ks("a", 0.4, 0.001),
            result("prediction", "chi2", 1.0, p_value=0.5, threshold=0.05, kind="prediction"),
        ],
    )
    counts = sample_counts(r["results"][0])
    assert (counts.reference_size, counts.current_size, counts.current_missing) == (500, 180, 20)
    assert counts.reference_missing is None
    assert report_features(r) == ["a", "b"]  # drifted first
    assert report_features(r, "prediction") == ["prediction"]
    assert [x["detector"] for x in results_for_feature(r, "a")] == ["psi", "ks"]


# -- performance -------------------------------------------------------------------------------


def perf(
    value: float | None, *, status: ResultStatus = "ok", details: bool = True, **kw: Any
) -> ResultRow:
    d = (
        {
            "metric": "accuracy",
            "reference_value": 0.95,
            "current_value": value,
            "max_drop": 0.15,
            "labelled_rows": 80,
        }
        if details
        else {}
    )
    return result(
        None,
        "performance",
        value,
        threshold=0.8075,
        drifted=value is not None and value < 0.8075,
        kind="performance",
        status=status,
        details=d,
        **kw,
    )


def test_performance_series_against_reference_and_limit() -> None:
    reports = [
        published(0, [perf(None, status="insufficient_data", error="not enough labels: 3 of 10")]),
        published(10, [perf(0.94)]),
        published(20, [perf(0.7)]),
    ]
    (series,) = performance_series(reports)
    assert series.metric == "accuracy"
    assert series.values == [0.94, 0.7]
    assert series.drifted == [False, True]
    assert series.reference_value == 0.95
    assert series.limit == 0.8075
    assert series.max_drop == 0.15
    assert series.skipped == 1 and series.last_skip_reason == "not enough labels: 3 of 10"
    assert series.labelled_rows == [80, 80]
    assert not series.lower_is_better
    assert series.latest_change == pytest.approx((0.7 - 0.95) / 0.95)


def test_performance_series_without_details_takes_names_from_one_detailed_report() -> None:
    listed = [published(10, [perf(0.94, details=False)]), published(20, [perf(0.7, details=False)])]
    (bare,) = performance_series(listed)
    assert bare.metric == "performance" and bare.reference_value is None
    assert bare.values == [0.94, 0.7] and bare.limit == 0.8075
    detailed = published(20, [perf(0.7)])
    (filled,) = performance_series(listed, detailed)
    assert filled.metric == "accuracy"
    assert filled.reference_value == 0.95
    assert filled.max_drop == 0.15


def test_performance_series_of_an_error_metric_is_lower_is_better() -> None:
    row = result(
        None,
        "performance",
        2.0,
        threshold=1.15,
        drifted=True,
        kind="performance",
        details={"metric": "mae", "reference_value": 1.0, "current_value": 2.0},
    )
    (series,) = performance_series([published(0, [row])])
    assert series.lower_is_better


# -- models, alerts, monitors ------------------------------------------------------------------


def test_model_health_from_the_stats_endpoint() -> None:
    stats = {
        "model": "cancer",
        "count": 600,
        "labelled": 150,
        "labelled_share": 0.25,
        "rate_per_second": 0.5,
        "latency_p50_ms": 0.9,
        "latency_p90_ms": 1.2,
        "latency_p99_ms": 3.0,
        "last_at": T0.isoformat(),
    }
    h = model_health("cancer", stats, timedelta(hours=1))
    assert h.count == 600 and h.labelled == 150
    assert h.per_minute == 30.0
    assert h.labelled_share == 0.25
    assert (h.latency_p50_ms, h.latency_p99_ms) == (0.9, 3.0)
    assert h.last_at == T0


def test_model_health_derives_rate_and_share_and_survives_junk() -> None:
    h = model_health("m", {"count": 120, "labelled": 30}, timedelta(hours=1))
    assert h.per_minute == 2.0 and h.labelled_share == 0.25
    empty = model_health("m", None, timedelta(hours=1))
    assert empty.count is None and empty.per_minute is None and empty.labelled_share is None


ALERTS = {
    "alerts": [
        {"monitor": "m", "detector": "psi", "feature": "a", "state": "ok"},
        {
            "monitor": "m",
            "detector": "ks",
            "feature": "a",
            "state": "firing",
            "changed_at": T0.isoformat(),
            "statistic": 0.4,
            "threshold": 0.05,
        },
        {"monitor": "m", "detector": "psi", "feature": "a", "state": "firing"},
        {"monitor": "m", "detector": "performance", "feature": "performance", "state": "firing"},
        {"monitor": "n", "detector": "monitor", "feature": "", "state": "no_data"},
        {"monitor": "n", "detector": "psi", "feature": "b", "state": "pending"},
    ]
}


def test_alert_rows_are_sorted_by_urgency_and_named() -> None:
    rows = alert_rows(ALERTS)
    assert [r.state for r in rows] == ["firing", "firing", "firing", "no_data", "pending", "ok"]
    assert rows[0].subject == "a · ks" and rows[0].since == T0 and rows[0].statistic == 0.4
    assert {r.subject for r in rows} >= {"performance", "whole monitor", "b · psi"}
    counts = state_counts(rows)
    assert counts == {"ok": 1, "pending": 1, "firing": 3, "resolved": 0, "no_data": 1}
    grouped = alerts_by_monitor(rows)
    assert monitor_state(None, grouped["m"]) == "firing"
    assert {a["state"] for a in grouped["n"]} == {"no_data", "pending"}


def test_firing_by_feature_groups_detectors() -> None:
    grouped = firing_by_feature(alert_rows(ALERTS))
    assert grouped == {
        "m": {"a": ["ks", "psi"], "performance": ["performance"]},
        "n": {"no data": ["monitor"]},
    }


def event(from_state: str, to_state: str, minutes: int = 0, **extra: Any) -> dict[str, Any]:
    """An alert change of ``m``'s ``psi`` on ``a``, ``minutes`` after T0, as the API lists it."""
    return {
        "monitor": "m",
        "detector": "psi",
        "feature": "a",
        "from_state": from_state,
        "to_state": to_state,
        "at": (T0 + timedelta(minutes=minutes)).isoformat(),
        **extra,
    }


def test_alert_events_newest_first() -> None:
    events = alert_events(
        {
            "events": [
                event("ok", "firing", statistic=0.4),
                event("firing", "resolved", 5, silenced=True),
                {"monitor": "m", "at": "not a time"},
            ]
        }
    )
    assert [(e.from_state, e.to_state) for e in events] == [
        ("firing", "resolved"),
        ("ok", "firing"),
    ]
    assert events[0].silenced and not events[1].silenced
    assert alert_events([]) == []


def test_delivery_status_from_readyz() -> None:
    ready = {
        "ready": False,
        "checks": {
            "delivery": {
                "ok": True,
                "data": {
                    "running": True,
                    "notifiers": {
                        "ops": {
                            "name": "ops",
                            "type": "discord",
                            "pending": 2,
                            "failed": 0,
                            "sent": 4,
                            "last_error": "HTTP 503",
                        },
                        "log": {"name": "log", "type": "log", "sent": 9},
                        "hook": {
                            "name": "hook",
                            "type": "webhook",
                            "failed": 1,
                            "last_error": "HTTP 400",
                        },
                        "gone": {
                            "name": "gone",
                            "disabled": True,
                            "disabled_reason": "404 from Discord",
                        },
                        "new": {"name": "new"},
                    },
                },
            }
        },
    }
    by_name = {n.name: n for n in delivery_status(ready)}
    assert by_name["ops"].status == "retrying" and by_name["ops"].sent == 4
    assert by_name["log"].status == "ok"
    assert by_name["hook"].status == "failed" and by_name["hook"].last_error == "HTTP 400"
    assert by_name["gone"].status == "disabled"
    assert by_name["new"].status == "idle"
    assert delivery_status({"ready": True, "checks": {}}) == []
    assert delivery_status(None) == []
    listed = delivery_status({"delivery": {"notifiers": [{"name": "x", "sent": 1}]}})
    assert [(n.name, n.status) for n in listed] == [("x", "ok")]


def test_pending_and_given_up_messages_from_readyz() -> None:
    ready = {
        "ready": True,
        "checks": {
            "delivery": {
                "ok": True,
                "detail": "degraded: notifier ops: 1 message(s) given up",
                "data": {
                    "running": True,
                    "degraded": True,
                    "notifiers": {
                        "ops": {
                            "name": "ops",
                            "pending": 2,
                            "retrying": 1,
                            "given_up": 1,
                            "sent": 3,
                            "oldest_pending_at": "2024-06-01T12:00:00+00:00",
                            "last_error": "webhook answered HTTP 500",
                        },
                        "slow": {"name": "slow", "pending": 1, "retrying": 1},
                    },
                    "messages": [
                        {
                            "id": "b",
                            "notifier": "ops",
                            "monitor": "credit",
                            "status": "pending",
                            "created_at": "2024-06-01T12:05:00+00:00",
                            "attempts": 0,
                            "next_attempt_at": None,
                            "last_error": None,
                            "changes": ["psi/age: firing → resolved"],
                        },
                        {
                            "id": "a",
                            "notifier": "ops",
                            "monitor": "credit",
                            "status": "pending",
                            "created_at": "2024-06-01T12:00:00+00:00",
                            "attempts": 7,
                            "next_attempt_at": "2024-06-01T12:40:00+00:00",
                            "last_error": "webhook answered HTTP 500",
                            "changes": ["psi/age: ok → firing"],
                        },
                        {
                            "id": "z",
                            "notifier": "ops",
                            "monitor": "other",
                            "status": "given_up",
                            "created_at": "2024-05-31T09:00:00+00:00",
                            "attempts": 300,
                            "last_error": "given up: undelivered 1d after it was created",
                            "changes": "not a list",
                        },
                        "not an object",
                    ],
                },
            }
        },
    }
    by_name = {n.name: n for n in delivery_status(ready)}
    ops = by_name["ops"]
    assert ops.status == "given up" and (ops.retrying, ops.given_up) == (1, 1)
    assert ops.oldest_pending_at == datetime(2024, 6, 1, 12, tzinfo=UTC)
    assert by_name["slow"].status == "retrying"
    rows = outbox_messages(ready)
    assert [(r.id, r.status) for r in rows] == [
        ("z", "given_up"),
        ("a", "pending"),
        ("b", "pending"),
    ]
    assert rows[1].attempts == 7 and rows[1].changes == ["psi/age: ok → firing"]
    assert rows[1].next_attempt_at == datetime(2024, 6, 1, 12, 40, tzinfo=UTC)
    assert rows[0].changes == [] and rows[2].last_error is None
    assert outbox_messages({"ready": True, "checks": {}}) == []
    assert outbox_messages(None) == []


def test_monitors_from_the_api_shape() -> None:
    payload = {
        "monitors": [
            {
                "name": "cancer-drift",
                "model": "cancer",
                "every_seconds": 60.0,
                "cron": None,
                "window_seconds": 3600.0,
                "min_samples": 200,
                "detectors": ["psi", "ks"],
                "features": None,
                "notify": ["ops"],
                "latest_report": {
                    "id": "r",
                    "created_at": T0.isoformat(),
                    "drifted": False,
                    "status": "ok",
                    "rows": 10,
                },
            },
            {"name": "nightly", "model": "cancer", "cron": "0 3 * * *", "window_seconds": 86400},
            {"model": "nameless"},
        ]
    }
    first, second = monitors(payload)
    assert (first.name, first.model, first.every, first.window) == (
        "cancer-drift",
        "cancer",
        "1m",
        "1h",
    )
    assert first.schedule == "every 1m" and first.detectors == ["psi", "ks"]
    assert first.latest_at == T0 and first.notify == ["ops"] and first.min_samples == 200
    assert second.schedule == "cron 0 3 * * *" and second.window == "1d"
    assert monitor_names(payload) == ["cancer-drift", "nightly"]
    assert model_names({"models": [{"name": "cancer"}, {}]}) == ["cancer"]


# -- figures -----------------------------------------------------------------------------------


def test_drift_lines_have_a_series_per_feature_the_threshold_and_drift_markers(
    history: list[Any],
) -> None:
    series = drift_series(history)
    fig = charts.drift_lines(series["psi"], ["a", "b"])
    names = [t.name for t in fig.data]
    assert names == ["a", "b", "drifted", "threshold"]
    assert list(fig.data[0].y) == [0.01, 0.4, 0.9]
    assert list(fig.data[3].y) == [0.25, 0.25]
    assert len(fig.data[2].x) == 2  # the two drifted runs of a
    assert fig.layout.yaxis.type in (None, "linear")
    ks_fig = charts.drift_lines(series["ks"], ["a"])
    assert ks_fig.layout.yaxis.type == "log"
    tiny = DetectorSeries("ks", "p-value", 0.05, {"a": Series("a", [T0], [0.0], [True])})
    assert list(charts.drift_lines(tiny, ["a"]).data[0].y) == [charts.P_VALUE_FLOOR]


def test_heatmap_figure_carries_the_matrix(history: list[Any]) -> None:
    hm = heatmap(history, "psi")
    fig = charts.heatmap_figure(hm)
    (trace,) = fig.data
    assert trace.type == "heatmap"
    assert list(trace.y) == ["a", "b"]
    assert len(trace.x) == 3
    assert trace.z[0][2] == pytest.approx(3.0)


def test_comparison_figures() -> None:
    bins = Comparison("bins", ["x", "y"], [0.5, 0.5], [0.2, 0.8])
    fig = charts.comparison_figure(bins, "f", "psi")
    assert [(t.type, t.name) for t in fig.data] == [("bar", "reference"), ("bar", "current")]
    assert list(fig.data[1].y) == [0.2, 0.8]
    ecdf = Comparison("ecdf", [0.0, 1.0], [0.5, 1.0], [0.1, 1.0], location=0.0)
    fig = charts.comparison_figure(ecdf, "f", "ks")
    assert [t.name for t in fig.data][:2] == ["reference", "current"]
    assert fig.data[2].name.startswith("largest gap (D = 0.400")


def test_performance_figure_draws_reference_and_limit() -> None:
    (series,) = performance_series([published(0, [perf(0.9)]), published(5, [perf(0.6)])])
    fig = charts.performance_figure(series)
    assert [t.name for t in fig.data] == ["Accuracy", "reference", "limit (−15%)"]
    assert list(fig.data[0].y) == [0.9, 0.6]
    assert list(fig.data[1].y) == [0.95, 0.95]
    assert list(fig.data[2].y) == [0.8075, 0.8075]


def test_alert_timeline_has_a_trace_per_state() -> None:
    events = alert_events({"events": [event("ok", "firing"), event("firing", "resolved", 1)]})
    fig = charts.alert_timeline(events)
    assert [t.name for t in fig.data] == ["firing", "resolved"]
    assert list(fig.data[0].y) == ["m · a · psi"]


# -- what was broken: each of these failed on the dashboard before issue 13 ----------------------


def _every_figure(history: list[Any]) -> list[Any]:
    """One figure of each kind the pages draw, each with a legend."""
    series = drift_series(history)
    (perf_series,) = performance_series([published(0, [perf(0.9)]), published(5, [perf(0.6)])])
    events = alert_events({"events": [event("ok", "firing"), event("firing", "resolved", 1)]})
    return [
        charts.drift_lines(series["psi"], ["a", "b"]),
        charts.drift_lines(series["ks"], ["a", "b"]),
        charts.heatmap_figure(heatmap(history, "psi")),
        charts.comparison_figure(
            Comparison("bins", ["x", "y"], [0.5, 0.5], [0.2, 0.8]), "f", "psi"
        ),
        charts.comparison_figure(
            Comparison("ecdf", [0.0, 1.0], [0.5, 1.0], [0.1, 1.0], location=0.0), "f", "ks"
        ),
        charts.performance_figure(perf_series),
        charts.alert_timeline(events),
    ]


def test_legends_sit_under_the_plot_where_the_toolbar_never_covers_them(
    history: list[Any],
) -> None:
    # Plotly draws its toolbar (modebar) in the figure's top-right corner: a legend above the
    # plot ran under it. Every legend now sits at the bottom of the figure, and the top
    # margin is the toolbar's.
    for fig in _every_figure(history):
        legend = fig.layout.legend
        assert (legend.yref, legend.y, legend.yanchor) == ("container", 0, "bottom"), fig
        assert fig.layout.margin.t >= charts.MODEBAR_SPACE


def test_p_values_below_the_floor_are_marked_and_the_chart_says_so() -> None:
    values = [0.3, 1e-30, 0.0, 0.01]
    times = [T0 + timedelta(minutes=i) for i in range(4)]
    ds = DetectorSeries("ks", "p-value", 0.05, {"a": Series("a", times, values, [False] * 4)})
    fig = charts.drift_lines(ds, ["a"])
    line = fig.data[0]
    assert list(line.y) == [0.3, charts.P_VALUE_FLOOR, charts.P_VALUE_FLOOR, 0.01]
    assert list(line.marker.symbol) == ["circle", "triangle-down", "triangle-down", "circle"]
    assert "1.00e-30" in line.customdata[1] and "drawn at" in line.customdata[1]
    (note,) = fig.layout.annotations
    assert "below 1e-12" in note.text and "drawn at 1e-12" in note.text
    # nothing below the floor: no note
    ds.series["a"].values = [0.3, 0.2, 0.1, 0.01]
    assert not charts.drift_lines(ds, ["a"]).layout.annotations


def test_the_ecdf_axis_shows_every_row_of_a_window_past_the_reference() -> None:
    from driftscope.core.contracts.detector import FeatureSample
    from driftscope.plugins.detectors.ks import KSDetector, KSSettings

    rng = np.random.default_rng(4)
    reference, window = rng.normal(10, 2, 400), rng.normal(16, 2, 100)  # 60%+ past its max
    detector = KSDetector(KSSettings(type="ks"))
    scored = detector.score(
        detector.fit(FeatureSample("r", "numeric", reference)),
        FeatureSample("r", "numeric", window),
    )
    comp = comparison({"kind": "feature", "feature": "r", "details": scored.details})
    assert comp is not None
    fig = charts.comparison_figure(comp, "r", "ks")
    low, high = fig.layout.xaxis.range
    assert low < min(reference.min(), window.min()) and high > window.max()
    current = fig.data[1]
    # the current curve reaches 100% inside the axis, and is drawn between the reference's
    # maximum and its own: the rows past the reference are on the chart
    reached = next(x for x, y in zip(current.x, current.y, strict=True) if y == 1.0)
    assert reached < high
    past = [y for x, y in zip(current.x, current.y, strict=True) if reference.max() < x < high]
    assert len(set(past)) >= 10
    share_past = float(np.mean(window > reference.max()))
    assert share_past > 0.3  # the rows the chart used to hide


def test_psi_bin_labels_of_probabilities_tell_every_bin_apart() -> None:
    edges = [4.34e-06, 0.000959, 0.0558, 0.747, 0.981, 0.994, 0.998, 0.9999, 0.99999]
    shares = [0.1] * (len(edges) + 1)
    result = {
        "kind": "prediction",
        "feature": "probability:1",
        "details": {"bins": {"edges": edges, "reference": shares, "current": shares}},
    }
    comp = comparison(result)
    assert comp is not None
    labels = [str(x) for x in comp.x]
    assert len(set(labels)) == len(labels)
    assert labels[0] == "≤ 0.000434%" and labels[-1] == "> 99.999%"
    assert "99.99% – 99.999%" in labels
    for label in labels[1:-1]:
        lo, hi = label.split(" – ")
        assert lo != hi, label  # never "1 – 1"
    assert not any(text in label for label in labels for text in ("100%", " 0%", "e-"))
    # other numbers keep three significant digits, more only where neighbours would clash
    assert bin_labels([1.0001, 1.0002, 2.5], 2) == ["1.0001 – 1.0002", "1.0002 – 2.5"]
    assert bin_labels([0.00000123, 5.0], 3) == ["≤ 1.23e-6", "1.23e-6 – 5", "> 5"]


def test_one_run_draws_a_readable_time_axis(history: list[Any]) -> None:
    one = [history[-1]]
    for fig in (
        charts.drift_lines(drift_series(one)["psi"], ["a"]),
        charts.heatmap_figure(heatmap(one, "psi")),
    ):
        low, high = (datetime.fromisoformat(str(v)) for v in fig.layout.xaxis.range)
        assert high - low >= charts.MIN_TIME_SPAN  # not a few milliseconds wide
        stops = [stop.value for stop in fig.layout.xaxis.tickformatstops]
        assert stops and not any("%L" in v or "%f" in v for v in stops)
    (cells,) = charts.heatmap_figure(heatmap(one, "psi")).data
    start, end = cells.x
    assert end - start >= charts.MIN_TIME_SPAN / 2  # the run's column has a width
    # the threshold is a line across the axis, not a point; a p-value axis shows whole
    # decades from below the value and the threshold up to 1
    ks_fig = charts.drift_lines(drift_series(one)["ks"], ["a"])
    (threshold,) = [t for t in ks_fig.data if t.name == "threshold"]
    assert threshold.x[1] - threshold.x[0] >= charts.MIN_TIME_SPAN
    low, high = ks_fig.layout.yaxis.range
    assert low <= math.floor(math.log10(min(0.9, 0.05))) and high >= 0


def test_daily_ticks_name_the_day_not_midnight() -> None:
    # Plotly takes the first format stop whose range holds the tick spacing: a stop that
    # ended at exactly one day wrote "00:00" under every daily tick of a backfilled week
    day = 86_400_000
    first_fit = next(
        stop["value"]
        for stop in charts.TIME_TICK_FORMATS
        if (stop["dtickrange"][0] or 0) <= day <= (stop["dtickrange"][1] or math.inf)
    )
    assert "%H" not in first_fit and "%b %d" in first_fit


def test_metric_names_keep_their_acronyms() -> None:
    assert [metric_label(m) for m in ("mae", "rmse", "roc_auc", "f1", "accuracy")] == [
        "MAE",
        "RMSE",
        "ROC AUC",
        "F1",
        "Accuracy",
    ]
    assert metric_label("log_loss") == "Log loss" and metric_label("MAPE") == "MAPE"
    assert metric_label("accuracy", in_sentence=True) == "accuracy"
    assert metric_label("mae", in_sentence=True) == "MAE"
    mae = result(
        None,
        "performance",
        3.1,
        threshold=3.3,
        kind="performance",
        details={"metric": "mae", "reference_value": 3.0, "current_value": 3.1, "max_drop": 0.1},
    )
    (series,) = performance_series([published(0, [mae])])
    fig = charts.performance_figure(series)
    assert fig.data[0].name == "MAE" and fig.layout.yaxis.title.text == "MAE"


def test_a_result_without_sample_sizes_says_only_what_it_knows() -> None:
    custom = {"detector": "median", "statistic": 1.0, "threshold": 2.0, "details": {}}
    assert sample_line(custom) is None  # not "reference n = - · current n = -"
    partial = {"details": {"reference_size": 171, "current_missing": 2}}
    assert sample_line(partial) == "reference n = 171 · dropped from current: 2 missing"
    numbers = result_numbers({"statistic": 0.5, "threshold": 2.0, "details": {}})
    assert [(n.label, n.value) for n in numbers] == [("statistic", "0.500"), ("threshold", "2.000")]
    corrected = result_numbers(
        {
            "statistic": 0.4,
            "p_value": 1e-5,
            "threshold": 0.05,
            "details": {"p_value_adjusted": 3e-4, "correction": "bonferroni"},
        }
    )
    assert corrected[1] == ResultNumber("p-value", "3.00e-04", "bonferroni; raw 1.00e-05")


def test_a_detector_without_any_chosen_feature_gets_no_chart() -> None:
    reports = [
        published(0, [ks("x", 0.3, 0.01), result("colour", "chi2", 9.0, p_value=0.01)]),
        published(5, [ks("x", 0.2, 0.2), result("colour", "chi2", 1.0, p_value=0.5)]),
    ]
    series = drift_series(reports)
    drawn, skipped = drawable(series, ["x"])
    assert [d.detector for d in drawn] == ["ks"] and [d.detector for d in skipped] == ["chi2"]
    drawn, skipped = drawable(series, ["x", "colour"])
    assert [d.detector for d in drawn] == ["ks", "chi2"] and not skipped


def test_pages_have_no_stray_strings_streamlit_would_print() -> None:
    # Streamlit's "magic" writes a page script's bare expressions onto the page: a docstring
    # under a constant showed up above the Features page's title
    import ast
    from pathlib import Path

    views = Path(charts.__file__).parent / "views"
    for page in sorted(views.glob("*.py")):
        body = ast.parse(page.read_text(encoding="utf-8")).body
        stray = [
            node.lineno
            for node in body[1:]  # the module docstring is not printed
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        ]
        assert not stray, f"{page.name}: bare strings at lines {stray}"


# -- the client's one-line errors --------------------------------------------------------------


def _client(handler: Any, key: str | None = None) -> ApiClient:
    return ApiClient("http://api.test/", key, transport=httpx.MockTransport(handler))


def test_client_returns_json_and_sends_the_key_and_drops_none_params() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    client = _client(handler, "s3cret")
    assert client.get("/v1/models", {"since": None, "limit": 5}) == {"ok": True}
    assert seen[0].headers["X-API-Key"] == "s3cret"
    assert str(seen[0].url) == "http://api.test/v1/models?limit=5"


def test_client_error_line_names_the_url_the_status_and_the_detail() -> None:
    client = _client(lambda r: httpx.Response(401, json={"detail": "a valid API key is required"}))
    with pytest.raises(ApiError) as caught:
        client.get("/v1/monitors")
    message = caught.value.message
    assert message == (
        "The driftscope API at http://api.test/v1/monitors answered 401: a valid API key is "
        "required. Check DRIFTSCOPE_API_KEY."
    )
    assert "\n" not in message


def test_client_error_of_validation_errors_and_non_json() -> None:
    client = _client(lambda r: httpx.Response(422, json={"detail": [{"msg": "bad since"}]}))
    with pytest.raises(ApiError, match="answered 422: bad since"):
        client.get("/v1/x")
    client = _client(lambda r: httpx.Response(502, text="<html>proxy</html>"))
    with pytest.raises(ApiError, match="answered 502: Bad Gateway"):
        client.get("/v1/x")
    client = _client(lambda r: httpx.Response(200, text="not json"))
    with pytest.raises(ApiError, match="was not JSON"):
        client.get("/v1/x")


def test_client_accepts_listed_error_statuses() -> None:
    client = _client(lambda r: httpx.Response(503, json={"ready": False}))
    assert client.get("/readyz", accept=(503,)) == {"ready": False}


def test_client_unreachable_api_is_one_line_with_the_url() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with pytest.raises(ApiError) as caught:
        _client(refuse).get("/v1/monitors")
    assert caught.value.status is None
    assert caught.value.message.startswith(
        "Cannot reach the driftscope API at http://api.test/v1/monitors: connection refused."
    )

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(ApiError, match="timed out"):
        _client(slow).get("/v1/monitors")


def test_non_finite_numbers_read_as_missing() -> None:
    r = result("a", "psi", math.nan)
    assert result_points([published(0, [r])])[0].statistic is None


# -- backfilled reports: placed where their windows end ----------------------------------------

DAY = 24 * 60  # minutes


def test_a_backfill_is_drawn_where_its_windows_end_not_when_it_ran() -> None:
    # last quarter backfilled today: three daily windows ending on March 1st, 2nd and 3rd,
    # all made within ten seconds on May 30th, then one scheduled run made at its window end
    made = T0 + timedelta(days=90)
    reports = [
        published(0, [psi("a", 0.01)], made_at=made, backfilled=True, id="b0"),
        published(DAY, [psi("a", 0.4)], made_at=made + timedelta(seconds=5), backfilled=True),
        published(2 * DAY, [psi("a", 0.9)], made_at=made + timedelta(seconds=9), backfilled=True),
        published(90 * DAY + 30, [psi("a", 0.02)], id="scheduled"),
    ]
    days = [T0, T0 + timedelta(days=1), T0 + timedelta(days=2), made + timedelta(minutes=30)]
    newest_first = list(reversed(reports))
    assert [r["id"] for r in sorted_reports(newest_first)] == [
        "b0",
        f"r{DAY}",
        f"r{2 * DAY}",
        "scheduled",
    ]
    assert drift_series(newest_first)["psi"].series["a"].times == days
    hm = heatmap(newest_first, "psi")
    assert hm.times == days
    assert "backfilled, made 2026-05-30 12:00 UTC" in hm.hover[0][0]
    assert "backfilled" not in hm.hover[0][3]
    # the newest data is the scheduled run's, though the backfill was made after none of it
    assert latest_report(newest_first)["id"] == "scheduled"  # type: ignore[index]
    summary = summarize_report(reports[1])
    assert summary.window_end == days[1] and summary.created_at == made + timedelta(seconds=5)
    assert summary.backfilled and not summarize_report(reports[3]).backfilled
    assert report_label(reports[1]) == "2026-03-02 12:00:00 · 1 drifting · ⟲ backfilled"
    assert report_label(reports[3]) == "2026-05-30 12:30:00 · 0 drifting"


def test_backfilled_runs_form_spans_that_a_scheduled_run_ends() -> None:
    made = T0 + timedelta(days=90)
    reports = [
        published(0, [psi("a", 0.1)], made_at=made, backfilled=True),
        published(DAY, [psi("a", 0.1)], made_at=made, backfilled=True),
        published(2 * DAY, [psi("a", 0.1)]),  # a scheduled run between two backfills
        published(3 * DAY, [psi("a", 0.1)], made_at=made + timedelta(hours=1), backfilled=True),
    ]
    first, second = backfill_spans(reversed(reports))
    # each span runs from its first window's start (an hour before its end) to its last end
    assert (first.start, first.end, first.runs) == (
        T0 - timedelta(hours=1),
        T0 + timedelta(days=1),
        2,
    )
    assert first.made_from == made == first.made_to
    assert (second.start, second.end, second.runs) == (
        T0 + timedelta(days=3) - timedelta(hours=1),
        T0 + timedelta(days=3),
        1,
    )
    assert backfill_spans(reports[2:3]) == []
    fig = charts.mark_backfilled(
        charts.drift_lines(drift_series(reports)["psi"], ["a"]), [first, second]
    )
    shaded = [s for s in fig.layout.shapes if s.name == "backfilled runs"]
    assert [(s.x0, s.x1) for s in shaded] == [(first.start, first.end), (second.start, second.end)]
    assert [s.showlegend for s in shaded] == [True, False]  # one legend entry
    assert [a.text for a in fig.layout.annotations] == ["⟲ 2 backfilled", "⟲ 1 backfilled"]
    strip = charts.mark_backfilled(
        charts.heatmap_figure(heatmap(reports, "psi")), [first, second], strip=True
    )
    band, last = strip.layout.shapes
    assert band.y0 >= 1 and band.layer == "above" and not strip.layout.annotations
    # above a heatmap the strip covers the backfilled columns to their edges: halfway to
    # the neighbouring runs (a day apart here), and as far past the last column
    half = timedelta(hours=12)
    assert (band.x0, band.x1) == (T0 - half, T0 + timedelta(days=1) + half)
    assert (last.x0, last.x1) == (T0 + timedelta(days=3) - half, T0 + timedelta(days=3) + half)


# -- estimated performance (cbpe, dle): the band and the realized value ------------------------


def estimate(
    metric: str,
    value: float | None,
    *,
    lower: float | None = None,
    upper: float | None = None,
    se: float | None = None,
    realized: float | None = None,
    realized_rows: int = 0,
    reference: float = 0.95,
    threshold: float = 0.8075,
    detector: str = "cbpe",
    status: ResultStatus = "ok",
    error: str | None = None,
) -> ResultRow:
    """A cbpe (or dle) result in the shape the detector writes it."""
    details: dict[str, Any] = {"rows": 200, "reference_value": reference}
    details["realized_rows"] = realized_rows
    if value is not None:
        details.update(lower=lower, upper=upper, standard_error=se)
    if realized is not None:
        details["realized"] = realized
    drifted = value is not None and (
        value > threshold if threshold > reference else value < threshold
    )
    return result(
        metric,
        detector,
        value,
        threshold=threshold,
        drifted=drifted,
        kind="performance",
        status=status,
        error=error,
        details=details,
    )


@pytest.fixture
def estimated() -> list[dict[str, Any]]:
    """Three runs of cbpe (accuracy and ROC AUC) beside the performance detector; labels
    arrive for the second run only; the first window was too small to estimate ROC AUC."""
    return [
        published(
            0,
            [
                perf(0.94),
                estimate("accuracy", 0.93, lower=0.87, upper=0.99, se=0.02),
                estimate(
                    "roc_auc", None, status="insufficient_data", error="40 rows, at least 100"
                ),
            ],
        ),
        published(
            10,
            [
                perf(0.9),
                estimate(
                    "accuracy",
                    0.9,
                    lower=0.84,
                    upper=0.96,
                    se=0.02,
                    realized=0.88,
                    realized_rows=60,
                ),
                # ROC AUC's band is cut at 1: its half-width comes from the lower side
                estimate(
                    "roc_auc",
                    0.99,
                    lower=0.96,
                    upper=1.0,
                    se=0.01,
                    realized=0.97,
                    realized_rows=60,
                    reference=0.98,
                    threshold=0.833,
                ),
            ],
        ),
        published(
            20,
            [
                perf(0.7),
                estimate("accuracy", 0.8, lower=0.74, upper=0.86, se=0.02),
                estimate(
                    "roc_auc", 0.9, lower=0.84, upper=0.96, se=0.02, reference=0.98, threshold=0.833
                ),
            ],
        ),
    ]


def test_estimated_performance_is_one_series_per_metric_with_its_band(
    estimated: list[dict[str, Any]],
) -> None:
    measured, accuracy, roc_auc = performance_series(list(reversed(estimated)))
    assert (measured.detector, measured.metric, measured.estimated) == (
        "performance",
        "accuracy",
        False,
    )
    assert (accuracy.detector, accuracy.metric, accuracy.estimated) == ("cbpe", "accuracy", True)
    assert accuracy.values == [0.93, 0.9, 0.8]
    assert accuracy.lower == [0.87, 0.84, 0.74] and accuracy.upper == [0.99, 0.96, 0.86]
    assert accuracy.realized == [None, 0.88, None] and accuracy.realized_rows == [0, 60, 0]
    assert accuracy.drifted == [False, False, True]  # 0.8 < 0.95 × 0.85
    assert accuracy.band_sigmas == 3.0  # (0.99 − 0.93) / 0.02
    assert accuracy.allowed_change == pytest.approx(0.15)  # 1 − 0.8075 / 0.95
    assert roc_auc.metric == "roc_auc" and roc_auc.values == [0.99, 0.9]
    assert roc_auc.skipped == 1 and roc_auc.last_skip_reason == "40 rows, at least 100"
    assert roc_auc.band_sigmas == 3.0  # (0.99 − 0.96) / 0.01: the side not cut at 1
    assert roc_auc.realized_runs == 1
    # 0.88 lies in 0.84 … 0.96, 0.97 in 0.96 … 1.0: both estimates held
    assert accuracy.outside_band == 0 and roc_auc.outside_band == 0
    # confident and wrong (below the band), and better than it looked (above): labels show it
    below = estimate("accuracy", 0.95, lower=0.89, upper=1.0, se=0.02, realized=0.6)
    above = estimate("accuracy", 0.7, lower=0.64, upper=0.76, se=0.02, realized=0.9)
    (missed,) = performance_series([published(0, [below]), published(10, [above])])
    assert missed.outside_band == 2
    # the headline is the measured metric; an estimate only when nothing is measured
    assert headline([accuracy, measured]) is measured
    assert headline([accuracy, roc_auc]) is accuracy
    assert headline([]) is None


def test_an_estimate_is_drawn_with_its_band_the_realized_value_reference_and_limit(
    estimated: list[dict[str, Any]],
) -> None:
    _, accuracy, _ = performance_series(estimated)
    fig = charts.performance_figure(accuracy)
    names = [t.name for t in fig.data]
    assert names == [
        "band upper",
        "band: ± 3 SE at the window's size",
        "estimated Accuracy",
        "realized Accuracy",
        "reference",
        "limit (−15%)",
    ]
    upper, lower, line, realized, reference, limit = fig.data
    assert list(upper.y) == [0.99, 0.96, 0.86] and not upper.showlegend
    assert list(lower.y) == [0.87, 0.84, 0.74] and lower.fill == "tonexty"
    assert list(line.y) == [0.93, 0.9, 0.8]
    assert list(line.marker.color) == [charts.OK_COLOR, charts.OK_COLOR, charts.DRIFT_COLOR]
    assert list(realized.x) == [T0 + timedelta(minutes=10)] and list(realized.y) == [0.88]
    assert realized.marker.symbol == "diamond"
    assert list(reference.y) == [0.95, 0.95] and list(limit.y) == [0.8075, 0.8075]
    assert fig.layout.yaxis.title.text == "Accuracy (estimated)"
    # the measured metric's chart is as it was
    measured = charts.performance_figure(performance_series(estimated)[0])
    assert [t.name for t in measured.data] == ["Accuracy", "reference", "limit (−15%)"]


def test_an_estimated_error_metric_has_its_limit_above_the_reference() -> None:
    row = estimate(
        "mae", 2.4, lower=2.1, upper=2.7, se=0.1, reference=2.0, threshold=2.3, detector="dle"
    )
    (mae,) = performance_series([published(0, [row])])
    assert mae.lower_is_better and mae.drifted == [True]  # 2.4 > 2.0 × 1.15
    fig = charts.performance_figure(mae)
    assert [t.name for t in fig.data][-1] == "limit (+15%)"
    assert fig.data[2].name == "estimated MAE"


def test_a_window_too_small_to_estimate_counts_as_skipped_not_as_unlabelled() -> None:
    row = estimate("accuracy", None, status="insufficient_data", error="12 rows, at least 100")
    (series,) = performance_series([published(0, [row])])
    assert series.estimated and not series.values and series.skipped == 1
    assert series.band_sigmas is None


# -- drift of the features together (the domain classifier) ------------------------------------


def together(
    auc: float | None,
    threshold: float,
    ranking: list[dict[str, Any]] | None = None,
    *,
    status: ResultStatus = "ok",
) -> ResultRow:
    """A domain_classifier result in the shape the detector writes it."""
    details: dict[str, Any] = {
        "auc_folds": [auc] * 5 if auc is not None else [],
        "sample_rows": 200,
        "current_rows": 200,
        "threshold_from": "reference splits",
        "no_drift_auc": {"mean": 0.51, "std_at_sample_size": 0.04, "splits": [0.5, 0.52]},
        "ranking": ranking or [],
    }
    return result(
        None,
        "domain_classifier",
        auc,
        threshold=threshold,
        drifted=auc is not None and auc >= threshold,
        kind="multivariate",
        status=status,
        details=details,
    )


RANKING = [
    {"feature": "a", "importance": 0.5, "auc_drop": 0.2},
    {"feature": "b", "importance": 0.3, "auc_drop": 0.12},
    {"feature": "c", "importance": 0.15, "auc_drop": 0.06},
    {"feature": "d", "importance": 0.05, "auc_drop": 0.02},
]


def test_the_features_together_over_time_against_a_threshold_per_window() -> None:
    reports = [
        published(0, [together(0.52, 0.63)]),
        published(10, [together(None, 0.5, status="insufficient_data")]),
        published(20, [together(0.91, 0.65, RANKING)]),
    ]
    (series,) = multivariate_series(reversed(reports))
    assert series.detector == "domain_classifier"
    assert series.values == [0.52, 0.91] and series.thresholds == [0.63, 0.65]
    assert series.drifted == [False, True] and series.drift_count == 1
    assert series.report_ids == ["r0", "r20"] and series.skipped == 1
    assert series.threshold_varies
    fig = charts.multivariate_figure(series)
    assert [t.name for t in fig.data] == [
        "0.5: no difference",
        "domain_classifier AUC",
        "threshold (per window)",
    ]
    assert list(fig.data[1].y) == [0.52, 0.91] and list(fig.data[2].y) == [0.63, 0.65]
    assert list(fig.data[1].marker.color) == [charts.OK_COLOR, charts.DRIFT_COLOR]
    # one threshold for every run (configured): a line across the range
    fixed = published(30, [together(0.7, 0.65)])
    (steady,) = multivariate_series([reports[2], fixed])
    assert not steady.threshold_varies
    assert [t.name for t in charts.multivariate_figure(steady).data][-1] == "threshold"


def test_the_ranking_says_where_the_change_is() -> None:
    junk = [{"feature": "x", "importance": 1.5}, {"importance": 0.2}, "y", {"feature": "a"}]
    ranked = ranking({"ranking": [RANKING[2], *junk, RANKING[0], RANKING[3], RANKING[1]]})
    assert [(r.feature, r.importance) for r in ranked] == [
        ("a", 0.5),
        ("b", 0.3),
        ("c", 0.15),
        ("d", 0.05),
    ]
    assert ranking({"ranking": "nope"}) == [] and ranking({}) == []
    # the fewest features making up 80% of the change: 0.5 + 0.3
    assert [r.feature for r in carriers(ranked)] == ["a", "b"]
    assert carriers([RankedFeature("z", 0.0, 0.0)]) == []
    (finding,) = multivariate_findings(published(0, [together(0.91, 0.65, RANKING)]))
    assert finding.statistic == 0.91 and finding.threshold == 0.65 and finding.drifted
    assert finding.no_drift_mean == 0.51 and finding.no_drift_std == 0.04
    assert finding.threshold_from == "reference splits" and finding.folds == [0.91] * 5
    assert [r.feature for r in finding.ranking] == ["a", "b", "c", "d"]
    # b was also flagged by a per-feature test; a, c and d changed only together
    fig = charts.ranking_figure(ranked, flagged={"b"})
    flagged, quiet = fig.data
    assert (flagged.name, list(flagged.y), list(flagged.x)) == (
        "flagged by a per-feature test",
        ["b"],
        [0.3],
    )
    assert quiet.name == "no per-feature test flagged it" and list(quiet.y) == ["a", "c", "d"]
    assert list(fig.layout.yaxis.categoryarray) == ["d", "c", "b", "a"]  # the largest on top
    assert flagged.orientation == "h" and list(quiet.text) == ["50%", "15%", "5%"]
    # a feature the classifier never used is not drawn as a bar of 0%
    unused = [*ranked, RankedFeature("e", 0.0, 0.0)]
    assert "e" not in list(charts.ranking_figure(unused).layout.yaxis.categoryarray)


def test_drift_of_the_features_together_alone_is_named_on_the_overview() -> None:
    # before: the card read "Drifting: " with nothing after it
    only_together = published(0, [psi("a", 0.1), together(0.9, 0.65, RANKING)])
    summary = summarize_report(only_together)
    assert summary.drifted and summary.drifted_features == []
    assert summary.multivariate_drifted == ["domain_classifier"]
    assert monitor_state(only_together) == "drifting"
    assert finding_lines(summary) == [
        ":orange[**Drifting:** the features together (domain_classifier)]"
    ]
    both = summarize_report(published(0, [psi("a", 0.9), together(0.9, 0.65)]))
    assert finding_lines(both) == [
        ":orange[**Drifting:** a]",
        ":orange[**Also drifting:** the features together (domain_classifier)]",
    ]
    assert finding_lines(summarize_report(published(0, [psi("a", 0.1)]))) == [
        ":green[No drift in the last run.]"
    ]
    assert report_label(only_together) == "2026-03-01 12:00:00 · 0 drifting · together"
    few = summarize_report(published(0, [], status="insufficient_data"))
    assert finding_lines(few) == [":gray[Too few rows in the last window to check drift.]"]


def test_a_flipped_correlation_ranks_the_two_features_no_per_feature_test_flagged() -> None:
    # the real detectors: two features whose correlation flips while each stays standard
    # normal. KS passes both; the domain classifier finds the change and ranks them on top
    from driftscope import WindowSample
    from driftscope.core.contracts.detector import FeatureSample
    from driftscope.plugins.detectors.domain_classifier import (
        DomainClassifierDetector,
        DomainClassifierSettings,
    )
    from driftscope.plugins.detectors.ks import KSDetector, KSSettings

    def sample(seed: int, rows: int, rho: float) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        x = rng.normal(size=rows)
        y = rho * x + math.sqrt(1 - rho**2) * rng.normal(size=rows)
        return {"x": x, "y": y, "u": rng.normal(size=rows), "v": rng.normal(size=rows)}

    def window(features: dict[str, np.ndarray]) -> WindowSample:
        rows = len(features["x"])
        return WindowSample(
            features=features,
            kinds=dict.fromkeys(features, "numeric"),
            task="classification",
            predictions=np.array(["1"] * rows, dtype=object),
            labels=np.array([None] * rows, dtype=object),
        )

    reference, current = sample(1, 4000, 0.8), sample(2, 1500, -0.8)
    ks = KSDetector(KSSettings(type="ks", p_value=0.05 / 4))
    rows = []
    for name in reference:
        scored = ks.score(
            ks.fit(FeatureSample(name, "numeric", reference[name])),
            FeatureSample(name, "numeric", current[name]),
        )
        rows.append(
            result(
                name,
                "ks",
                scored.statistic,
                p_value=scored.p_value,
                threshold=0.0125,
                drifted=scored.drifted,
            )
        )
    detector = DomainClassifierDetector(DomainClassifierSettings(type="domain_classifier"))
    (found,) = detector.score(detector.fit(window(reference)), window(current))
    rows.append(
        result(
            None,
            "domain_classifier",
            found.statistic,
            threshold=found.threshold,
            drifted=found.drifted,
            kind="multivariate",
            details=found.details,
        )
    )
    made = published(0, rows)
    summary = summarize_report(made)
    assert summary.drifted_features == [] and summary.multivariate_drifted
    (finding,) = multivariate_findings(made)
    assert {r.feature for r in finding.ranking[:2]} == {"x", "y"}
    fig = charts.ranking_figure(finding.ranking, set(summary.drifted_features))
    (quiet,) = fig.data
    assert quiet.name == "no per-feature test flagged it"
    assert set(list(fig.layout.yaxis.categoryarray)[-2:]) == {"x", "y"}  # on top
