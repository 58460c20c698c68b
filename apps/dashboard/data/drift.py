"""Drift over time: every result of a list of reports flattened into points, each detector's
decision value per feature as series, and the feature × time severity heatmap."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from driftscope.apps.dashboard.data.display import format_number
from driftscope.apps.dashboard.data.values import (
    as_float,
    details_of,
    feature_label,
    is_backfilled,
    items,
    parse_time,
    report_time,
    sorted_reports,
)


@dataclass(frozen=True)
class ResultPoint:
    """One result of one report, flattened, with the value its decision is made on.

    ``value`` is the adjusted p-value for p-value detectors (KS, chi-square), whose
    ``threshold`` is a significance level, and the statistic otherwise (PSI). ``time`` is
    the end of the report's window; ``made`` is when the report was made, which differs for
    a ``backfilled`` one.
    """

    time: datetime
    report_id: str
    kind: str
    feature: str
    detector: str
    statistic: float | None
    p_value: float | None
    threshold: float | None
    drifted: bool
    status: str
    error: str | None
    uses_p_value: bool
    backfilled: bool = False
    made: datetime | None = None

    @property
    def value(self) -> float | None:
        """The number compared with ``threshold``."""
        return self.p_value if self.uses_p_value else self.statistic


def result_points(
    reports: Iterable[Mapping[str, Any]], kind: str | None = None
) -> list[ResultPoint]:
    """Every result of every report (oldest report first), optionally of one ``kind``."""
    points: list[ResultPoint] = []
    for report in sorted_reports(reports):
        time = report_time(report)
        assert time is not None  # sorted_reports keeps dated reports only
        backfilled = is_backfilled(report)
        made = parse_time(report.get("created_at"))
        for row in items(report.get("results")):
            if kind is not None and row.get("kind") != kind:
                continue
            details = details_of(row)
            p_raw = as_float(row.get("p_value"))
            p_adjusted = as_float(details.get("p_value_adjusted"))
            points.append(
                ResultPoint(
                    time=time,
                    report_id=str(report.get("id", "")),
                    kind=str(row.get("kind", "feature")),
                    feature=feature_label(row),
                    detector=str(row.get("detector", "?")),
                    statistic=as_float(row.get("statistic")),
                    p_value=p_adjusted if p_adjusted is not None else p_raw,
                    threshold=as_float(row.get("threshold")),
                    drifted=bool(row.get("drifted", False)),
                    status=str(row.get("status", "ok")),
                    error=row.get("error") if isinstance(row.get("error"), str) else None,
                    uses_p_value=p_raw is not None or p_adjusted is not None,
                    backfilled=backfilled,
                    made=made,
                )
            )
    return points


@dataclass
class Series:
    """One feature's values of one detector over time."""

    feature: str
    times: list[datetime] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)
    drifted: list[bool] = field(default_factory=list)
    report_ids: list[str] = field(default_factory=list)

    @property
    def drift_count(self) -> int:
        """How many runs found drift."""
        return sum(self.drifted)


@dataclass
class DetectorSeries:
    """Every feature's series of one detector, and how to read them.

    ``measure`` is ``"p-value"`` (drift below ``threshold``) or ``"statistic"`` (drift above).
    """

    detector: str
    measure: str
    threshold: float | None
    series: dict[str, Series] = field(default_factory=dict)

    @property
    def drift_below(self) -> bool:
        """True when small values mean drift (p-values)."""
        return self.measure == "p-value"

    def ranked_features(self) -> list[str]:
        """Features with the most drifted runs first, then the latest drifted, then by name."""

        def key(name: str) -> tuple[int, int, str]:
            s = self.series[name]
            last = 1 if s.drifted and s.drifted[-1] else 0
            return (-s.drift_count, -last, name)

        return sorted(self.series, key=key)


def drift_series(
    reports: Iterable[Mapping[str, Any]], kind: str = "feature"
) -> dict[str, DetectorSeries]:
    """Per detector, the decision value of each feature over time (results that failed or
    lacked data are skipped). Detectors are in first-seen order."""
    out: dict[str, DetectorSeries] = {}
    for point in result_points(reports, kind):
        if point.status != "ok" or point.value is None:
            continue
        entry = out.get(point.detector)
        if entry is None:
            entry = out[point.detector] = DetectorSeries(
                detector=point.detector,
                measure="p-value" if point.uses_p_value else "statistic",
                threshold=point.threshold,
            )
        entry.threshold = point.threshold if point.threshold is not None else entry.threshold
        series = entry.series.setdefault(point.feature, Series(point.feature))
        series.times.append(point.time)
        series.values.append(point.value)
        series.drifted.append(point.drifted)
        series.report_ids.append(point.report_id)
    return out


