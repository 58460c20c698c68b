"""Alert states and their history from ``/v1/alerts`` and ``/v1/alerts/events``: rows sorted
by urgency, grouped by monitor and feature, counted by state."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from driftscope.apps.dashboard.data.display import ALERT_STATE_COLORS, format_number
from driftscope.apps.dashboard.data.values import as_float, items, parse_time


def comparison_of(entry: Mapping[str, Any]) -> str:
    """What an alert's decision compared, as the API words it (``comparison``: "p-value
    0.0123 < threshold 0.05 · statistic 0.409"); an answer without it (an older API) shows
    the statistic and the threshold without relating them."""
    text = entry.get("comparison")
    if isinstance(text, str) and text:
        return text
    statistic = format_number(as_float(entry.get("statistic")), 4)
    threshold = format_number(as_float(entry.get("threshold")), 4)
    return f"statistic {statistic}, threshold {threshold}"


def alert_subject(detector: str, feature: str) -> str:
    """What an alert key is about: ``feature · detector``, the detector alone when the
    feature repeats it (performance), or ``whole monitor`` for the monitor's own key."""
    if detector == "monitor":
        return "whole monitor"
    if not feature or feature == detector:
        return detector
    return f"{feature} · {detector}"


@dataclass
class AlertRow:
    """One alert key's current state."""

    monitor: str
    detector: str
    feature: str
    state: str
    since: datetime | None
    statistic: float | None
    threshold: float | None
    comparison: str = ""
    """The number the decision compared beside its threshold, in words."""

    @property
    def subject(self) -> str:
        """What the alert is about: ``feature · detector``, or the monitor itself."""
        return alert_subject(self.detector, self.feature)


def alert_rows(payload: Any) -> list[AlertRow]:
    """The alert states in a ``/v1/alerts`` answer (a list, or ``{"alerts"|"states": [...]}``)."""
    rows = []
    for a in items(payload, "alerts", "states"):
        rows.append(
            AlertRow(
                monitor=str(a.get("monitor", "")),
                detector=str(a.get("detector", "")),
                feature=str(a.get("feature") or ""),
                state=str(a.get("state", "ok")),
                since=parse_time(a.get("changed_at", a.get("since"))),
                statistic=as_float(a.get("statistic")),
                threshold=as_float(a.get("threshold")),
                comparison=comparison_of(a),
            )
        )
    order = {"firing": 0, "no_data": 1, "pending": 2, "resolved": 3, "ok": 4}
    rows.sort(key=lambda r: (order.get(r.state, 5), r.monitor, r.subject))
    return rows


def alerts_by_monitor(rows: Iterable[AlertRow]) -> dict[str, list[dict[str, Any]]]:
    """Alert states grouped by monitor, as the dicts
    :func:`driftscope.apps.dashboard.data.reports.monitor_state` reads."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r.monitor, []).append({"state": r.state, "feature": r.feature})
    return out


def firing_by_feature(rows: Iterable[AlertRow]) -> dict[str, dict[str, list[str]]]:
    """Firing and no-data alerts grouped by monitor, then by feature: the detectors firing
    on each (``{"cancer": {"mean radius": ["ks", "psi"]}}``), features in first-seen order."""
    out: dict[str, dict[str, list[str]]] = {}
    for r in rows:
        if r.state not in ("firing", "no_data"):
            continue
        if r.detector == "monitor":
            feature, detector = "no data", "monitor"
        else:
            feature = r.feature if r.feature and r.feature != r.detector else r.detector
            detector = r.detector
        out.setdefault(r.monitor, {}).setdefault(feature, []).append(detector)
    return out


def state_counts(rows: Iterable[AlertRow]) -> dict[str, int]:
    """How many alert keys are in each state (every state named, zero when none)."""
    counts = dict.fromkeys(ALERT_STATE_COLORS, 0)
    for r in rows:
        counts[r.state] = counts.get(r.state, 0) + 1
    return counts


@dataclass
class AlertEventRow:
    """One recorded state change (the alert history)."""

    at: datetime
    monitor: str
    detector: str
    feature: str
    from_state: str
    to_state: str
    statistic: float | None
    threshold: float | None
    silenced: bool
    comparison: str = ""
    """The number the decision compared beside its threshold, in words."""

    @property
    def subject(self) -> str:
        """What changed: ``feature · detector``, or the monitor itself."""
        return alert_subject(self.detector, self.feature)


def alert_events(payload: Any) -> list[AlertEventRow]:
    """The history in a ``/v1/alerts`` answer (``{"events"|"history": [...]}``), newest first."""
    rows = []
    for e in items(payload, "events", "history") if isinstance(payload, Mapping) else []:
        at = parse_time(e.get("at", e.get("created_at")))
        if at is None:
            continue
        rows.append(
            AlertEventRow(
                at=at,
                monitor=str(e.get("monitor", "")),
                detector=str(e.get("detector", "")),
                feature=str(e.get("feature") or ""),
                from_state=str(e.get("from_state", "")),
                to_state=str(e.get("to_state", "")),
                statistic=as_float(e.get("statistic")),
                threshold=as_float(e.get("threshold")),
                silenced=bool(e.get("silenced", False)),
                comparison=comparison_of(e),
            )
        )
    rows.sort(key=lambda r: r.at, reverse=True)
    return rows
