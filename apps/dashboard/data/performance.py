"""The model's performance over time against its reference value and the acceptable limit:
measured on labelled rows (the ``performance`` detector), or estimated before labels arrive
(``cbpe`` for classifiers, ``dle`` for regressors) with a band around the estimate and the
realized value where the window had labels."""

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
    report_time,
    sorted_reports,
)

ESTIMATE_KEYS = ("lower", "upper", "standard_error", "realized_rows")
"""Details only an estimator's results carry (a measured metric has none of them)."""


@dataclass
class PerformanceSeries:
    """One metric of one detector over time against its reference value and the acceptable
    limit.

    ``limit`` is the published threshold of the result: the lowest acceptable value
    (``reference × (1 − max_drop)``), or the highest for error metrics, where
    ``lower_is_better``. ``skipped`` counts runs without a value (too few labelled rows, or
    rows with probabilities for an estimate).

    An ``estimated`` series (``cbpe``, ``dle``) has, per drawn run, the band ``lower`` …
    ``upper`` (± a few standard errors of the realized metric at the window's size) and the
    ``realized`` value on the window's labelled rows, ``None`` where it had none.
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
    estimated: bool = False
    lower: list[float | None] = field(default_factory=list)
    upper: list[float | None] = field(default_factory=list)
    standard_errors: list[float | None] = field(default_factory=list)
    realized: list[float | None] = field(default_factory=list)
    realized_rows: list[int | None] = field(default_factory=list)

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

    @property
    def allowed_change(self) -> float | None:
        """``max_drop``: as the result says, else from the limit and the reference value."""
        if self.max_drop is not None:
            return self.max_drop
        if self.limit is None or not self.reference_value:
            return None
        return abs(self.limit - self.reference_value) / abs(self.reference_value)

    @property
    def band_sigmas(self) -> float | None:
        """How many standard errors the band reaches on either side of the estimate, read
        from the runs (the wider side: a band is cut at 0 and, for scores, at 1); ``None``
        without a band and a positive standard error."""
        for value, low, high, se in zip(
            self.values, self.lower, self.upper, self.standard_errors, strict=True
        ):
            if low is None or high is None or se is None or se <= 0:
                continue
            return round(max(value - low, high - value) / se, 1)
        return None

    @property
    def realized_runs(self) -> int:
        """How many drawn runs had a realized value."""
        return sum(1 for r in self.realized if r is not None)

    @property
    def outside_band(self) -> int:
        """How many drawn runs had a realized value outside their band: a change the
        estimate cannot see, such as labels that came to mean something else."""
        return sum(
            1
            for r, low, high in zip(self.realized, self.lower, self.upper, strict=True)
            if r is not None and low is not None and high is not None and not low <= r <= high
        )


def _key(row: Mapping[str, Any]) -> tuple[str, str | None]:
    """A series per detector and metric: an estimator names its metric in ``feature``, the
    performance detector in ``details.metric`` (absent from reports listed without it)."""
    details = details_of(row)
    feature = row.get("feature")
    metric = feature if isinstance(feature, str) and feature else details.get("metric")
    return str(row.get("detector", "performance")), str(metric) if metric else None


def performance_series(
    reports: Iterable[Mapping[str, Any]], detailed: Mapping[str, Any] | None = None
) -> list[PerformanceSeries]:
    """One series per detector and metric, oldest run first (each run at its window's end).

    Reports listed without ``details`` still give the value (``statistic``) and the limit
    (``threshold``); a metric's name and reference value missing there come from
    ``detailed``, one report read with its details.
    """
    out: dict[tuple[str, str | None], PerformanceSeries] = {}
    for report in sorted_reports(reports):
        time = report_time(report)
        assert time is not None  # sorted_reports keeps dated reports only
        for row in items(report.get("results")):
            if row.get("kind") != "performance":
                continue
            details = details_of(row)
            key = _key(row)
            entry = out.setdefault(key, PerformanceSeries(key[1] or key[0], key[0]))
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
            entry.lower.append(as_float(details.get("lower")))
            entry.upper.append(as_float(details.get("upper")))
            entry.standard_errors.append(as_float(details.get("standard_error")))
            entry.realized.append(as_float(details.get("realized")))
            entry.realized_rows.append(as_int(details.get("realized_rows")))
    if detailed is not None:
        for row in items(detailed.get("results")):
            if row.get("kind") != "performance":
                continue
            detector, metric = _key(row)
            series = out.get((detector, metric)) or out.get((detector, None))
            if series is not None:
                _absorb_details(series, details_of(row), fill_only=True)
    return list(out.values())


def _absorb_details(
    entry: PerformanceSeries, details: Mapping[str, Any], *, fill_only: bool = False
) -> None:
    if any(key in details for key in ESTIMATE_KEYS):
        entry.estimated = True
    metric = details.get("metric")
    if metric and (not fill_only or entry.metric == entry.detector):
        entry.metric = str(metric)
    reference = as_float(details.get("reference_value"))
    if reference is not None and (not fill_only or entry.reference_value is None):
        entry.reference_value = reference
    max_drop = as_float(details.get("max_drop"))
    if max_drop is not None and (not fill_only or entry.max_drop is None):
        entry.max_drop = max_drop


def headline(series: Iterable[PerformanceSeries]) -> PerformanceSeries | None:
    """The series a page's headline number shows: a measured metric with a value, else an
    estimated one."""
    drawn = [s for s in series if s.values]
    return next((s for s in drawn if not s.estimated), None) or next(iter(drawn), None)