def severity(point: ResultPoint) -> float | None:
    """How far a result is from its threshold, on one scale for every detector: 1 is the
    threshold, above 1 is past it (statistic / threshold, or log p / log threshold for
    p-values), capped at 3. A drifted result is at least 1 and a clean one below 1, so the
    colour always agrees with the decision (an effect-size floor can clear a small p-value)."""
    value, threshold = point.value, point.threshold
    if value is None or threshold is None:
        return None
    if point.uses_p_value:
        if not 0 < threshold < 1:
            return None
        score = 3.0 if value <= 0 else math.log(min(value, 1.0)) / math.log(threshold)
    else:
        if threshold <= 0:
            return None
        score = value / threshold
    score = min(max(score, 0.0), 3.0)
    if point.drifted:
        return max(score, 1.0)
    return min(score, 0.99)


@dataclass
class Heatmap:
    """A feature × time matrix of one detector: ``z[i][j]`` is the severity of feature
    ``features[i]`` in the run at ``times[j]`` (``None`` where it was not measured)."""

    detector: str
    features: list[str]
    times: list[datetime]
    z: list[list[float | None]]
    hover: list[list[str]]
    drifted: list[list[bool]]


def heatmap(reports: Iterable[Mapping[str, Any]], detector: str, kind: str = "feature") -> Heatmap:
    """The feature × time severity matrix of one detector; features that drifted most
    come first."""
    points = [p for p in result_points(reports, kind) if p.detector == detector]
    times = sorted({p.time for p in points})
    column = {t: j for j, t in enumerate(times)}
    counts: dict[str, int] = {}
    for p in points:
        counts[p.feature] = counts.get(p.feature, 0) + int(p.drifted)
    features = sorted(counts, key=lambda f: (-counts[f], f))
    row = {f: i for i, f in enumerate(features)}
    z: list[list[float | None]] = [[None] * len(times) for _ in features]
    hover = [[""] * len(times) for _ in features]
    drifted = [[False] * len(times) for _ in features]
    for p in points:
        i, j = row[p.feature], column[p.time]
        z[i][j] = severity(p) if p.status == "ok" else None
        drifted[i][j] = p.drifted
        hover[i][j] = _hover(p)
    return Heatmap(detector, features, times, z, hover, drifted)


def _hover(p: ResultPoint) -> str:
    lines = [f"<b>{p.feature}</b> · {p.detector}", p.time.strftime("%Y-%m-%d %H:%M:%S UTC")]
    if p.backfilled:
        made = f", made {p.made:%Y-%m-%d %H:%M} UTC" if p.made is not None else ""
        lines.append(f"backfilled{made}")
    if p.status != "ok":
        lines.append(f"{p.status}: {p.error or ''}".strip())
    else:
        lines.append(f"statistic {format_number(p.statistic)}")
        if p.uses_p_value:
            lines.append(f"p-value {format_number(p.p_value)} (threshold {p.threshold})")
        else:
            lines.append(f"threshold {format_number(p.threshold)}")
        lines.append("DRIFT" if p.drifted else "ok")
    return "<br>".join(lines)


def detectors_of(reports: Iterable[Mapping[str, Any]], kind: str = "feature") -> list[str]:
    """The detectors that produced results of ``kind``, in first-seen order."""
    seen: dict[str, None] = {}
    for p in result_points(reports, kind):
        seen.setdefault(p.detector, None)
    return list(seen)


def drawable(
    series: Mapping[str, DetectorSeries], features: Iterable[str]
) -> tuple[list[DetectorSeries], list[DetectorSeries]]:
    """The detectors that scored at least one of ``features`` (a chart each), and those that
    scored none of them (chi-square when only numeric features are chosen): a page names
    those instead of drawing an empty chart."""
    chosen = set(features)
    drawn = [ds for ds in series.values() if chosen & set(ds.series)]
    return drawn, [ds for ds in series.values() if not chosen & set(ds.series)]
