"""Shaping API answers into what the pages draw: pure functions, no Streamlit, no I/O.

Everything here takes the JSON the API publishes (reports in the shape of
``driftscope.core.contracts.report.Report.to_dict``, alert states and events, prediction stats) and
returns small dataclasses: time series per feature, a feature × time matrix, the state of a monitor,
the reference-against-current comparison of one result. The functions are defensive: a missing or
malformed key gives an empty result, never an exception, so a page can show an empty state instead
of a traceback when the API's answer is not what it expected.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, Literal

# -- states ----------------------------------------------------------------------------------

MonitorState = Literal["ok", "drifting", "firing", "failing", "no_data"]

STATE_LABELS: dict[str, str] = {
    "ok": "OK",
    "drifting": "Drifting",
    "firing": "Alert firing",
    "failing": "Failing",
    "no_data": "No data",
}
"""How each monitor state is named on the pages."""

BadgeColor = Literal[
    "red", "orange", "yellow", "blue", "green", "violet", "gray", "grey", "primary"
]
"""The colours ``st.badge`` takes."""

STATE_BADGE_COLORS: dict[str, BadgeColor] = {
    "ok": "green",
    "drifting": "orange",
    "firing": "red",
    "failing": "violet",
    "no_data": "gray",
}
"""The ``st.badge`` colour of each monitor state."""

STATE_ICONS: dict[str, str] = {
    "ok": ":material/check_circle:",
    "drifting": ":material/trending_up:",
    "firing": ":material/notifications_active:",
    "failing": ":material/error:",
    "no_data": ":material/hourglass_empty:",
}
"""The Material icon of each monitor state."""

ALERT_STATE_COLORS: dict[str, str] = {
    "ok": "#2e9e5b",
    "pending": "#e3a008",
    "firing": "#d63a3a",
    "resolved": "#3b82c4",
    "no_data": "#8a8f98",
}
"""Plotly colours of alert states (history timeline)."""

DRIFT_COLOR = "#d63a3a"
OK_COLOR = "#2e9e5b"
REFERENCE_COLOR = "#7f8c9d"
CURRENT_COLOR = "#3b6fd8"

# -- time ------------------------------------------------------------------------------------

TIME_RANGES: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
"""The time-range selector's choices."""

DEFAULT_TIME_RANGE = "24h"


def now_utc() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def since_for(time_range: str, now: datetime | None = None) -> datetime:
    """The start of a time range such as ``"24h"`` (unknown names mean the default)."""
    span = TIME_RANGES.get(time_range, TIME_RANGES[DEFAULT_TIME_RANGE])
    return (now or now_utc()) - span


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 string or datetime as an aware UTC datetime; ``None`` when unparseable."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_age(moment: datetime | None, now: datetime | None = None, *, short: bool = False) -> str:
    """How long ago ``moment`` was, in words: "just now", "5 min ago", "3 h ago", "2 d ago"
    (``short``: "now", "5m ago", "3h ago", "2d ago")."""
    if moment is None:
        return "never"
    seconds = ((now or now_utc()) - moment).total_seconds()
    if seconds < 45:
        return "now" if short else "just now"
    if seconds < 90 * 60:
        amount, unit = max(1, round(seconds / 60)), "m" if short else " min"
    elif seconds < 36 * 3600:
        amount, unit = round(seconds / 3600), "h" if short else " h"
    else:
        amount, unit = round(seconds / 86400), "d" if short else " d"
    return f"{amount}{unit} ago"


def format_number(value: float | None, digits: int = 3) -> str:
    """A statistic for display: ``-`` for none, scientific for tiny p-values."""
    if value is None or not isinstance(value, int | float) or math.isnan(value):
        return "-"
    if value != 0 and abs(value) < 10**-(digits):
        return f"{value:.2e}"
    return f"{value:.{digits}f}"


# -- small helpers ---------------------------------------------------------------------------


def items(payload: Any, *keys: str) -> list[Mapping[str, Any]]:
    """The list of objects in an API answer: the answer itself when it is a list, else the
    first of ``keys`` (or ``"items"``) holding a list. Non-dict entries are dropped."""
    found: Any = payload
    if isinstance(payload, Mapping):
        found = None
        for key in (*keys, "items", "data", "results"):
            value = payload.get(key)
            if isinstance(value, list):
                found = value
                break
    if not isinstance(found, list):
        return []
    return [entry for entry in found if isinstance(entry, Mapping)]


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _int(value: Any) -> int | None:
    number = _float(value)
    return None if number is None or math.isinf(number) else int(number)


