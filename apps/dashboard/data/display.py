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


def format_edge(value: float) -> str:
    """A bin edge for a label: ``-∞``/``∞`` for open ends, else three significant digits."""
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.3g}"
