"""Per-column summaries of a report: what each monitored column looked like on both sides.

The reference side of a column (its counts, moments, range, histogram edges or top
categories) is computed once per reference and cached with the detectors' profiles; each
run then describes its window against it. Everything here is vectorised numpy (and one
pandas ``value_counts`` per categorical column), so a 100,000-row window costs a few passes
over each column. The shapes are :class:`driftscope.core.contracts.report.FeatureSummary`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from driftscope.core.contracts.report import (
    FeatureSummary,
    Histogram,
    ResultKind,
    SideSummary,
)
from driftscope.core.contracts.types import FeatureKind

HISTOGRAM_BINS = 20
"""Equal-width bins between a numeric reference's finite minimum and maximum."""
TOP_CATEGORIES = 20
"""Categorical histograms name the reference's most frequent categories, at most this many."""
OTHER = "(other)"
"""The histogram category of the reference's categories beyond the top ones."""
UNSEEN = "(unseen)"
"""The histogram category of window values whose category the reference never had."""

# above this magnitude, squares (and sums of a few values) overflow a float: moments are
# computed on values scaled into [-1, 1]
_SCALE_ABOVE = 1e150


@dataclass(frozen=True)
class ReferenceSide:
    """What a window of one column is described against: the reference's own summary and
    histogram counts, its finite range, and its bin edges or categories."""

    kind: FeatureKind
    summary: SideSummary
    counts: np.ndarray | None
    edges: np.ndarray | None = None
    low: float | None = None
    high: float | None = None
    top: tuple[str, ...] = ()
    known: frozenset[str] = frozenset()


def describe_reference(values: np.ndarray, kind: FeatureKind) -> ReferenceSide:
    """The reference side of one column (all its rows, missing ones included)."""
    if kind == "numeric":
        return _numeric_reference(np.asarray(values, dtype=np.float64))
    return _categorical_reference(np.asarray(values, dtype=object))


def summarize(
    name: str,
    kind: FeatureKind,
    result_kind: ResultKind,
    reference: ReferenceSide,
    current: np.ndarray,
    *,
    sampled: bool = False,
) -> FeatureSummary:
    """One column's summary: its reference side and ``current``, the window's values (all
    rows, missing ones included) counted against it."""
    if kind == "numeric":
        side, counts = _numeric_current(np.asarray(current, dtype=np.float64), reference)
        histogram = (
            None
            if reference.edges is None or reference.counts is None or counts is None
            else Histogram(
                edges=[float(e) for e in reference.edges],
                reference=_ints(reference.counts),
                current=_ints(counts),
            )
        )
    else:
        side, counts = _categorical_current(np.asarray(current, dtype=object), reference)
        assert reference.counts is not None and counts is not None
        histogram = Histogram(
            edges=None,
            reference=_ints(reference.counts),
            current=_ints(counts),
            categories=[*reference.top, OTHER, UNSEEN],
        )
    return FeatureSummary(
        name=name,
        kind=kind,
        result_kind=result_kind,
        reference=reference.summary,
        current=side,
        histogram=histogram,
        sampled=sampled,
    )


# -- numeric -----------------------------------------------------------------------------------


def _numeric_reference(values: np.ndarray) -> ReferenceSide:
    finite, missing, infinite = _split(values)
    mean, std, low, high = _moments(finite)
    summary = SideSummary(
        rows=int(values.size),
        missing=missing,
        infinite=infinite,
        mean=mean,
        std=std,
        min=low,
        max=high,
    )
    if low is None or high is None:
        return ReferenceSide("numeric", summary, None)
    edges = bin_edges(low, high, HISTOGRAM_BINS)
    return ReferenceSide("numeric", summary, bin_counts(finite, edges), edges, low, high)


def _numeric_current(
    values: np.ndarray, reference: ReferenceSide
) -> tuple[SideSummary, np.ndarray | None]:
    finite, missing, infinite = _split(values)
    mean, std, low, high = _moments(finite)
    out_of_range = 0
    if reference.low is not None and reference.high is not None:
        out_of_range = int(np.count_nonzero(finite < reference.low)) + int(
            np.count_nonzero(finite > reference.high)
        )
    side = SideSummary(
        rows=int(values.size),
        missing=missing,
        infinite=infinite,
        out_of_range=out_of_range,
        mean=mean,
        std=std,
        min=low,
        max=high,
    )
    counts = None if reference.edges is None else bin_counts(finite, reference.edges)
    return side, counts