def as_mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when the API answered a mapping there, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def _details(row: Mapping[str, Any]) -> Mapping[str, Any]:
    return as_mapping(row.get("details"))


def sorted_reports(reports: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Reports with a readable ``created_at``, oldest first."""
    dated: list[tuple[datetime, Mapping[str, Any]]] = []
    for report in reports:
        moment = parse_time(report.get("created_at")) if isinstance(report, Mapping) else None
        if moment is not None:
            dated.append((moment, report))
    return [report for _, report in sorted(dated, key=lambda p: p[0])]


def latest_report(reports: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The newest report, or ``None``."""
    ordered = sorted_reports(reports)
    return ordered[-1] if ordered else None


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultPoint:
    """One result of one report, flattened, with the value its decision is made on.

    ``value`` is the adjusted p-value for p-value detectors (KS, chi-square), whose
    ``threshold`` is a significance level, and the statistic otherwise (PSI).
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

    @property
    def value(self) -> float | None:
        """The number compared with ``threshold``."""
        return self.p_value if self.uses_p_value else self.statistic


def feature_label(row: Mapping[str, Any]) -> str:
    """The name a result is shown under: the feature, ``prediction``, or the metric."""
    feature = row.get("feature")
    if isinstance(feature, str) and feature:
        return feature
    kind = row.get("kind")
    if kind == "performance":
        metric = _details(row).get("metric")
        return str(metric) if metric else "performance"
    return str(kind or "?")


def result_points(
    reports: Iterable[Mapping[str, Any]], kind: str | None = None
) -> list[ResultPoint]:
    """Every result of every report (oldest report first), optionally of one ``kind``."""
    points: list[ResultPoint] = []
    for report in sorted_reports(reports):
        time = parse_time(report.get("created_at"))
        assert time is not None  # sorted_reports keeps dated reports only
        for row in items(report.get("results")):
            if kind is not None and row.get("kind") != kind:
                continue
            details = _details(row)
            p_raw = _float(row.get("p_value"))
            p_adjusted = _float(details.get("p_value_adjusted"))
            points.append(
                ResultPoint(
                    time=time,
                    report_id=str(report.get("id", "")),
                    kind=str(row.get("kind", "feature")),
                    feature=feature_label(row),
                    detector=str(row.get("detector", "?")),
                    statistic=_float(row.get("statistic")),
                    p_value=p_adjusted if p_adjusted is not None else p_raw,
                    threshold=_float(row.get("threshold")),
                    drifted=bool(row.get("drifted", False)),
                    status=str(row.get("status", "ok")),
                    error=row.get("error") if isinstance(row.get("error"), str) else None,
                    uses_p_value=p_raw is not None or p_adjusted is not None,
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


# -- one report ------------------------------------------------------------------------------


@dataclass
class ReportSummary:
    """What a monitor's card and the Monitor page header say about one report."""

    id: str
    created_at: datetime | None
    status: str
    drifted: bool
    rows: int | None
    labelled_rows: int | None
    features: list[str]
    drifted_features: list[str]
    failed: list[str]
    prediction_drifted: bool
    performance_drifted: bool

    @property
    def feature_count(self) -> int:
        """How many features were checked."""
        return len(self.features)


def summarize_report(report: Mapping[str, Any]) -> ReportSummary:
    """Counts of one report: features checked and drifting, failures, window rows."""
    window = as_mapping(report.get("window"))
    results = items(report.get("results"))
    features: dict[str, None] = {}
    drifted: dict[str, None] = {}
    failed: list[str] = []
    for row in results:
        label = feature_label(row)
        if row.get("kind", "feature") == "feature":
            features.setdefault(label, None)
            if row.get("drifted"):
                drifted.setdefault(label, None)
        if row.get("status") == "failed":
            failed.append(f"{row.get('detector', '?')} on {label}: {row.get('error') or 'failed'}")
    any_drift = report.get("drifted")
    return ReportSummary(
        id=str(report.get("id", "")),
        created_at=parse_time(report.get("created_at")),
        status=str(report.get("status", "ok")),
        drifted=bool(any_drift)
        if any_drift is not None
        else any(r.get("drifted") for r in results),
        rows=_int(window.get("rows")),
        labelled_rows=_int(window.get("labelled_rows")),
        features=list(features),
        drifted_features=list(drifted),
        failed=failed,
        prediction_drifted=any(r.get("drifted") for r in results if r.get("kind") == "prediction"),
        performance_drifted=any(
            r.get("drifted") for r in results if r.get("kind") == "performance"
        ),
    )


def monitor_state(
    report: Mapping[str, Any] | None, alerts: Iterable[Mapping[str, Any]] = ()
) -> MonitorState:
    """A monitor's state at a glance from its latest report and its alert states.

    ``firing`` when one of its alert keys fires; else ``failing`` when the report failed or a
    detector on it raised; ``no_data`` without a report, with too few rows, or when its alert
    is in ``no_data``; ``drifting`` when the report found drift; else ``ok``.
    """
    alert_states = {str(a.get("state")) for a in alerts}
    if "firing" in alert_states:
        return "firing"
    if report is None:
        return "no_data"
    summary = summarize_report(report)
    if summary.status == "failed" or summary.failed:
        return "failing"
    if summary.status == "insufficient_data" or "no_data" in alert_states:
        return "no_data"
    if summary.drifted:
        return "drifting"
    return "ok"


def drifted_count_series(reports: Iterable[Mapping[str, Any]]) -> list[int]:
    """How many features drifted in each report, oldest first (for a sparkline)."""
    return [len(summarize_report(r).drifted_features) for r in sorted_reports(reports)]


@dataclass
class Comparison:
    """Reference against current for one result, ready to draw.

    ``shape`` is ``"bins"`` (``labels`` with both proportions: PSI, chi-square) or
    ``"ecdf"`` (``x`` with both cumulative shares: KS).
    """

    shape: Literal["bins", "ecdf"]
    x: list[Any]
    reference: list[float]
    current: list[float]
    location: float | None = None
    """For ECDFs: where the two curves are furthest apart (KS's D), when reported."""

    def gap_at_location(self) -> tuple[float, float] | None:
        """The two ECDF values at ``location`` (the ends of D's segment), or ``None``."""
        if self.shape != "ecdf" or self.location is None or not self.x:
            return None
        index = -1
        for i, x in enumerate(self.x):
            if x <= self.location:
                index = i
        if index < 0:
            return (0.0, 0.0)
        return (self.reference[index], self.current[index])


def _numbers(values: Any) -> list[float] | None:
    if not isinstance(values, list):
        return None
    out = [_float(v) for v in values]
    if any(v is None for v in out):
        return None
    return [float(v) for v in out if v is not None]


def _proportions(values: list[float]) -> list[float]:
    total = sum(values)
    if total > 1.0 + 1e-6 and total > 0:  # counts, not proportions
        return [v / total for v in values]
    return values


def _bin_labels(bins: Mapping[str, Any], size: int) -> list[str]:
    """Short labels of bins: from numeric ``edges`` (three significant digits) when given,
    else the published ``labels`` (categories), else ``bin 1`` …"""
    edges = _numbers(bins.get("edges"))
    if edges is not None and len(edges) == size + 1:
        return [f"{format_edge(lo)} – {format_edge(hi)}" for lo, hi in pairwise(edges)]
    if edges is not None and len(edges) == size - 1 and size > 1:  # inner edges, open ends
        inner = [f"{format_edge(lo)} – {format_edge(hi)}" for lo, hi in pairwise(edges)]
        return [f"≤ {format_edge(edges[0])}", *inner, f"> {format_edge(edges[-1])}"]
    labels = bins.get("labels")
    if isinstance(labels, list) and len(labels) == size:
        return [str(label) for label in labels]
    return [f"bin {i + 1}" for i in range(size)]


def format_edge(value: float) -> str:
    """A bin edge for a label: ``-∞``/``∞`` for open ends, else three significant digits."""
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.3g}"


