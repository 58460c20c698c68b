"""The model's measured performance over time (the performance detector's results) against
its reference value and the acceptable limit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from driftscope.apps.dashboard.data.values import (
    as_float,
    as_int,
    details_of,
    items,
    parse_time,
    sorted_reports,
)


@dataclass
class PerformanceSeries:
    """The model's metric over time against its reference value and the acceptable limit.

    ``limit`` is the published threshold of the performance result: the lowest acceptable
    value (``reference × (1 − max_drop)``), or the highest for error metrics, where
    ``lower_is_better``. ``skipped`` counts runs without enough labels.
    """

    metric: str
    detector: str
    times: list[datetime] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    drifted: list[bool] = field(default_factory=list)
    labelled_rows: list[int | None] = field(default_factory=list)
    reference_value: float | None = None
    limit: float | None = None
    max_drop: float | None = None
    skipped: int = 0
    last_skip_reason: str | None = None

    @property
    def lower_is_better(self) -> bool:
        """True for error metrics, whose limit lies above the reference."""
        return (
            self.limit is not None
            and self.reference_value is not None
            and self.limit > self.reference_value
        )

    @property
    def latest_change(self) -> float | None:
        """The relative change of the newest value against the reference."""
        if not self.values or not self.reference_value:
            return None
        return (self.values[-1] - self.reference_value) / abs(self.reference_value)


def performance_series(
    reports: Iterable[Mapping[str, Any]], detailed: Mapping[str, Any] | None = None
) -> list[PerformanceSeries]:
    """One series per performance detector, oldest run first.

    Reports listed without ``details`` still give the value (``statistic``) and the limit
    (``threshold``); the metric's name and reference value then come from ``detailed``, one
    report read with its details.
    """
    out: dict[str, PerformanceSeries] = {}
    for report in sorted_reports(reports):
        time = parse_time(report.get("created_at"))
        assert time is not None
        for row in items(report.get("results")):
            if row.get("kind") != "performance":
                continue
            details = details_of(row)
            detector = str(row.get("detector", "performance"))
            entry = out.setdefault(
                detector, PerformanceSeries(str(details.get("metric") or detector), detector)
            )
            _absorb_details(entry, details)
            status = str(row.get("status", "ok"))
            limit = as_float(row.get("threshold"))
            if limit is not None and status != "failed":
                entry.limit = limit
            current = as_float(details.get("current_value"))
            if current is None:
                current = as_float(row.get("statistic"))
            if status != "ok" or current is None:
                entry.skipped += 1
                entry.last_skip_reason = str(row.get("error") or status.replace("_", " "))
                continue
            entry.times.append(time)
            entry.values.append(current)
            entry.drifted.append(bool(row.get("drifted")))
            entry.labelled_rows.append(as_int(details.get("labelled_rows")))
    if detailed is not None:
        for row in items(detailed.get("results")):
            series = out.get(str(row.get("detector", "performance")))
            if row.get("kind") == "performance" and series is not None:
                _absorb_details(series, details_of(row), fill_only=True)
    return list(out.values())


def _absorb_details(
    entry: PerformanceSeries, details: Mapping[str, Any], *, fill_only: bool = False
) -> None:
    metric = details.get("metric")
    if metric and (not fill_only or entry.metric == entry.detector):
        entry.metric = str(metric)
    reference = as_float(details.get("reference_value"))
    if reference is not None and (not fill_only or entry.reference_value is None):
        entry.reference_value = reference
    max_drop = as_float(details.get("max_drop"))
    if max_drop is not None and (not fill_only or entry.max_drop is None):
        entry.max_drop = max_drop
