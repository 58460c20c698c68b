"""Shaping the chart data detectors put in a result's ``details``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: at most this many bins of a categorical feature go into a report's chart data
MAX_CHART_BINS = 50


def cap_bins(
    bins: dict[str, Any], weights: Sequence[float] | np.ndarray, limit: int = MAX_CHART_BINS
) -> dict[str, Any]:
    """Chart data for at most ``limit`` bins of a categorical feature.

    The ``limit - 1`` bins with the largest absolute ``weights`` (a bin's contribution to
    the statistic, say) keep their order; the others merge into one last bin labelled
    ``"N other categories"``, whose per-bin numbers are the sums of theirs. Only the chart
    data shrinks: the statistic is computed over every category before this. Keys that are
    not per-bin lists are kept as they are; ``merged`` says how many bins were merged.
    """
    size = len(bins["labels"])
    if size <= limit:
        return bins
    order = np.argsort(-np.abs(np.asarray(weights, dtype=np.float64)), kind="stable")
    keep = sorted(int(i) for i in order[: limit - 1])
    rest = sorted(set(range(size)) - set(keep))
    capped: dict[str, Any] = {}
    for key, values in bins.items():
        if not (isinstance(values, list) and len(values) == size):
            capped[key] = values
        elif key == "labels":
            capped[key] = [values[i] for i in keep] + [f"{len(rest)} other categories"]
        else:
            merged = sum(values[i] for i in rest)
            capped[key] = [values[i] for i in keep] + [type(values[0])(merged)]
    capped["merged"] = len(rest)
    return capped