def comparison(result: Mapping[str, Any]) -> Comparison | None:
    """The reference-against-current data a result's ``details`` carry, or ``None``."""
    details = _details(result)
    bins = details.get("bins")
    if isinstance(bins, Mapping):
        reference = _numbers(bins.get("reference"))
        current = _numbers(bins.get("current"))
        if reference is None or current is None:
            ref_counts = _numbers(bins.get("reference_counts"))
            cur_counts = _numbers(bins.get("current_counts"))
            reference = reference or ref_counts
            current = current or cur_counts
        if reference and current and len(reference) == len(current):
            return Comparison(
                "bins",
                _bin_labels(bins, len(reference)),
                _proportions(reference),
                _proportions(current),
            )
    ecdf = details.get("ecdf")
    if isinstance(ecdf, Mapping):
        x = _numbers(ecdf.get("x"))
        reference = _numbers(ecdf.get("reference"))
        current = _numbers(ecdf.get("current"))
        if x and reference and current and len(x) == len(reference) == len(current):
            location = _float(details.get("statistic_location"))
            return Comparison("ecdf", list(x), reference, current, location)
    return None


@dataclass
class SampleCounts:
    """Sample sizes and dropped values of one result (``None`` where not reported)."""

    reference_size: int | None
    current_size: int | None
    reference_missing: int | None
    current_missing: int | None
    reference_infinite: int | None
    current_infinite: int | None


