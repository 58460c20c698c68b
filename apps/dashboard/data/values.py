"""Reading the API's JSON defensively: the lists in an answer, numbers, times, a result's
``details`` and the name it is shown under, and reports in time order (placed at their
window's end, so a backfilled report sits where its data is from).

Every reader gives ``None`` or an empty list for a missing or malformed value, never an
exception: the other modules of this package build on these so that they stay defensive too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any


def items(payload: Any, *keys: str) -> list[Mapping[str, Any]]:
    """The list of objects in an API answer: the answer itself when it is a list, else the
    first of ``keys`` (or ``"items"``) holding a list. Non-dict entries are dropped."""
    found: Any = payload
    if isinstance(payload, Mapping):
        found = None
        for key in (*keys, "items", "data", "results"):
            value = payload.get(key)
            if isinstance(value, list):
                found = value
                break
    if not isinstance(found, list):
        return []
    return [entry for entry in found if isinstance(entry, Mapping)]


def as_float(value: Any) -> float | None:
    """A number as a float; ``None`` for booleans, ``None``, text that is not a number, and NaN
    (infinities stay: a caller that cannot use them checks)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def as_int(value: Any) -> int | None:
    """A number as an int (truncated); ``None`` where :func:`as_float` gives ``None`` and for
    infinities."""
    number = as_float(value)
    return None if number is None or math.isinf(number) else int(number)


def as_mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when the API answered a mapping there, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def details_of(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """A result's ``details`` mapping; empty when it has none or it is not a mapping."""
    return as_mapping(row.get("details"))


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 string or datetime as an aware UTC datetime; ``None`` when unparseable."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def feature_label(row: Mapping[str, Any]) -> str:
    """The name a result is shown under: the feature, ``prediction``, or the metric."""
    feature = row.get("feature")
    if isinstance(feature, str) and feature:
        return feature
    kind = row.get("kind")
    if kind == "performance":
        metric = details_of(row).get("metric")
        return str(metric) if metric else "performance"
    return str(kind or "?")


def report_time(report: Mapping[str, Any]) -> datetime | None:
    """Where a report sits on a time axis: the end of its window, which is when its data is
    from. A backfilled report is made long after its window ended (``created_at`` is when it
    was made), and a scheduled one ends its window the moment it runs; a report without a
    readable window end falls back to ``created_at``."""
    end = parse_time(as_mapping(report.get("window")).get("end"))
    return end if end is not None else parse_time(report.get("created_at"))


def is_backfilled(report: Mapping[str, Any]) -> bool:
    """Whether a report was made afterwards over a past window (``driftscope backfill``)."""
    return report.get("backfilled") is True


def sorted_reports(reports: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Reports with a readable time (:func:`report_time`), oldest window first; reports of
    one window end in the order they were made."""
    dated: list[tuple[datetime, datetime, Mapping[str, Any]]] = []
    for r in reports:
        if not isinstance(r, Mapping):
            continue
        moment = report_time(r)
        if moment is not None:
            made = parse_time(r.get("created_at")) or moment
            dated.append((moment, made, r))
    return [r for _, _, r in sorted(dated, key=lambda p: (p[0], p[1]))]


def latest_report(reports: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The report whose window ends last (the newest data), or ``None``."""
    ordered = sorted_reports(reports)
    return ordered[-1] if ordered else None
