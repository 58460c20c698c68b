"""Per-feature views of reports: the summaries a report carries for each monitored column
(``features``: counts, moments and a histogram of both sides), the per-feature table of one
run, one column's distribution ready to draw, and the data-quality shares over time.

Reports made before summaries existed have no ``features``: the table then still lists each
detector's value and decision, and the other views are empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any, Literal

from driftscope.apps.dashboard.data.display import format_edges
from driftscope.apps.dashboard.data.multivariate import ranking
from driftscope.apps.dashboard.data.quality import (
    decision_text,
    flagged_checks,
    is_quality_result,
    quality_decisions,
)
from driftscope.apps.dashboard.data.reports import is_probability
from driftscope.apps.dashboard.data.values import (
    as_float,
    as_int,
    as_mapping,
    details_of,
    feature_label,
    items,
    report_time,
    sorted_reports,
)

QualityMeasure = Literal["missing", "infinite", "out_of_range", "unseen"]
QUALITY_MEASURES: tuple[QualityMeasure, ...] = ("missing", "infinite", "out_of_range", "unseen")
OTHER = "(other)"
UNSEEN = "(unseen)"
TABLE_KINDS = ("feature", "prediction")


@dataclass(frozen=True)
class SideStats:
    """One column on one side of a report (``None`` where the report does not say)."""

    rows: int | None = None
    missing: int | None = None
    infinite: int | None = None
    out_of_range: int | None = None
    unseen: int | None = None
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    distinct: int | None = None

    def share(self, measure: QualityMeasure) -> float | None:
        """``measure``'s count over the side's rows; ``None`` without rows or a count."""
        count = getattr(self, measure)
        if count is None or not self.rows:
            return None
        return count / self.rows


def _side(value: Any) -> SideStats:
    data = as_mapping(value)
    return SideStats(
        rows=as_int(data.get("rows")),
        missing=as_int(data.get("missing")),
        infinite=as_int(data.get("infinite")),
        out_of_range=as_int(data.get("out_of_range")),
        unseen=as_int(data.get("unseen")),
        mean=_finite(data.get("mean")),
        std=_finite(data.get("std")),
        min=_finite(data.get("min")),
        max=_finite(data.get("max")),
        distinct=as_int(data.get("distinct")),
    )


def _finite(value: Any) -> float | None:
    number = as_float(value)
    return None if number is None or number in (float("inf"), float("-inf")) else number


@dataclass(frozen=True)
class FeatureView:
    """One summary of a report's ``features``, read defensively."""

    name: str
    kind: str
    result_kind: str
    reference: SideStats
    current: SideStats
    histogram: Mapping[str, Any] | None
    sampled: bool = False


def summaries(report: Mapping[str, Any] | None) -> dict[str, FeatureView]:
    """A report's summaries by column name, in report order (empty for old reports)."""
    out: dict[str, FeatureView] = {}
    if report is None:
        return out
    for entry in items(report.get("features")):
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            continue
        histogram = entry.get("histogram")
        out[name] = FeatureView(
            name=name,
            kind=str(entry.get("kind") or "-"),
            result_kind=str(entry.get("result_kind") or "feature"),
            reference=_side(entry.get("reference")),
            current=_side(entry.get("current")),
            histogram=histogram if isinstance(histogram, Mapping) else None,
            sampled=bool(entry.get("sampled")),
        )
    return out


# -- the per-feature table -----------------------------------------------------------------


@dataclass(frozen=True)
class DetectorColumn:
    """One detector's three columns in the table, and what its value is."""

    detector: str
    measure: str  # "p-value" or "statistic"

    @property
    def value(self) -> str:
        return f"{self.detector} {self.measure}"

    @property
    def threshold(self) -> str:
        return f"{self.detector} threshold"

    @property
    def decision(self) -> str:
        return f"{self.detector} decision"


@dataclass
class FeatureTable:
    """The per-feature table of one run: one row per column (drifting ones first), with
    each detector's value, threshold and decision, and both sides' moments and the
    window's missing, out-of-range and unseen shares."""

    rows: list[dict[str, Any]]
    detectors: list[DetectorColumn]
    has_summaries: bool
    change_shares: list[str] = field(default_factory=list)
    """Columns with a multivariate detector's share of the change per feature (the domain
    classifier's ranking), when the run has one."""

    @property
    def columns(self) -> list[str]:
        """Every column, in the order the page shows them."""
        out = ["feature", "kind", "drifted", *self.change_shares]
        for d in self.detectors:
            out += [d.value, d.threshold, d.decision]
        if self.has_summaries:
            out += [
                "reference mean",
                "current mean",
                "reference std",
                "current std",
                "missing",
                "out of range",
                "unseen",
            ]
        return out


def change_share_column(detector: str) -> str:
    """The table column of a multivariate detector's share of the change."""
    return f"{detector} share of change"


def _decision(row: Mapping[str, Any]) -> str:
    if is_quality_result(row):
        return decision_text(next(iter(quality_decisions({"results": [row]}).values()), None))
    status = str(row.get("status", "ok"))
    if status != "ok":
        return status.replace("_", " ")
    return "drift" if row.get("drifted") else "ok"


