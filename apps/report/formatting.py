"""How the report writes numbers, shares, bin edges and times."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from itertools import pairwise

DASH = "–"
"""What an empty cell says."""


def number_text(value: float | None, digits: int = 4) -> str:
    """A statistic or a moment: ``digits`` significant digits, scientific for very small
    or large magnitudes, ``∞`` for infinities, a dash for nothing."""
    if value is None or math.isnan(value):
        return DASH
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == 0:
        return "0"
    if abs(value) < 1e-3 or abs(value) >= 1e7:
        return f"{value:.{max(digits - 1, 1)}e}"
    return f"{value:.{digits}g}"


def share_text(share: float | None) -> str:
    """A share as a percentage; a share that is not zero never reads 0%."""
    if share is None:
        return DASH
    if share == 0:
        return "0%"
    if share < 0.001:
        return "<0.1%"
    return f"{share:.1%}"


def edge_labels(edges: list[float]) -> list[str]:
    """Labels of the bins of a numeric histogram (below the first edge, each bin, above the
    last edge), with as many significant digits as it takes for neighbours to differ.

    Equal edges (a reference with one value) cannot differ; their bins are numbered.
    """
    shown: list[str] = []
    for digits in range(3, 16):
        shown = [f"{e:.{digits}g}" for e in edges]
        if len(set(shown)) == len(shown):
            break
    labels = [f"< {shown[0]}", *(f"{lo} – {hi}" for lo, hi in pairwise(shown)), f"> {shown[-1]}"]
    if len(set(labels)) < len(labels):
        labels = [f"{label} (bin {i})" for i, label in enumerate(labels)]
    return labels


def time_text(moment: datetime | None) -> str:
    """A time in UTC to the second."""
    return DASH if moment is None else f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def duration_text(span: timedelta | float | None) -> str:
    """A duration in the config's words: ``90s``, ``5m``, ``1h``, ``2d``, ``1h 30m``."""
    if span is None:
        return DASH
    seconds = span.total_seconds() if isinstance(span, timedelta) else float(span)
    if not math.isfinite(seconds) or seconds < 0:
        return DASH
    if seconds < 60:
        return f"{seconds:g}s"
    parts = []
    whole = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, whole = divmod(whole, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return " ".join(parts[:2])


def increase_text(increase: float | None) -> str:
    """A change of a share in percentage points: ``+40.0 pts``."""
    if increase is None or not math.isfinite(increase):
        return DASH
    return f"{increase * 100:+.1f} pts"
