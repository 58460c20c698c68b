"""A report as the file's tables: one row per monitored column (each feature and each model
output) with every detector's finding on it, and apart from them the model's measured
performance, its estimated performance and the multivariate results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from driftscope.apps.report.reading import count, mapping, mappings, number, text
from driftscope.apps.report.summaries import FeatureSummary, feature_summaries
from driftscope.apps.report.window_findings import (
    Estimate,
    Multivariate,
    Quality,
    estimate,
    is_estimate,
    multivariate,
    quality,
)

COLUMN_KINDS = ("feature", "prediction")
"""Result kinds that are columns of the table (``performance`` and ``multivariate`` have
tables of their own)."""


@dataclass(frozen=True)
class Finding:
    """One detector's result on one column."""

    detector: str
    status: str
    statistic: float | None
    p_value: float | None
    p_adjusted: float | None
    correction: str | None
    threshold: float | None
    drifted: bool
    error: str | None
    details: Mapping[str, Any]

    @property
    def decision(self) -> str:
        """``drift``, ``ok``, or the status of a result the detector could not make."""
        if self.status != "ok":
            return self.status.replace("_", " ")
        return "drift" if self.drifted else "ok"

    @property
    def p_decided(self) -> float | None:
        """The p-value the decision was made on: the adjusted one when there is one."""
        return self.p_adjusted if self.p_adjusted is not None else self.p_value

    @property
    def quality(self) -> Quality | None:
        """The checks of a data-quality finding (``None`` for any other)."""
        return quality(self.details)


@dataclass
class Column:
    """One monitored column: a feature, or one of the model's outputs."""

    name: str
    result_kind: str
    findings: dict[str, Finding] = field(default_factory=dict)
    summary: FeatureSummary | None = None

    @property
    def drifted_by(self) -> list[str]:
        """The detectors that found drift on this column."""
        return [d for d, f in self.findings.items() if f.drifted]

    @property
    def kind(self) -> str:
        """``numeric`` or ``categorical`` from the summary, else from what the detectors
        did with the column; ``-`` when nothing says."""
        if self.summary is not None:
            return self.summary.kind
        for finding in self.findings.values():
            binning = finding.details.get("binning")
            if finding.detector == "chi2" or binning == "categories":
                return "categorical"
            if finding.detector == "ks" or binning in ("quantile", "uniform"):
                return "numeric"
        return "-"


@dataclass(frozen=True)
class Performance:
    """One performance detector's result: the metric now against its reference value."""

    detector: str
    metric: str
    reference_value: float | None
    current_value: float | None
    limit: float | None
    relative_change: float | None
    labelled_rows: int | None
    status: str
    drifted: bool
    error: str | None

    @property
    def decision(self) -> str:
        """``drift``, ``ok``, or the status of a result the detector could not make."""
        if self.status != "ok":
            return self.status.replace("_", " ")
        return "drift" if self.drifted else "ok"


@dataclass
class ReportTable:
    """Everything a report's tables show: ``performance`` is measured on labels,
    ``estimates`` are made without them."""

    detectors: list[str]
    with_p_value: set[str]
    columns: list[Column]
    performance: list[Performance]
    estimates: list[Estimate] = field(default_factory=list)
    multivariate: list[Multivariate] = field(default_factory=list)
    quality_detectors: set[str] = field(default_factory=set)

    @property
    def drifted_columns(self) -> list[Column]:
        """The columns some detector found drifting, in table order."""
        return [c for c in self.columns if c.drifted_by]


def _finding(row: Mapping[str, Any]) -> Finding:
    details = mapping(row.get("details"))
    return Finding(
        detector=text(row.get("detector")) or "?",
        status=text(row.get("status")) or "ok",
        statistic=number(row.get("statistic")),
        p_value=number(row.get("p_value")),
        p_adjusted=number(details.get("p_value_adjusted")),
        correction=text(details.get("correction")),
        threshold=number(row.get("threshold")),
        drifted=row.get("drifted") is True,
        error=text(row.get("error")),
        details=details,
    )


def _performance(row: Mapping[str, Any]) -> Performance:
    details = mapping(row.get("details"))
    finding = _finding(row)
    return Performance(
        detector=finding.detector,
        metric=text(details.get("metric")) or text(row.get("feature")) or finding.detector,
        reference_value=number(details.get("reference_value")),
        current_value=finding.statistic,
        limit=finding.threshold,
        relative_change=number(details.get("relative_change")),
        labelled_rows=count(details.get("labelled_rows")),
        status=finding.status,
        drifted=finding.drifted,
        error=finding.error,
    )


def report_table(report: Mapping[str, Any]) -> ReportTable:
    """The tables of a report (the JSON of ``Report.to_dict``, summaries when it has them).

    Columns are features first, then the model's outputs; within each, the drifting ones
    first and otherwise in the report's order. Detectors keep the order they first appear in.
    """
    summaries = feature_summaries(report)
    columns: dict[tuple[str, str], Column] = {}
    detectors: dict[str, None] = {}
    with_p: set[str] = set()
    performance: list[Performance] = []
    estimates: list[Estimate] = []
    together: list[Multivariate] = []
    quality_detectors: set[str] = set()
    for row in mappings(report.get("results")):
        kind = text(row.get("kind")) or "feature"
        if kind == "performance":
            detector = text(row.get("detector")) or "?"
            if is_estimate(detector, mapping(row.get("details"))):
                estimates.append(estimate(row))
            else:
                performance.append(_performance(row))
            continue
        if kind == "multivariate":
            together.append(multivariate(row))
            continue
        if kind not in COLUMN_KINDS:
            continue
        name = text(row.get("feature")) or kind
        finding = _finding(row)
        detectors.setdefault(finding.detector, None)
        if finding.p_value is not None or finding.p_adjusted is not None:
            with_p.add(finding.detector)
        if finding.quality is not None:
            quality_detectors.add(finding.detector)
        column = columns.setdefault((kind, name), Column(name, kind))
        column.findings.setdefault(finding.detector, finding)
    for key, summary in summaries.items():
        if summary.result_kind not in COLUMN_KINDS:
            continue
        column = columns.setdefault(key, Column(summary.name, summary.result_kind))
        column.summary = summary
    ordered = sorted(
        columns.values(),
        key=lambda c: (COLUMN_KINDS.index(c.result_kind), not c.drifted_by),
    )
    return ReportTable(
        list(detectors), with_p, ordered, performance, estimates, together, quality_detectors
    )