def sample_counts(result: Mapping[str, Any]) -> SampleCounts:
    """The sample counts in a result's ``details``."""
    d = _details(result)
    return SampleCounts(
        reference_size=_int(d.get("reference_size")),
        current_size=_int(d.get("current_size")),
        reference_missing=_int(d.get("reference_missing")),
        current_missing=_int(d.get("current_missing")),
        reference_infinite=_int(d.get("reference_infinite")),
        current_infinite=_int(d.get("current_infinite")),
    )


def results_for_feature(report: Mapping[str, Any], feature: str) -> list[Mapping[str, Any]]:
    """The results of one report on one feature (or ``prediction``...), in report order."""
    return [r for r in items(report.get("results")) if feature_label(r) == feature]


def report_features(report: Mapping[str, Any], kind: str = "feature") -> list[str]:
    """The features of ``kind`` a report checked: drifted ones first, then in report order."""
    names: dict[str, bool] = {}
    for row in items(report.get("results")):
        if row.get("kind", "feature") != kind:
            continue
        label = feature_label(row)
        names[label] = names.get(label, False) or bool(row.get("drifted"))
    return sorted(names, key=lambda n: not names[n])


# -- performance -----------------------------------------------------------------------------


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
            details = _details(row)
            detector = str(row.get("detector", "performance"))
            entry = out.setdefault(
                detector, PerformanceSeries(str(details.get("metric") or detector), detector)
            )
            _absorb_details(entry, details)
            status = str(row.get("status", "ok"))
            limit = _float(row.get("threshold"))
            if limit is not None and status != "failed":
                entry.limit = limit
            current = _float(details.get("current_value"))
            if current is None:
                current = _float(row.get("statistic"))
            if status != "ok" or current is None:
                entry.skipped += 1
                entry.last_skip_reason = str(row.get("error") or status.replace("_", " "))
                continue
            entry.times.append(time)
            entry.values.append(current)
            entry.drifted.append(bool(row.get("drifted")))
            entry.labelled_rows.append(_int(details.get("labelled_rows")))
    if detailed is not None:
        for row in items(detailed.get("results")):
            series = out.get(str(row.get("detector", "performance")))
            if row.get("kind") == "performance" and series is not None:
                _absorb_details(series, _details(row), fill_only=True)
    return list(out.values())


def _absorb_details(
    entry: PerformanceSeries, details: Mapping[str, Any], *, fill_only: bool = False
) -> None:
    metric = details.get("metric")
    if metric and (not fill_only or entry.metric == entry.detector):
        entry.metric = str(metric)
    reference = _float(details.get("reference_value"))
    if reference is not None and (not fill_only or entry.reference_value is None):
        entry.reference_value = reference
    max_drop = _float(details.get("max_drop"))
    if max_drop is not None and (not fill_only or entry.max_drop is None):
        entry.max_drop = max_drop


# -- models ----------------------------------------------------------------------------------


