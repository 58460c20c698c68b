"""The per-feature summaries of a report (its ``features`` list), read into dataclasses.

The shape is the one the engine writes into ``Report.features`` (``docs/architecture.md``,
"The HTML report"): one summary per monitored column with the reference's and the current
window's counts and moments, and a histogram whose bins are fixed on the reference. Reports
saved before the engine wrote summaries have none; a summary that does not hold together (a
histogram whose counts do not match its bins) keeps its figures and loses only its histogram.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

from driftscope.apps.report.reading import count, counts, finite, mapping, mappings, numbers, text

OTHER = "(other)"
"""The bin of reference categories past the most frequent ones."""
UNSEEN = "(unseen)"
"""The bin of current categories the reference never had."""


@dataclass(frozen=True)
class SampleFigures:
    """One side (reference or current) of a column: its counts and moments."""

    rows: int
    missing: int
    infinite: int
    out_of_range: int
    unseen: int
    mean: float | None
    std: float | None
    min: float | None
    max: float | None
    distinct: int | None

    def share(self, part: int) -> float | None:
        """``part`` as a share of the rows; ``None`` without rows."""
        return part / self.rows if self.rows > 0 else None


@dataclass(frozen=True)
class Histogram:
    """Counts of both samples in the same bins.

    Numeric columns have ``edges`` (k + 1) and k + 2 counts a side: below the first edge,
    the k bins, above the last edge. Categorical columns have one count a ``categories``
    entry instead.
    """

    edges: list[float] | None
    categories: list[str] | None
    reference: list[int]
    current: list[int]


@dataclass(frozen=True)
class FeatureSummary:
    """What the engine saw of one monitored column, in the reference and in the window."""

    name: str
    kind: Literal["numeric", "categorical"]
    result_kind: str
    reference: SampleFigures
    current: SampleFigures
    histogram: Histogram | None


def _figures(data: Mapping[str, Any]) -> SampleFigures | None:
    rows = count(data.get("rows"))
    if rows is None:
        return None
    distinct = count(data.get("distinct"))
    return SampleFigures(
        rows=rows,
        missing=count(data.get("missing")) or 0,
        infinite=count(data.get("infinite")) or 0,
        out_of_range=count(data.get("out_of_range")) or 0,
        unseen=count(data.get("unseen")) or 0,
        mean=finite(data.get("mean")),
        std=finite(data.get("std")),
        min=finite(data.get("min")),
        max=finite(data.get("max")),
        distinct=distinct,
    )


def _histogram(data: Mapping[str, Any], kind: str) -> Histogram | None:
    reference = counts(data.get("reference"))
    current = counts(data.get("current"))
    if reference is None or current is None or len(reference) != len(current):
        return None
    if kind == "numeric":
        edges = numbers(data.get("edges"))
        if not edges or len(reference) != len(edges) + 1:
            return None
        if any(b < a for a, b in pairwise(edges)):
            return None
        return Histogram(edges=edges, categories=None, reference=reference, current=current)
    raw = data.get("categories")
    if not isinstance(raw, list):
        return None
    categories = [text(c) for c in raw]
    if any(c is None for c in categories) or len(categories) != len(reference):
        return None
    return Histogram(
        edges=None,
        categories=[c for c in categories if c is not None],
        reference=reference,
        current=current,
    )


def feature_summary(data: Mapping[str, Any]) -> FeatureSummary | None:
    """One summary, or ``None`` when it lacks a name, a known kind or a side's row count."""
    name = text(data.get("name"))
    kind = data.get("kind")
    reference = _figures(mapping(data.get("reference")))
    current = _figures(mapping(data.get("current")))
    if name is None or kind not in ("numeric", "categorical"):
        return None
    if reference is None or current is None:
        return None
    return FeatureSummary(
        name=name,
        kind=kind,
        result_kind=text(data.get("result_kind")) or "feature",
        reference=reference,
        current=current,
        histogram=_histogram(mapping(data.get("histogram")), kind),
    )


def feature_summaries(report: Mapping[str, Any]) -> dict[tuple[str, str], FeatureSummary]:
    """A report's summaries by (result kind, column name); empty for reports made before
    the engine wrote them."""
    found: dict[tuple[str, str], FeatureSummary] = {}
    for entry in mappings(report.get("features")):
        summary = feature_summary(entry)
        if summary is not None:
            found.setdefault((summary.result_kind, summary.name), summary)
    return found
