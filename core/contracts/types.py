"""The types the contracts share: literal names and the window counts a store computes.

The detector, store and report contracts all import from here and never from each other's
modules for these, so that the imports between ``driftscope.core.contracts`` modules form a
DAG (``.importlinter`` holds it): ``types`` is the bottom layer and imports nothing of
driftscope.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

FeatureKind = Literal["numeric", "categorical"]
ResultStatus = Literal["ok", "failed", "insufficient_data"]
Task = Literal["classification", "regression"]

#: Which number a drift decision compared with its threshold: the (adjusted) p-value, the
#: statistic (PSI, a model's metric), or the window's row count (a monitor's ``no_data``).
Compared = Literal["p_value", "statistic", "rows"]
#: When the compared number means drift (or no data): below the threshold (p-values, a metric
#: with a lowest acceptable value, rows under ``min_samples``), at or above it (PSI), or above
#: it (an error metric with a highest acceptable value).
DriftsWhen = Literal["below", "at_or_above", "above"]


@dataclass(frozen=True)
class BinCounts:
    """How one numeric feature's window values fall into bins fixed elsewhere (a profile).

    With inner ``edges`` ``e_0 < e_1 < ... < e_{k-1}``, ``counts`` has ``k + 1`` entries for
    the right-closed bins ``(-inf, e_0], (e_0, e_1], ..., (e_{k-1}, +inf)`` (a value ``v``
    falls in bin ``numpy.searchsorted(edges, v, side="left")``). Only finite values are
    binned: missing ones (NULL, NaN) are counted in ``missing``, ``±inf`` in ``infinite``,
    as the engine counts them when it cleans a window it has read.
    """

    counts: np.ndarray
    missing: int = 0
    infinite: int = 0

    @property
    def total(self) -> int:
        """The number of finite values, the size of the binned sample."""
        return int(self.counts.sum())


@dataclass(frozen=True)
class CategoryCounts:
    """How many rows of a window hold each category of one categorical feature.

    ``counts`` maps every category present in the window to its row count; rows without a
    value are counted in ``missing``.
    """

    counts: dict[str, int]
    missing: int = 0

    @property
    def total(self) -> int:
        """The number of rows with a category."""
        return sum(self.counts.values())


def count_bins(values: np.ndarray, edges: Sequence[float] | np.ndarray) -> BinCounts:
    """Count numeric ``values`` into the right-closed bins around ``edges`` (see BinCounts)."""
    values = np.asarray(values, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.float64)
    finite = np.isfinite(values)
    missing = int(np.isnan(values).sum())
    counts = np.bincount(
        np.searchsorted(edges, values[finite], side="left"), minlength=edges.size + 1
    ).astype(np.int64)
    return BinCounts(counts, missing, int(values.size - finite.sum() - missing))


def count_categories(values: np.ndarray) -> CategoryCounts:
    """Count categorical ``values`` (``None`` is missing; other values count as ``str``)."""
    present = [str(v) for v in values if v is not None]
    labels, counts = np.unique(np.array(present, dtype=object), return_counts=True)
    return CategoryCounts(
        {str(k): int(n) for k, n in zip(labels, counts, strict=True)}, len(values) - len(present)
    )
