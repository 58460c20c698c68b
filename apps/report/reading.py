"""Reading a report's JSON defensively: numbers, counts, text and lists.

A report comes from the store, but the file it becomes is shared and opened elsewhere, and an
outside detector may put anything in its ``details``: every reader gives ``None`` (or an
empty list) for a missing or malformed value instead of raising, so one odd value costs one
cell of the report, never the report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def number(value: Any) -> float | None:
    """A finite or infinite float; ``None`` for booleans, text, ``None`` and NaN."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    result = float(value)
    return None if math.isnan(result) else result


def finite(value: Any) -> float | None:
    """A finite float, else ``None``."""
    result = number(value)
    return result if result is not None and math.isfinite(result) else None


def count(value: Any) -> int | None:
    """A non-negative whole number (``3.0`` counts as 3), else ``None``."""
    result = finite(value)
    if result is None or result < 0 or result != int(result):
        return None
    return int(result)


def counts(value: Any) -> list[int] | None:
    """A list of counts, or ``None`` when it is not a list or one entry is not a count."""
    if not isinstance(value, list):
        return None
    out = [count(v) for v in value]
    return None if any(v is None for v in out) else [v for v in out if v is not None]


def numbers(value: Any) -> list[float] | None:
    """A list of finite numbers, or ``None`` when one entry is not."""
    if not isinstance(value, list):
        return None
    out = [finite(v) for v in value]
    return None if any(v is None for v in out) else [v for v in out if v is not None]


def text(value: Any) -> str | None:
    """A string as given (numbers as their text), else ``None``."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def mappings(value: Any) -> list[Mapping[str, Any]]:
    """The mappings in a list (other entries dropped); empty when ``value`` is no list."""
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def moment(value: Any) -> datetime | None:
    """An ISO time (or a datetime) as an aware UTC datetime; naive means UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