@dataclass
class ModelHealth:
    """A model's traffic over the selected range."""

    model: str
    count: int | None
    per_minute: float | None
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    labelled: int | None
    labelled_share: float | None
    last_at: datetime | None


def model_health(model: str, stats: Mapping[str, Any] | None, span: timedelta) -> ModelHealth:
    """Prediction rate, latency and labelled share from ``/v1/models/{model}/stats``.

    The rate comes from the answer when it has one (``rate_per_minute`` or
    ``rate_per_second``), else from the count over the range.
    """
    stats = as_mapping(stats)
    latency = as_mapping(stats.get("latency_ms"))
    count = _int(stats.get("count", stats.get("predictions")))
    labelled = _int(stats.get("labelled", stats.get("labelled_count")))
    per_minute = _float(stats.get("rate_per_minute"))
    per_second = _float(stats.get("rate_per_second"))
    if per_minute is None and per_second is not None:
        per_minute = per_second * 60
    if per_minute is None and count is not None and span.total_seconds() > 0:
        per_minute = count / (span.total_seconds() / 60)
    share = _float(stats.get("labelled_share"))
    if share is None and count and labelled is not None:
        share = labelled / count
    return ModelHealth(
        model=model,
        count=count,
        per_minute=per_minute,
        latency_p50_ms=_float(stats.get("latency_p50_ms", latency.get("p50"))),
        latency_p99_ms=_float(stats.get("latency_p99_ms", latency.get("p99"))),
        labelled=labelled,
        labelled_share=share,
        last_at=parse_time(stats.get("last_at")),
    )


# -- alerts ----------------------------------------------------------------------------------


def alert_subject(detector: str, feature: str) -> str:
    """What an alert key is about: ``feature · detector``, the detector alone when the
    feature repeats it (performance), or ``whole monitor`` for the monitor's own key."""
    if detector == "monitor":
        return "whole monitor"
    if not feature or feature == detector:
        return detector
    return f"{feature} · {detector}"


@dataclass
class AlertRow:
    """One alert key's current state."""

    monitor: str
    detector: str
    feature: str
    state: str
    since: datetime | None
    statistic: float | None
    threshold: float | None

    @property
    def subject(self) -> str:
        """What the alert is about: ``feature · detector``, or the monitor itself."""
        return alert_subject(self.detector, self.feature)


def alert_rows(payload: Any) -> list[AlertRow]:
    """The alert states in a ``/v1/alerts`` answer (a list, or ``{"alerts"|"states": [...]}``)."""
    rows = []
    for a in items(payload, "alerts", "states"):
        rows.append(
            AlertRow(
                monitor=str(a.get("monitor", "")),
                detector=str(a.get("detector", "")),
                feature=str(a.get("feature") or ""),
                state=str(a.get("state", "ok")),
                since=parse_time(a.get("changed_at", a.get("since"))),
                statistic=_float(a.get("statistic")),
                threshold=_float(a.get("threshold")),
            )
        )
    order = {"firing": 0, "no_data": 1, "pending": 2, "resolved": 3, "ok": 4}
    rows.sort(key=lambda r: (order.get(r.state, 5), r.monitor, r.subject))
    return rows


