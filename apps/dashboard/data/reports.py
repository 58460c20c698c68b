"""One report: its summary (features checked, drifting, failed), the monitor state it gives
with the monitor's alerts, and per result the reference-against-current comparison and the
sample counts; and of a list of reports, the time spans that backfills covered."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any, Literal

from driftscope.apps.dashboard.data.display import format_edges, format_number
from driftscope.apps.dashboard.data.glossary import QUALITY_NAMES
from driftscope.apps.dashboard.data.quality import flagged_checks, is_quality_result, points
from driftscope.apps.dashboard.data.values import (
    as_float,
    as_int,
    as_mapping,
    details_of,
    feature_label,
    is_backfilled,
    items,
    parse_time,
    report_time,
    sorted_reports,
)

MonitorState = Literal["ok", "drifting", "firing", "failing", "no_data"]


@dataclass
class ReportSummary:
    """What a monitor's card and the Monitor page header say about one report.

    ``drifted_features`` are the features a drift detector flagged; ``quality_flagged`` the
    features the quality detector flagged, with the check that grew most;
    ``multivariate_drifted`` the detectors that found the features drifting together (a
    domain classifier). ``window_end`` is where the report sits in time; ``created_at`` when
    it was made, later for a ``backfilled`` one.
    """

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
    multivariate_drifted: list[str] = field(default_factory=list)
    quality_flagged: dict[str, str] = field(default_factory=dict)
    window_end: datetime | None = None
    backfilled: bool = False

    @property
    def feature_count(self) -> int:
        """How many features were checked."""
        return len(self.features)


def summarize_report(report: Mapping[str, Any]) -> ReportSummary:
    """Counts of one report: features checked and drifting (a data-quality finding is
    counted apart), drift of the features together, failures, window rows."""
    window = as_mapping(report.get("window"))
    results = items(report.get("results"))
    features: dict[str, None] = {}
    drifted: dict[str, None] = {}
    together: dict[str, None] = {}
    failed: list[str] = []
    for row in results:
        label = feature_label(row)
        kind = row.get("kind", "feature")
        if kind == "feature":
            features.setdefault(label, None)
            if row.get("drifted") and not is_quality_result(row):
                drifted.setdefault(label, None)
        elif kind == "multivariate" and row.get("drifted"):
            together.setdefault(str(row.get("detector", "?")), None)
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
        rows=as_int(window.get("rows")),
        labelled_rows=as_int(window.get("labelled_rows")),
        features=list(features),
        drifted_features=list(drifted),
        failed=failed,
        prediction_drifted=any(r.get("drifted") for r in results if r.get("kind") == "prediction"),
        performance_drifted=any(
            r.get("drifted") for r in results if r.get("kind") == "performance"
        ),
        multivariate_drifted=list(together),
        quality_flagged=flagged_checks(report),
        window_end=report_time(report),
        backfilled=is_backfilled(report),
    )


def monitor_state(
    report: Mapping[str, Any] | None, alerts: Iterable[Mapping[str, Any]] = ()
) -> MonitorState:
    """A monitor's state at a glance from its latest report and its alert states.

    ``firing`` when one of its alert keys fires; else ``failing`` when the report failed or a
    detector on it raised; ``no_data`` without a report, with too few rows, while its model
    waits for its first predictions, or when its alert is in ``no_data``; ``drifting`` when
    the report found drift; else ``ok``.
    """
    alert_states = {str(a.get("state")) for a in alerts}
    if "firing" in alert_states:
        return "firing"
    if report is None:
        return "no_data"
    summary = summarize_report(report)
    if summary.status == "failed" or summary.failed:
        return "failing"
    if summary.status in ("insufficient_data", "waiting_for_predictions"):
        return "no_data"
    if "no_data" in alert_states:
        return "no_data"
    if summary.drifted:
        return "drifting"
    return "ok"


def state_tallies(
    latest: Mapping[str, Mapping[str, Any] | None],
    alerts: Mapping[str, Iterable[Mapping[str, Any]]],
) -> dict[MonitorState, int]:
    """How many monitors the Overview counts under each state, from each monitor's latest
    report (``latest``, by monitor) and its alert states (``alerts``, by monitor).

    Every monitor counts once under its :func:`monitor_state`, except ``drifting``, which
    counts every monitor whose latest report found drift, whether or not its alert fires
    (an alert may wait for ``for_runs`` or be silenced; one that fires is still drift). The
    tallies can therefore add up to more than the monitors.
    """
    tallies: dict[MonitorState, int] = dict.fromkeys(
        ("ok", "drifting", "firing", "failing", "no_data"), 0
    )
    for name, report in latest.items():
        state = monitor_state(report, alerts.get(name, ()))
        if state != "drifting":
            tallies[state] += 1
        if report is not None and summarize_report(report).drifted:
            tallies["drifting"] += 1
    return tallies


def finding_lines(summary: ReportSummary) -> list[str]:
    """What a monitor's card says about its last run, as Streamlit markdown lines: why it has
    no answer, or what drifted (the features, the features together, the prediction, the
    performance) and which columns the quality detector flagged."""
    if summary.status == "waiting_for_predictions":  # a status the API may publish
        return [":gray[Waiting for the first predictions of the model.]"]
    if summary.status == "insufficient_data":
        return [":gray[Too few rows in the last window to check drift.]"]
    if summary.failed:
        return [f":violet[{len(summary.failed)} detector run(s) failed: {summary.failed[0]}]"]
    lines = []
    if summary.drifted_features:
        shown = ", ".join(summary.drifted_features[:4])
        more = len(summary.drifted_features) - 4
        lines.append(f":orange[**Drifting:** {shown}{f' +{more} more' if more > 0 else ''}]")
    others = [
        text
        for text, on in (
            (
                f"the features together ({', '.join(summary.multivariate_drifted)})",
                bool(summary.multivariate_drifted),
            ),
            ("prediction", summary.prediction_drifted),
            ("performance", summary.performance_drifted),
        )
        if on
    ]
    if others:
        lead = "Also drifting" if summary.drifted_features else "Drifting"
        lines.append(f":orange[**{lead}:** {', '.join(others)}]")
    if summary.quality_flagged:
        flagged = [
            f"{name} ({QUALITY_NAMES.get(check, check)})"
            for name, check in summary.quality_flagged.items()
        ]
        rest = f" +{len(flagged) - 3} more" if len(flagged) > 3 else ""
        lines.append(f":red[**Data quality:** {', '.join(flagged[:3])}{rest}]")
    if not lines:
        lines.append(":green[No drift in the last run.]")
    return lines


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
    out = [as_float(v) for v in values]
    if any(v is None for v in out):
        return None
    return [float(v) for v in out if v is not None]


def _proportions(values: list[float]) -> list[float]:
    total = sum(values)
    if total > 1.0 + 1e-6 and total > 0:  # counts, not proportions
        return [v / total for v in values]
    return values


def is_probability(feature: str) -> bool:
    """Whether a column is a class probability (``probability:<class>``), drawn in percent."""
    return feature.startswith("probability:")


def bin_labels(edges: list[float], size: int, *, percent: bool = False) -> list[str] | None:
    """Labels of ``size`` bins from ``size + 1`` edges, or from ``size - 1`` inner edges
    with open outer bins; ``None`` when the counts do not fit. Neighbouring edges never read
    the same (see :func:`format_edges`)."""
    text = format_edges(edges, percent=percent)
    inner = [f"{lo} – {hi}" for lo, hi in pairwise(text)]
    if len(edges) == size + 1:
        return inner
    if len(edges) == size - 1 and size > 1:
        return [f"≤ {text[0]}", *inner, f"> {text[-1]}"]
    return None


def _bin_labels(bins: Mapping[str, Any], size: int, *, percent: bool = False) -> list[str]:
    """Short labels of bins: from numeric ``edges`` when given, else the published
    ``labels`` (categories), else ``bin 1`` …"""
    edges = _numbers(bins.get("edges"))
    from_edges = None if edges is None else bin_labels(edges, size, percent=percent)
    if from_edges is not None:
        return from_edges
    labels = bins.get("labels")
    if isinstance(labels, list) and len(labels) == size:
        return [str(label) for label in labels]
    return [f"bin {i + 1}" for i in range(size)]


def comparison(result: Mapping[str, Any]) -> Comparison | None:
    """The reference-against-current data a result's ``details`` carry, or ``None``."""
    details = details_of(result)
    percent = is_probability(feature_label(result))
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
                _bin_labels(bins, len(reference), percent=percent),
                _proportions(reference),
                _proportions(current),
            )
    ecdf = details.get("ecdf")
    if isinstance(ecdf, Mapping):
        x = _numbers(ecdf.get("x"))
        reference = _numbers(ecdf.get("reference"))
        current = _numbers(ecdf.get("current"))
        if x and reference and current and len(x) == len(reference) == len(current):
            location = as_float(details.get("statistic_location"))
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
    d = details_of(result)
    return SampleCounts(
        reference_size=as_int(d.get("reference_size")),
        current_size=as_int(d.get("current_size")),
        reference_missing=as_int(d.get("reference_missing")),
        current_missing=as_int(d.get("current_missing")),
        reference_infinite=as_int(d.get("reference_infinite")),
        current_infinite=as_int(d.get("current_infinite")),
    )


