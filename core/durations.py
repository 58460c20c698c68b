"""Durations written the way people write them in YAML: ``30s``, ``5m``, ``1h``, ``7d``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(value: Any) -> timedelta:
    """Parse ``"90s"``, ``"1h30m"``, ``"2d"`` or a number of seconds into a timedelta."""
    try:
        if isinstance(value, timedelta):
            seconds = value.total_seconds()
        elif isinstance(value, bool):
            raise ValueError(f"not a duration: {value!r}")
        elif isinstance(value, int | float):
            seconds = float(value)
        elif isinstance(value, str):
            text = value.strip().lower().replace(" ", "")
            if not text or _PART.sub("", text):
                raise ValueError(f"not a duration: {value!r} (write e.g. 30s, 5m, 1h, 1h30m, 7d)")
            seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
        else:
            raise ValueError(f"not a duration: {value!r}")
        if not seconds > 0:  # NaN too
            raise ValueError(f"duration must be positive, got {value!r}")
        return timedelta(seconds=seconds)
    except OverflowError:
        # callers (pydantic validators, CLI options, the API) all expect ValueError
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "…"
        raise ValueError(f"duration is too long: {shown}") from None


def format_duration(delta: timedelta) -> str:
    """The shortest ``1h30m``-style text for a timedelta."""
    seconds = delta.total_seconds()
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    parts = []
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{int(count)}{unit}")
    return "".join(parts) or "0s"


Duration = Annotated[
    timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)
]
"""A pydantic field type that accepts ``30s``/``5m``/``1h`` and numbers of seconds."""