def alerts_by_monitor(rows: Iterable[AlertRow]) -> dict[str, list[dict[str, Any]]]:
    """Alert states grouped by monitor, as the dicts :func:`monitor_state` reads."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r.monitor, []).append({"state": r.state, "feature": r.feature})
    return out


def firing_by_feature(rows: Iterable[AlertRow]) -> dict[str, dict[str, list[str]]]:
    """Firing and no-data alerts grouped by monitor, then by feature: the detectors firing
    on each (``{"cancer": {"mean radius": ["ks", "psi"]}}``), features in first-seen order."""
    out: dict[str, dict[str, list[str]]] = {}
    for r in rows:
        if r.state not in ("firing", "no_data"):
            continue
        if r.detector == "monitor":
            feature, detector = "no data", "monitor"
        else:
            feature = r.feature if r.feature and r.feature != r.detector else r.detector
            detector = r.detector
        out.setdefault(r.monitor, {}).setdefault(feature, []).append(detector)
    return out


def state_counts(rows: Iterable[AlertRow]) -> dict[str, int]:
    """How many alert keys are in each state (every state named, zero when none)."""
    counts = dict.fromkeys(ALERT_STATE_COLORS, 0)
    for r in rows:
        counts[r.state] = counts.get(r.state, 0) + 1
    return counts


@dataclass
class AlertEventRow:
    """One recorded state change (the alert history)."""

    at: datetime
    monitor: str
    detector: str
    feature: str
    from_state: str
    to_state: str
    statistic: float | None
    threshold: float | None
    silenced: bool

    @property
    def subject(self) -> str:
        """What changed: ``feature · detector``, or the monitor itself."""
        return alert_subject(self.detector, self.feature)


def alert_events(payload: Any) -> list[AlertEventRow]:
    """The history in a ``/v1/alerts`` answer (``{"events"|"history": [...]}``), newest first."""
    rows = []
    for e in items(payload, "events", "history") if isinstance(payload, Mapping) else []:
        at = parse_time(e.get("at", e.get("created_at")))
        if at is None:
            continue
        rows.append(
            AlertEventRow(
                at=at,
                monitor=str(e.get("monitor", "")),
                detector=str(e.get("detector", "")),
                feature=str(e.get("feature") or ""),
                from_state=str(e.get("from_state", "")),
                to_state=str(e.get("to_state", "")),
                statistic=_float(e.get("statistic")),
                threshold=_float(e.get("threshold")),
                silenced=bool(e.get("silenced", False)),
            )
        )
    rows.sort(key=lambda r: r.at, reverse=True)
    return rows


@dataclass
class NotifierDelivery:
    """Delivery status of one notifier: counts per outbox status and the last error.

    ``retrying`` counts pending messages that met an error; ``given_up`` those still
    undelivered after the delivery's ``give_up_after``.
    """

    name: str
    type: str | None = None
    sent: int = 0
    pending: int = 0
    retrying: int = 0
    failed: int = 0
    given_up: int = 0
    muted: int = 0
    disabled: bool = False
    disabled_reason: str | None = None
    last_error: str | None = None
    last_sent_at: datetime | None = None
    waiting_until: datetime | None = None
    oldest_pending_at: datetime | None = None

    @property
    def status(self) -> Literal["ok", "retrying", "failed", "given up", "disabled", "idle"]:
        """The one word for this notifier's delivery (the worst that applies)."""
        if self.disabled:
            return "disabled"
        if self.given_up:
            return "given up"
        if self.failed:
            return "failed"
        if self.retrying or (self.pending and self.last_error):
            return "retrying"
        if self.pending or self.sent:
            return "ok"
        return "idle"


@dataclass
class OutboxMessageRow:
    """One pending or given-up alert message, as ``/readyz`` lists it."""

    id: str
    notifier: str
    monitor: str
    status: str
    created_at: datetime | None
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    changes: list[str]


def _notifier_from_health(name: str, n: Mapping[str, Any]) -> NotifierDelivery:
    return NotifierDelivery(
        name=str(n.get("name", name)),
        type=n.get("type") if isinstance(n.get("type"), str) else None,
        sent=_int(n.get("sent")) or 0,
        pending=_int(n.get("pending")) or 0,
        retrying=_int(n.get("retrying")) or 0,
        failed=_int(n.get("failed")) or 0,
        given_up=_int(n.get("given_up")) or 0,
        muted=_int(n.get("muted")) or 0,
        disabled=bool(n.get("disabled", False)),
        disabled_reason=n.get("disabled_reason") if n.get("disabled_reason") else None,
        last_error=str(n["last_error"]) if n.get("last_error") else None,
        last_sent_at=parse_time(n.get("last_sent_at")),
        waiting_until=parse_time(n.get("waiting_until")),
        oldest_pending_at=parse_time(n.get("oldest_pending_at")),
    )


def _delivery_summary(payload: Any) -> Mapping[str, Any] | None:
    """``checks.delivery.data`` of a ``/readyz`` answer, or a mapping's ``delivery``."""
    if not isinstance(payload, Mapping):
        return None
    delivery = payload.get("delivery")
    checks = payload.get("checks")
    if isinstance(checks, Mapping) and isinstance(checks.get("delivery"), Mapping):
        delivery = checks["delivery"].get("data")
    return delivery if isinstance(delivery, Mapping) else None