def sample_line(result: Mapping[str, Any]) -> str | None:
    """One caption line of a result's sample: sizes, and what was dropped from the window;
    only what the result reports (``None`` when it reports nothing)."""
    counts = sample_counts(result)
    parts = []
    if counts.reference_size is not None:
        parts.append(f"reference n = {counts.reference_size:,}")
    if counts.current_size is not None:
        parts.append(f"current n = {counts.current_size:,}")
    dropped = [
        f"{value:,} {label}"
        for label, value in (
            ("missing", counts.current_missing),
            ("infinite", counts.current_infinite),
        )
        if value
    ]
    if dropped:
        parts.append(f"dropped from current: {', '.join(dropped)}")
    if details_of(result).get("counted_in_store"):
        parts.append("counted over the whole window in the store")
    return " · ".join(parts) or None


@dataclass(frozen=True)
class ResultNumber:
    """One number of a result as a panel shows it: ``label`` **``value``** (``note``)."""

    label: str
    value: str
    note: str | None = None


def result_numbers(result: Mapping[str, Any]) -> list[ResultNumber]:
    """The numbers of one result: its statistic, its p-value (the adjusted one, with the
    correction and the raw value as a note) or its severity, and its threshold."""
    details = details_of(result)
    numbers = [ResultNumber("statistic", format_number(as_float(result.get("statistic"))))]
    raw = as_float(result.get("p_value"))
    adjusted = as_float(details.get("p_value_adjusted"))
    if raw is not None and adjusted is not None:
        correction = details.get("correction") or "corrected"
        numbers.append(
            ResultNumber(
                "p-value", format_number(adjusted), f"{correction}; raw {format_number(raw)}"
            )
        )
    elif raw is not None:
        numbers.append(ResultNumber("p-value", format_number(raw)))
    elif details.get("severity") is not None:
        numbers.append(ResultNumber("severity", str(details.get("severity"))))
    numbers.append(ResultNumber("threshold", format_number(as_float(result.get("threshold")))))
    worst = details.get("worst")
    increase = as_float(result.get("statistic"))
    if is_quality_result(result) and isinstance(worst, str) and increase is not None:
        numbers[0] = ResultNumber(
            "largest increase", points(increase), f"{QUALITY_NAMES.get(worst, worst)} share"
        )
    return numbers