def _split(values: np.ndarray) -> tuple[np.ndarray, int, int]:
    """The finite values, and how many were missing (NaN) and infinite, as the engine
    counts them."""
    finite_mask = np.isfinite(values)
    if finite_mask.all():
        return values, 0, 0
    missing = int(np.count_nonzero(np.isnan(values)))
    finite = values[finite_mask]
    return finite, missing, int(values.size - finite.size - missing)


def _moments(
    finite: np.ndarray,
) -> tuple[float | None, float | None, float | None, float | None]:
    """Mean, sample standard deviation, minimum and maximum of finite values (``None`` where
    undefined, or where the true value is beyond a float's range)."""
    if finite.size == 0:
        return None, None, None, None
    low, high = float(finite.min()), float(finite.max())
    scale = max(abs(low), abs(high))
    scaled = finite / scale if scale > _SCALE_ABOVE else finite
    factor = scale if scale > _SCALE_ABOVE else 1.0
    mean = float(scaled.mean()) * factor
    std = float(scaled.std(ddof=1)) * factor if finite.size > 1 else None
    return _finite(mean), _finite(std), low, high


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def bin_edges(low: float, high: float, bins: int) -> np.ndarray:
    """``bins + 1`` equally spaced finite edges from ``low`` to ``high``; a single value gets
    the unit-wide range around it, as ``numpy.histogram`` gives it."""
    if low == high:
        low, high = low - 0.5, high + 0.5
    if math.isfinite(high - low):
        return np.linspace(low, high, bins + 1)
    # a range wider than a float's maximum (-1e308 … 1e308): weights, never the width
    share = np.arange(bins + 1, dtype=np.float64) / bins
    return low * (1 - share) + high * share


def bin_counts(finite: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of finite values: below ``edges[0]``, in each bin ``[e_i, e_{i+1})`` (the last
    one closed), and above ``edges[-1]``; ``len(edges) + 1`` counts."""
    # one vectorised comparison per edge: for a histogram's few edges, 4x faster than a binary
    # search per value (searchsorted), and the bins are differences of these counts
    below = [np.count_nonzero(finite < edge) for edge in edges[:-1]]
    at_or_below_last = np.count_nonzero(finite <= edges[-1])  # the last bin is closed
    return np.diff(np.array([0, *below, at_or_below_last, finite.size], dtype=np.int64))


# -- categorical -------------------------------------------------------------------------------


def _category_counts(values: np.ndarray) -> tuple[dict[str, int], int]:
    """Rows per category (as ``str``) and the number of rows without one (``None``)."""
    present_mask = np.asarray(values != None, dtype=bool)  # noqa: E711 - elementwise
    missing = int(values.size - np.count_nonzero(present_mask))
    counted = pd.Series(values[present_mask], dtype=object).value_counts(sort=False, dropna=False)
    counts: dict[str, int] = {}
    for category, n in counted.items():  # one entry per distinct value, not per row
        key = str(category)
        counts[key] = counts.get(key, 0) + int(n)
    return counts, missing


def _categorical_reference(values: np.ndarray) -> ReferenceSide:
    counts, missing = _category_counts(values)
    ranked = sorted(counts, key=lambda c: (-counts[c], c))
    top = tuple(ranked[:TOP_CATEGORIES])
    other = sum(counts[c] for c in ranked[TOP_CATEGORIES:])
    summary = SideSummary(rows=int(values.size), missing=missing, distinct=len(counts))
    histogram = np.array([*(counts[c] for c in top), other, 0], dtype=np.int64)
    return ReferenceSide("categorical", summary, histogram, top=top, known=frozenset(counts))


def _categorical_current(
    values: np.ndarray, reference: ReferenceSide
) -> tuple[SideSummary, np.ndarray]:
    counts, missing = _category_counts(values)
    unseen = sum(n for c, n in counts.items() if c not in reference.known)
    in_top = [counts.get(c, 0) for c in reference.top]
    other = sum(counts.values()) - unseen - sum(in_top)
    side = SideSummary(rows=int(values.size), missing=missing, unseen=unseen, distinct=len(counts))
    return side, np.array([*in_top, other, unseen], dtype=np.int64)


def _ints(counts: np.ndarray) -> list[int]:
    return [int(n) for n in counts]