def _decision_value(row: Mapping[str, Any]) -> tuple[str, float | None]:
    """What a result's decision was made on: the adjusted (else raw) p-value for p-value
    detectors, the statistic otherwise."""
    p_adjusted = as_float(details_of(row).get("p_value_adjusted"))
    p_raw = as_float(row.get("p_value"))
    if p_adjusted is not None or p_raw is not None:
        return "p-value", p_adjusted if p_adjusted is not None else p_raw
    return "statistic", as_float(row.get("statistic"))


def feature_table(
    report: Mapping[str, Any] | None, kinds: Sequence[str] = TABLE_KINDS
) -> FeatureTable:
    """The per-feature table of one report (features and the model's outputs)."""
    views = summaries(report)
    rows: dict[str, dict[str, Any]] = {}
    detectors: dict[str, DetectorColumn] = {}
    results = items(report.get("results")) if report is not None else []
    for result in results:
        kind = str(result.get("kind", "feature"))
        if kind not in kinds:
            continue
        name = feature_label(result)
        detector = str(result.get("detector", "?"))
        measure, value = _decision_value(result)
        column = detectors.get(detector)
        if column is None or (column.measure == "statistic" and measure == "p-value"):
            column = detectors[detector] = DetectorColumn(detector, measure)
        row = rows.setdefault(name, {"feature": name, "kind": "-", "drifted": False})
        row[column.value] = value
        row[column.threshold] = as_float(result.get("threshold"))
        row[column.decision] = _decision(result)
        row["drifted"] = row["drifted"] or bool(result.get("drifted"))
    for view in views.values():
        if view.result_kind not in kinds:
            continue
        row = rows.setdefault(view.name, {"feature": view.name, "kind": "-", "drifted": False})
        row["kind"] = view.kind
        row["reference mean"] = view.reference.mean
        row["current mean"] = view.current.mean
        row["reference std"] = view.reference.std
        row["current std"] = view.current.std
        row["missing"] = view.current.share("missing")
        row["out of range"] = view.current.share("out_of_range") if view.kind == "numeric" else None
        row["unseen"] = view.current.share("unseen") if view.kind == "categorical" else None
    shares: list[str] = []
    for result in results:
        ranked = ranking(details_of(result)) if result.get("kind") == "multivariate" else []
        if not ranked:
            continue
        column_name = change_share_column(str(result.get("detector", "?")))
        if column_name not in shares:
            shares.append(column_name)
        for ranked_feature in ranked:
            if ranked_feature.feature in rows:
                rows[ranked_feature.feature][column_name] = ranked_feature.importance
    ordered = sorted(rows.values(), key=lambda r: not r["drifted"])  # stable: report order
    table = FeatureTable(
        ordered, list(detectors.values()), has_summaries=bool(views), change_shares=shares
    )
    for entry in table.rows:
        for name in table.columns:
            entry.setdefault(name, None)
    return table


def filter_rows(
    rows: Iterable[Mapping[str, Any]],
    *,
    text: str = "",
    kinds: Sequence[str] | None = None,
    only_drifting: bool = False,
) -> list[Mapping[str, Any]]:
    """The table's rows whose feature name contains ``text`` (any case), of one of
    ``kinds`` (all when ``None``), and drifting when ``only_drifting``."""
    needle = text.strip().lower()
    return [
        row
        for row in rows
        if needle in str(row.get("feature", "")).lower()
        and (kinds is None or row.get("kind") in kinds)
        and (not only_drifting or row.get("drifted"))
    ]


# -- one column's distribution -------------------------------------------------------------


@dataclass
class Distribution:
    """Both sides of one column as shares of each side's counted (non-missing) values.

    Numeric: ``left``/``right``/``labels`` describe the inner bins (edges from the
    reference), ``below``/``above`` the values outside the reference's range. Categorical:
    ``labels`` are the categories (``(other)``, ``(unseen)`` kept only when not empty).
    """

    kind: Literal["numeric", "categorical"]
    labels: list[str]
    reference: list[float]
    current: list[float]
    reference_total: int
    current_total: int
    left: list[float] = field(default_factory=list)
    right: list[float] = field(default_factory=list)
    below: tuple[float, float] = (0.0, 0.0)
    above: tuple[float, float] = (0.0, 0.0)
    below_label: str = ""
    above_label: str = ""

    @property
    def empty(self) -> bool:
        return self.reference_total == 0 and self.current_total == 0


def _counts(values: Any) -> list[int] | None:
    if not isinstance(values, list):
        return None
    out = [as_int(v) for v in values]
    if any(v is None or v < 0 for v in out):
        return None
    return [int(v) for v in out if v is not None]


def _shares(counts: list[int]) -> tuple[list[float], int]:
    total = sum(counts)
    return ([c / total for c in counts] if total else [0.0] * len(counts)), total