BACKFILLED_MARK = "⟲ backfilled"
"""How a backfilled run is marked where runs are listed."""


def report_label(report: Mapping[str, Any]) -> str:
    """A run in a selector: its window's end, how many features drifted (or its status), and
    whether it was backfilled."""
    summary = summarize_report(report)
    moment = summary.window_end or summary.created_at
    when = f"{moment:%Y-%m-%d %H:%M:%S}" if moment else summary.id
    if summary.status != "ok":
        text = f"{when} · {summary.status.replace('_', ' ')}"
    else:
        text = f"{when} · {len(summary.drifted_features)} drifting"
        if summary.multivariate_drifted:
            text += " · together"
    return f"{text} · {BACKFILLED_MARK}" if summary.backfilled else text


@dataclass(frozen=True)
class BackfillSpan:
    """Consecutive backfilled runs on a time axis: from the first one's window start to the
    last one's window end, and how many runs, made between ``made_from`` and ``made_to``."""

    start: datetime
    end: datetime
    runs: int
    made_from: datetime | None
    made_to: datetime | None


def backfill_spans(reports: Iterable[Mapping[str, Any]]) -> list[BackfillSpan]:
    """The stretches of time covered by backfilled runs, oldest first: runs next to each
    other in time order form one stretch, and a scheduled run between them ends it."""
    spans: list[BackfillSpan] = []
    group: list[Mapping[str, Any]] = []
    for report in [*sorted_reports(reports), None]:
        if report is not None and is_backfilled(report):
            group.append(report)
            continue
        if group:
            spans.append(_span_of(group))
            group = []
    return spans


def _span_of(group: list[Mapping[str, Any]]) -> BackfillSpan:
    ends = [t for t in (report_time(r) for r in group) if t is not None]
    starts = [parse_time(as_mapping(r.get("window")).get("start")) for r in group]
    made = [t for t in (parse_time(r.get("created_at")) for r in group) if t is not None]
    start = min([t for t in starts if t is not None and t <= min(ends)] or [min(ends)])
    return BackfillSpan(
        start, max(ends), len(group), min(made, default=None), max(made, default=None)
    )


def correction_of(report: Mapping[str, Any]) -> str | None:
    """The multiple-testing correction a report's p-values were adjusted with, if any."""
    for row in items(report.get("results")):
        correction = details_of(row).get("correction")
        if isinstance(correction, str) and correction:
            return correction
    return None


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
