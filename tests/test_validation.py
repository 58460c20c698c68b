"""driftscope.core.validation against the real databases: a value passes exactly when both stores
can hold it.

The oracle is the databases themselves: a string is holdable when SQLite (through Python's
sqlite3) and PostgreSQL (through psycopg) both store it in an indexed ``TEXT`` key and give
it back unchanged. A time is holdable when its microseconds since 1970 (what the SQL store
writes) come back as a Python datetime.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest
from conftest import _psycopg_dsn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftscope.core.durations import parse_duration
from driftscope.core.validation import (
    MAX_ID_CHARS,
    MAX_LABEL_CHARS,
    MAX_NAME_CHARS,
    text_problem,
    time_problem,
)


class Databases:
    """One SQLite and one PostgreSQL connection, each with a table keyed on TEXT."""

    def __init__(self, postgres_url: str) -> None:
        self.sqlite = sqlite3.connect(":memory:")
        self.sqlite.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
        self.postgres = psycopg.connect(_psycopg_dsn(postgres_url), autocommit=True)
        self.postgres.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")

    def sqlite_holds(self, value: str) -> bool:
        try:
            self.sqlite.execute("DELETE FROM t")
            self.sqlite.execute("INSERT INTO t VALUES (?)", (value,))
            return self.sqlite.execute("SELECT k FROM t").fetchone() == (value,)
        except (sqlite3.Error, UnicodeEncodeError):
            return False

    def postgres_holds(self, value: str) -> bool:
        try:
            with self.postgres.transaction():
                self.postgres.execute("DELETE FROM t")
                self.postgres.execute("INSERT INTO t VALUES (%s)", (value,))
                row = self.postgres.execute("SELECT k FROM t").fetchone()
            return row == (value,)
        except (psycopg.Error, UnicodeEncodeError):
            return False

    def close(self) -> None:
        self.sqlite.close()
        self.postgres.close()


@pytest.fixture
def databases(postgres_url: str) -> Iterator[Databases]:
    dbs = Databases(postgres_url)
    try:
        yield dbs
    finally:
        dbs.close()


# any code point, surrogates included (hypothesis leaves them out unless asked), and the
# two troublemakers often
CHARACTERS = st.one_of(
    st.characters(exclude_categories=()),
    st.sampled_from(["\x00", "\ud800", "\udfff", "\udc80"]),
)


@pytest.mark.postgres
@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    derandomize=True,
)
@given(st.text(CHARACTERS, max_size=12))
def test_text_passes_exactly_when_both_stores_hold_it(databases: Databases, value: str) -> None:
    holdable = databases.sqlite_holds(value) and databases.postgres_holds(value)
    assert (text_problem(value) is None) == holdable, ascii(value)


@pytest.mark.postgres
@pytest.mark.parametrize("limit", [MAX_ID_CHARS, MAX_LABEL_CHARS, MAX_NAME_CHARS])
def test_text_at_each_limit_fits_a_postgres_index_in_the_widest_characters(
    databases: Databases, limit: int
) -> None:
    widest = "\U0010ffff" * limit  # 4 bytes in UTF-8
    assert text_problem(widest, limit) is None
    assert databases.postgres_holds(widest) and databases.sqlite_holds(widest)
    assert text_problem(widest + "a", limit) is not None


def _readable(value: datetime) -> bool:
    """The oracle: the store's BIGINT microseconds of ``value`` come back as a datetime."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    micros = (aware - epoch) // timedelta(microseconds=1)
    try:
        epoch + timedelta(microseconds=micros)
    except OverflowError:
        return False
    return True


OFFSETS = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
EDGES = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(1, 1, 2)),
    st.datetimes(min_value=datetime(9999, 12, 30), max_value=datetime(9999, 12, 31, 23, 59)),
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.one_of(EDGES, st.datetimes()), st.one_of(st.none(), OFFSETS))
def test_a_time_passes_exactly_when_the_store_can_read_it_back(
    naive: datetime, offset: timezone | None
) -> None:
    value = naive if offset is None else naive.replace(tzinfo=offset)
    assert (time_problem(value) is None) == _readable(value), value.isoformat()


@pytest.mark.parametrize(
    "text", ["99999999999999999999w", "9" * 400 + "s", 10**400, float("inf"), float("nan")]
)
def test_overflowing_durations_are_value_errors(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