def distribution(view: FeatureView | None) -> Distribution | None:
    """The distribution of one summary, ready to draw; ``None`` when it has no usable
    histogram (a report read without details, an empty reference, a malformed answer)."""
    if view is None or view.histogram is None:
        return None
    hist = view.histogram
    reference, current = _counts(hist.get("reference")), _counts(hist.get("current"))
    if reference is None or current is None or len(reference) != len(current):
        return None
    categories = hist.get("categories")
    if view.kind == "categorical" and isinstance(categories, list):
        if len(categories) != len(reference):
            return None
        keep = [
            i
            for i, name in enumerate(categories)
            if str(name) not in (OTHER, UNSEEN) or reference[i] or current[i]
        ]
        ref_shares, ref_total = _shares([reference[i] for i in keep])
        cur_shares, cur_total = _shares([current[i] for i in keep])
        return Distribution(
            "categorical",
            [str(categories[i]) for i in keep],
            ref_shares,
            cur_shares,
            ref_total,
            cur_total,
        )
    edges = hist.get("edges")
    numbers = [as_float(e) for e in edges] if isinstance(edges, list) else []
    if len(numbers) < 2 or any(e is None for e in numbers) or len(reference) != len(numbers) + 1:
        return None
    cuts = [float(e) for e in numbers if e is not None]
    ref_shares, ref_total = _shares(reference)
    cur_shares, cur_total = _shares(current)
    text = format_edges(cuts, percent=is_probability(view.name))
    return Distribution(
        "numeric",
        [f"{lo} – {hi}" for lo, hi in pairwise(text)],
        ref_shares[1:-1],
        cur_shares[1:-1],
        ref_total,
        cur_total,
        left=cuts[:-1],
        right=cuts[1:],
        below=(ref_shares[0], cur_shares[0]),
        above=(ref_shares[-1], cur_shares[-1]),
        below_label=f"< {text[0]}",
        above_label=f"> {text[-1]}",
    )


# -- data quality over time ----------------------------------------------------------------


@dataclass
class QualitySeries:
    """One column's share of one data-quality measure in each run, oldest first (each run at
    its window's end). ``flagged`` marks the runs where the quality detector flagged the
    column on this measure (its worst check)."""

    feature: str
    times: list[datetime] = field(default_factory=list)
    shares: list[float | None] = field(default_factory=list)
    counts: list[int | None] = field(default_factory=list)
    rows: list[int | None] = field(default_factory=list)
    flagged: list[bool] = field(default_factory=list)

    @property
    def peak(self) -> float:
        """The largest share in the range (0 when there is none)."""
        return max((s for s in self.shares if s is not None), default=0.0)


@dataclass
class QualityView:
    """A measure over time: the columns where it ever occurred (worst first), and how many
    columns stayed clean."""

    measure: QualityMeasure
    series: list[QualitySeries]
    clean: list[str]
    runs: int

    @property
    def applies(self) -> bool:
        """Whether any run measured it at all (``unseen`` needs a categorical column)."""
        return bool(self.series) or bool(self.clean)


def _applies(measure: QualityMeasure, kind: str) -> bool:
    if measure in ("infinite", "out_of_range"):
        return kind == "numeric"
    if measure == "unseen":
        return kind == "categorical"
    return True


def quality_over_time(
    reports: Iterable[Mapping[str, Any]],
    measure: QualityMeasure,
    kinds: Sequence[str] = TABLE_KINDS,
) -> QualityView:
    """The share of ``measure`` among each run's window rows, per column, over the reports
    that carry summaries; columns where it never occurred are listed as clean."""
    found: dict[str, QualitySeries] = {}
    runs = 0
    for report in sorted_reports(reports):
        views = summaries(report)
        if not views:
            continue
        runs += 1
        time = report_time(report)
        assert time is not None  # sorted_reports keeps dated reports only
        flags = flagged_checks(report)
        for view in views.values():
            if view.result_kind not in kinds or not _applies(measure, view.kind):
                continue
            series = found.setdefault(view.name, QualitySeries(view.name))
            series.times.append(time)
            series.shares.append(view.current.share(measure))
            series.counts.append(getattr(view.current, measure))
            series.rows.append(view.current.rows)
            series.flagged.append(flags.get(view.name) == measure)
    dirty = [s for s in found.values() if s.peak > 0]
    dirty.sort(key=lambda s: (-s.peak, s.feature))
    clean = sorted(name for name, s in found.items() if s.peak == 0)
    return QualityView(measure, dirty, clean, runs)


QUALITY_DECISION = "quality detector"
"""The column of :func:`latest_quality` with the quality detector's decision."""


def latest_quality(report: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """One row per column of a report: each data-quality share of its window and, when the
    monitor has the quality detector, its decision on the column (flagged ones first)."""
    decisions = quality_decisions(report)
    rows = []
    for view in summaries(report).values():
        row: dict[str, Any] = {"feature": view.name, "kind": view.kind}
        for measure in QUALITY_MEASURES:
            row[measure] = view.current.share(measure) if _applies(measure, view.kind) else None
        row["rows"] = view.current.rows
        if decisions:
            row[QUALITY_DECISION] = decision_text(decisions.get(view.name))
        rows.append(row)
    return sorted(rows, key=lambda r: not str(r.get(QUALITY_DECISION, "")).startswith("flagged"))
