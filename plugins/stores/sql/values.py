"""Values as the SQL store keeps them: times as BIGINT microseconds, labels as text or
numbers, JSON text; and the sizes the store reads and writes in."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any, overload

import numpy as np
from sqlalchemy import BigInteger, TypeDecorator

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
#: A sample of n rows first keeps each row with probability SAMPLE_MARGIN * n / total (at
#: least enough for 6 standard deviations above n), then sorts only those by random().
SAMPLE_MARGIN = 1.3
#: The largest multi-row INSERT on SQLite, in rows (a power of two; see insert_chunks).
INSERT_CHUNK_ROWS = 256


def insert_chunks(rows: int, most: int = INSERT_CHUNK_ROWS) -> list[int]:
    """Split ``rows`` into INSERT sizes drawn from a fixed set: the largest power of two
    up to ``most``, then the binary digits of what is left (700 → 256, 256, 128, 32, 16,
    8, 4). sqlite3 keeps the last 128 statement texts of each connection prepared, about
    2 KB per row of a wide table: one text per batch size grew a serving process by
    hundreds of MB (issue 10); these at most nine shapes keep it to a few hundred KB."""
    cap = 1 << (max(1, most).bit_length() - 1)
    chunks = [cap] * (rows // cap)
    rest = rows % cap
    chunks += [bit for bit in (1 << i for i in range(cap.bit_length() - 1, -1, -1)) if rest & bit]
    return chunks


def prefilter_probability(n: int, total: int) -> float:
    """The probability with which a sample of ``n`` of ``total`` rows pre-filters each row:
    about ``SAMPLE_MARGIN * n / total``, never so low that fewer than ``n`` rows survive
    except with negligible probability (then the exact path runs), at most 1."""
    if total <= 0:
        return 1.0
    expected = max(SAMPLE_MARGIN * n, n + 6.0 * math.sqrt(n) + 20.0)
    return min(1.0, expected / total)


def to_micros(value: datetime) -> int:
    """Microseconds since the Unix epoch of a datetime (naive ones are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _MICROSECOND


@overload
def from_micros(value: int) -> datetime: ...
@overload
def from_micros(value: None) -> None: ...
@overload
def from_micros(value: int | None) -> datetime | None: ...
def from_micros(value: int | None) -> datetime | None:
    """The aware UTC datetime of a microsecond timestamp (``None`` stays ``None``)."""
    if value is None:
        return None
    return _EPOCH + timedelta(microseconds=int(value))


def _class_text(value: Any) -> str | None:
    """A classifier's label or prediction as the text the store keeps (``1.0`` → ``"1"``)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return None
        return str(int(number)) if number.is_integer() else repr(number)
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _category(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):
        return None
    return _class_text(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, separators=(",", ":"))


class UTCMicros(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime stored as BIGINT microseconds since the epoch."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> int | None:
        return None if value is None else to_micros(value)

    def process_result_value(self, value: int | None, dialect: Any) -> datetime | None:
        return from_micros(value)