def delivery_status(payload: Any) -> list[NotifierDelivery]:
    """Delivery per notifier from the ``/readyz`` answer (``checks.delivery.data``) or any
    mapping with a ``delivery`` summary.

    ``notifiers`` of the delivery health summary is a mapping by name or a list.
    """
    delivery = _delivery_summary(payload)
    found: dict[str, NotifierDelivery] = {}
    if delivery is not None:
        notifiers = delivery.get("notifiers")
        if isinstance(notifiers, Mapping):
            for name, n in notifiers.items():
                if isinstance(n, Mapping):
                    found[str(name)] = _notifier_from_health(str(name), n)
        else:
            for n in items(notifiers):
                name = str(n.get("name", "?"))
                found[name] = _notifier_from_health(name, n)
    return sorted(found.values(), key=lambda n: n.name)


def outbox_messages(payload: Any) -> list[OutboxMessageRow]:
    """The pending and given-up messages of the delivery summary (see
    :func:`delivery_status`), given up first, then oldest first."""
    delivery = _delivery_summary(payload)
    if delivery is None:
        return []
    rows = []
    for m in items(delivery.get("messages")):
        changes = m.get("changes")
        rows.append(
            OutboxMessageRow(
                id=str(m.get("id", "?")),
                notifier=str(m.get("notifier", "?")),
                monitor=str(m.get("monitor", "?")),
                status=str(m.get("status", "?")),
                created_at=parse_time(m.get("created_at")),
                attempts=_int(m.get("attempts")) or 0,
                next_attempt_at=parse_time(m.get("next_attempt_at")),
                last_error=str(m["last_error"]) if m.get("last_error") else None,
                changes=[str(c) for c in changes] if isinstance(changes, list) else [],
            )
        )
    oldest = datetime.min.replace(tzinfo=UTC)
    rows.sort(key=lambda r: (r.status != "given_up", r.created_at or oldest))
    return rows


def format_duration(seconds: float | None) -> str | None:
    """Seconds as the config writes them: ``90s``, ``5m``, ``1h``, ``2d`` (``None`` stays)."""
    if seconds is None:
        return None
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


@dataclass
class MonitorInfo:
    """A configured monitor as ``/v1/monitors`` describes it."""

    name: str
    model: str
    every: str | None
    cron: str | None
    window: str | None
    min_samples: int | None
    detectors: list[str]
    notify: list[str]
    latest_at: datetime | None

    @property
    def schedule(self) -> str | None:
        """``every 1m`` or ``cron */5 * * * *``."""
        if self.every:
            return f"every {self.every}"
        if self.cron:
            return f"cron {self.cron}"
        return None


def monitors(payload: Any) -> list[MonitorInfo]:
    """The monitors in a ``/v1/monitors`` answer, in its order."""
    out = []
    for m in items(payload, "monitors"):
        if not m.get("name"):
            continue
        detectors = []
        for d in m.get("detectors") or []:
            if isinstance(d, Mapping):
                d = d.get("type")
            if d:
                detectors.append(str(d))
        window = m.get("window")
        latest = m.get("latest_report")
        out.append(
            MonitorInfo(
                name=str(m["name"]),
                model=str(m.get("model") or "?"),
                every=format_duration(_float(m.get("every_seconds")))
                or (str(m["every"]) if m.get("every") else None),
                cron=str(m["cron"]) if m.get("cron") else None,
                window=format_duration(_float(m.get("window_seconds")))
                or (
                    str(window.get("last"))
                    if isinstance(window, Mapping) and window.get("last")
                    else None
                ),
                min_samples=_int(m.get("min_samples")),
                detectors=detectors,
                notify=[str(n) for n in m.get("notify") or []],
                latest_at=parse_time(latest.get("created_at"))
                if isinstance(latest, Mapping)
                else None,
            )
        )
    return out


def monitor_names(payload: Any) -> list[str]:
    """The monitor names in a ``/v1/monitors`` answer, in its order."""
    return [str(m["name"]) for m in items(payload, "monitors") if m.get("name")]


def model_names(payload: Any) -> list[str]:
    """The model names in a ``/v1/models`` answer."""
    return [str(m["name"]) for m in items(payload, "models") if m.get("name")]
