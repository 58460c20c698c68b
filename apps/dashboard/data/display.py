"""How the pages name, colour and write things: monitor and alert states, numbers, ages,
durations, bin edges, and the time-range selector's choices."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Literal

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

# the drift charts: a drifted run, a clean one, and the two samples compared
DRIFT_COLOR = "#d63a3a"
OK_COLOR = "#2e9e5b"
REFERENCE_COLOR = "#7f8c9d"
CURRENT_COLOR = "#3b6fd8"

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


def format_duration(seconds: float | None) -> str | None:
    """Seconds as the config writes them: ``90s``, ``5m``, ``1h``, ``2d`` (``None`` stays)."""
    if seconds is None:
        return None
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def format_edge(value: float, digits: int = 3, *, percent: bool = False) -> str:
    """A bin edge for a label: ``-∞``/``∞`` for open ends, else ``digits`` significant digits
    (a compact exponent, ``4.34e-6``, for very small or large values); ``percent`` writes a
    probability as a percentage."""
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if percent:
        return f"{_significant(value * 100, digits)}%"
    return _significant(value, digits)


def _significant(value: float, digits: int) -> str:
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


MAX_EDGE_DIGITS = 12


def format_edges(values: list[float], *, percent: bool = False) -> list[str]:
    """Bin edges as labels that tell neighbours apart: three significant digits, more where
    two different neighbouring edges would read the same (``0.9999`` and ``0.99999`` are not
    both "1"), and for probabilities (``percent``) never "0%" or "100%" for an edge that is
    not exactly 0 or 1."""
    labels: list[str] = []
    for i, value in enumerate(values):
        neighbours = [values[j] for j in (i - 1, i + 1) if 0 <= j < len(values)]
        digits = 3
        while digits < MAX_EDGE_DIGITS:
            text = format_edge(value, digits, percent=percent)
            clash = any(
                n != value and format_edge(n, digits, percent=percent) == text for n in neighbours
            )
            rounded_to_bound = percent and text in ("0%", "100%") and value not in (0.0, 1.0)
            if not clash and not rounded_to_bound:
                break
            digits += 1
        labels.append(format_edge(value, digits, percent=percent))
    return labels


METRIC_LABELS: dict[str, str] = {
    "accuracy": "Accuracy",
    "f1": "F1",
    "precision": "Precision",
    "recall": "Recall",
    "roc_auc": "ROC AUC",
    "mae": "MAE",
    "rmse": "RMSE",
    "r2": "R²",
}
"""How the performance detector's metrics are written (acronyms stay capitals)."""


def metric_label(metric: str, *, in_sentence: bool = False) -> str:
    """A metric's display name: ``MAE``, ``ROC AUC``, ``Accuracy``; a plugin's own metric
    keeps its spelling, underscores read as spaces and the first letter raised
    (``log_loss`` → ``Log loss``, ``MAPE`` stays). ``in_sentence`` lowers words that are not
    acronyms ("measure accuracy", "measure MAE")."""
    known = METRIC_LABELS.get(metric.lower())
    if known is None:
        text = metric.replace("_", " ").strip()
        known = text[:1].upper() + text[1:] if text else metric
    if in_sentence and known[:1].isupper() and known[1:2].islower():
        return known[:1].lower() + known[1:]
    return known
