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
#: Batches of at least this many rows go to SQLite as multi-row INSERTs (see insert_chunks);
#: smaller ones as one prepared single-row INSERT run by ``executemany``.
MULTI_ROW_FROM = 256
#: The most rows in one multi-row INSERT on SQLite; SQLite's limit of parameters per
#: statement (32,766) makes it fewer for a table of eight columns or more (910 rows for the
#: demo model's 36), and that limit, not this one, is what bounds a statement's memory.
INSERT_CHUNK_ROWS = 4096


def insert_chunks(rows: int, most: int = INSERT_CHUNK_ROWS) -> list[int]:
    """The sizes of the multi-row INSERTs that write ``rows`` rows: as many statements of
    ``most`` rows as fit, then the rest in one statement of the next power of two (``most``
    if that is larger), which the caller fills by repeating the last row (700 rows, ``most``
    256: 256, 256, 256, the last holding 188 rows and 68 repeats that ``ON CONFLICT (id) DO
    NOTHING`` skips).

    Why so few statements: sqlite3 releases the GIL around each one and must take it back
    after, which in a serving process whose event loop holds it waits up to a switch
    interval (5 ms). 1,000-row batches from 4 clients were written at 1.86x the rate of the
    code before issue 14 with 256-row chunks and the rest as binary digits (a 2,000-row
    batch in ten statements), 2.17x in four statements of up to 512 rows; statements as
    large as the parameter limit allows (910 rows here) wrote 71,821 rows/s against 58,136
    with 512 (async, medians of 8 interleaved rounds in one run). Why fixed sizes: sqlite3
    keeps the last 128 statement texts of each connection prepared, about 2 KB per row of a
    wide table: one text per batch size grew a serving process by hundreds of MB (issue
    10); ``most`` and the powers of two below it keep it to a few MB per connection."""
    cap = max(1, most)
    chunks = [cap] * (rows // cap)
    rest = rows % cap
    if rest:
        chunks.append(min(cap, 1 << (rest - 1).bit_length()))
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
