"""What differs between SQLite and PostgreSQL, one object per database.

The store's methods hold the SQL both databases share and ask their :class:`Dialect` for the
rest: connection setup, placeholders and column types, how a batch is inserted, which errors
are worth retrying, locks, sampling and counting SQL. :func:`dialect_for` picks the object
from a URL's scheme.
"""

from __future__ import annotations

import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from itertools import chain
from typing import Any, ClassVar

import numpy as np
import psycopg
from sqlalchemy import Connection, Engine, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, DisconnectionError, InvalidatePoolError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import StaticPool

from driftscope import StoreError

from .values import INSERT_CHUNK_ROWS, MULTI_ROW_FROM, insert_chunks

# PostgreSQL error classes worth retrying: connection exceptions, transaction rollbacks
# (serialisation, deadlock), insufficient resources, operator intervention (admin shutdown,
# terminated backend), system errors, and a lock not available.
_PG_TRANSIENT_CLASSES = ("08", "40", "53", "57", "58")
_PG_TRANSIENT_STATES = ("55P03",)
# sqlite3.OperationalError covers both outages (locked, I/O) and mistakes (no such table);
# only the former are retried.
_SQLITE_TRANSIENT_WORDS = ("locked", "busy", "disk i/o", "unable to open", "readonly", "full")
_COPY_MIN_ROWS = 5_000  # PostgreSQL windows at least this big are read through COPY
# A pooled PostgreSQL connection given back this recently is written on without a ping first.
_RECENT_SECONDS = 1.0
_COPY_TYPES = {"text": "text", "int": "int8", "numeric": "float8"}
_USED_AT = "driftscope_used_at"
_TRUST_RECENT: ContextVar[bool] = ContextVar("driftscope_trust_recent", default=False)

#: A window's columns: (column, is_numeric), in select order.
Fields = Sequence[tuple[str, bool]]


class InsertInstead(Exception):
    """The fast insert could not take the batch (an id already stored, or a value of a type
    its binary format does not take); the transaction is void and the caller inserts the
    rows again with ``skip_known``, the statement that stores what it always stored."""


class Dialect(ABC):
    """What one database does its own way; the store holds everything else."""

    name: ClassVar[str]
    """``sqlite`` or ``postgresql``: what :attr:`SQLStore.dialect` reports."""
    driver: ClassVar[str]
    """SQLAlchemy's driver name for the URL."""
    placeholder: ClassVar[str]
    """The driver's positional parameter marker."""
    int_type: ClassVar[str]
    real_type: ClassVar[str]
    temp_prefix: ClassVar[str] = ""
    """Put before a temporary table's name where the database has a schema for them."""
    temp_suffix: ClassVar[str] = ""
    """Ends ``CREATE TEMP TABLE``."""
    row_key: ClassVar[str]
    """The key a sample is drawn over."""

    def column_type(self, kind: str) -> str:
        """The SQL type of a column holding ``kind`` (``numeric``, ``int``, ``text`` …)."""
        if kind in ("categorical", "text"):
            return "TEXT"
        if kind == "int":
            return self.int_type
        return self.real_type

    @abstractmethod
    def make_engine(self, url: URL) -> tuple[Engine, bool]:
        """A connection pool for ``url``, and whether every use must be serialised (one
        shared connection)."""

    @abstractmethod
    def snapshot(self, conn: Connection) -> None:
        """Make every statement of ``conn``'s next transaction see one snapshot."""

    @abstractmethod
    def lock_schema(self, conn: Connection) -> None:
        """Serialise schema creation with other processes, for this transaction."""

    @abstractmethod
    def lock_model(self, conn: Connection, model: str) -> None:
        """Serialise registering ``model`` with other processes, for this transaction."""

    def is_transient(self, exc: BaseException) -> bool:
        """Whether a database error may go away on retry (an outage), as opposed to one the
        data itself causes, which would fail again forever."""
        if isinstance(exc, DisconnectionError | PoolTimeout):
            return True
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return True
        orig = getattr(exc, "orig", None) or exc
        verdict = self._driver_transient(orig)
        if verdict is not None:
            return verdict
        return isinstance(orig, ConnectionError | TimeoutError)

    def _driver_transient(self, orig: BaseException) -> bool | None:
        """The verdict on the driver's own exception, or ``None`` when it is not one."""
        return None

    @abstractmethod
    def insert(self, table: Table) -> Any:
        """An ``INSERT`` on ``table`` that takes ``ON CONFLICT``."""

    @abstractmethod
    def begin(self, raw: Any, *, write: bool) -> None:
        """Start a transaction on the driver connection ``raw`` (a write one if ``write``)."""

    @contextmanager
    def recently_used_is_alive(self) -> Iterator[None]:
        """Within this block the pool may hand out a connection it gave out moments ago
        without checking it first: for writes, whose callers retry a lost connection."""
        yield

    @abstractmethod
    def insert_rows(
        self,
        raw: Any,
        table: str,
        columns: Sequence[tuple[str, str]],
        rows: Sequence[Sequence[Any]],
        *,
        skip_known: bool,
    ) -> int:
        """Insert prediction rows (``columns`` as ``(column, kind)``) on the driver connection
        ``raw``; returns how many were written. Rows whose id is stored are skipped, or with
        ``skip_known`` false a dialect may raise :class:`InsertInstead`."""

    @abstractmethod
    def named(self, name: str) -> str:
        """The driver's marker for the named parameter ``name``."""

    @abstractmethod
    def random_below(self, p: float) -> float | int:
        """The bound ``b`` for which ``random() < b`` holds with probability ``p``."""

    def fetch_whole_window(
        self, conn: Connection, table: str, fields: Fields, lo: int, hi: int, rows: int
    ) -> dict[str, np.ndarray] | None:
        """Read a large unsampled window by a faster path, or ``None`` when there is none."""
        return None

    @abstractmethod
    def bin_query(
        self, column: str, table: str, inner: np.ndarray, lo: int, hi: int
    ) -> tuple[str, Any]:
        """SQL and parameters counting ``column`` into the right-closed bins of ``inner``:
        rows of ``(bin, count)``, bin -1 for missing values and -2 for infinities."""

    @abstractmethod
    def bin_aggregates(self, column: str, edges: int) -> list[str]:
        """``count(v)``, the NaN, ``-inf`` and ``+inf`` counts, then one ``v <= ?`` count per
        edge, each taking one positional parameter."""

    @abstractmethod
    def category_groups(
        self, conn: Connection, table: str, columns: Sequence[str], lo: int, hi: int
    ) -> list[tuple[int, Any, Any]]:
        """``(column index, category, rows)`` for every category of every column."""

    @abstractmethod
    def latency_percentiles(
        self, conn: Connection, table: str, where: str, lo: int, hi: int
    ) -> list[float | None]:
        """p50, p90 and p99 of ``latency_ms`` over ``where`` (``None`` without rows)."""


@lru_cache(maxsize=64)
def _sqlite_insert(table: str, names: tuple[str, ...], rows: int) -> str:
    """``INSERT INTO table (names) VALUES (?, ...), ... ON CONFLICT (id) DO NOTHING`` for
    ``rows`` rows, made once per shape (a 256-row statement's text is tens of KB)."""
    one = f"({', '.join(['?'] * len(names))})"
    values = ", ".join([one] * rows)
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES {values} ON CONFLICT (id) DO NOTHING"


class SQLiteDialect(Dialect):
    """SQLite: WAL, ``BEGIN IMMEDIATE`` writers, multi-row INSERTs, NaN stored as NULL."""

    name = "sqlite"
    driver = "sqlite+pysqlite"
    placeholder = "?"
    int_type = "INTEGER"
    real_type = "REAL"
    temp_prefix = "temp."
    row_key = "rowid"

    def snapshot(self, conn: Connection) -> None:
        return None  # a SQLite transaction always reads one snapshot

    def lock_schema(self, conn: Connection) -> None:
        return None  # BEGIN IMMEDIATE already holds the database's one write lock

    def lock_model(self, conn: Connection, model: str) -> None:
        return None  # BEGIN IMMEDIATE already holds the database's one write lock

    def make_engine(self, url: URL) -> tuple[Engine, bool]:
        database = url.database or ""
        memory = database in ("", ":memory:") or "mode=memory" in str(url.query)
        kwargs: dict[str, Any] = {
            "connect_args": {"check_same_thread": False, "timeout": 30},
        }
        if memory:
            kwargs["poolclass"] = StaticPool
        else:
            kwargs.update(pool_size=8, max_overflow=16)
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("driftscope_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine, memory

    def _driver_transient(self, orig: BaseException) -> bool | None:
        if isinstance(orig, sqlite3.OperationalError):
            message = str(orig).lower()
            return any(word in message for word in _SQLITE_TRANSIENT_WORDS)
        return None

    def insert(self, table: Table) -> Any:
        return sqlite_dialect.insert(table)

    def begin(self, raw: Any, *, write: bool) -> None:
        raw.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def insert_rows(
        self,
        raw: Any,
        table: str,
        columns: Sequence[tuple[str, str]],
        rows: Sequence[Sequence[Any]],
        *,
        skip_known: bool,
    ) -> int:
        """``INSERT ... ON CONFLICT (id) DO NOTHING``: one prepared statement run by
        ``executemany`` for a batch under :data:`MULTI_ROW_FROM` rows, multi-row statements of
        :func:`insert_chunks` sizes for a larger one.

        ``executemany`` is the faster of the two in a process doing nothing else (20-25%
        more rows/s), but sqlite3 releases the GIL around every row's step and takes it back
        after: in a serving process whose event loop holds the GIL each retake waits up to a
        switch interval, and 1,000-row batches from 4 clients were written at half the
        rows/s of multi-row statements. Small batches are written on the event loop itself
        (``try_write_predictions``), where nothing contends. Few statement texts either way,
        so the statements sqlite3 keeps prepared stay few whatever the batch sizes
        (issue 10).

        The last statement of a batch is filled up to its size with copies of the batch's
        last row: each copy's id is the row's own, which the statement has just inserted (or
        found stored), so ``ON CONFLICT (id) DO NOTHING`` skips it and the row count is
        the rows inserted.
        """
        names = tuple(c for c, _ in columns)
        if len(rows) == 1:
            return max(raw.execute(_sqlite_insert(table, names, 1), rows[0]).rowcount, 0)
        if len(rows) < MULTI_ROW_FROM:
            cursor = raw.executemany(_sqlite_insert(table, names, 1), rows)
            return max(cursor.rowcount, 0)
        most = min(
            INSERT_CHUNK_ROWS, raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(names)
        )
        written = 0
        start = 0
        for size in insert_chunks(len(rows), max(1, most)):
            part = rows[start : start + size]
            start += size
            values = list(chain.from_iterable(part))
            if len(part) < size:
                values += list(part[-1]) * (size - len(part))
            written += max(raw.execute(_sqlite_insert(table, names, size), values).rowcount, 0)
        return written

    def named(self, name: str) -> str:
        return f":{name}"

    def random_below(self, p: float) -> float | int:
        return int(-(2**63) + p * 2**64)  # SQLite's random() is a uniform 64-bit integer

    def bin_query(
        self, column: str, table: str, inner: np.ndarray, lo: int, hi: int
    ) -> tuple[str, Any]:
        c = column
        bucket = " + ".join(f"({c} > ?)" for _ in range(int(inner.size))) or "0"
        sql = (
            f"SELECT CASE WHEN {c} IS NULL THEN -1 WHEN abs({c}) = 9e999 THEN -2 "
            f"ELSE {bucket} END AS bin, count(*) FROM {table} "
            "WHERE ts >= ? AND ts < ? GROUP BY 1"
        )
        return sql, (*(float(e) for e in inner), lo, hi)

    def bin_aggregates(self, column: str, edges: int) -> list[str]:
        c = column  # SQLite stores NaN as NULL
        return [f"count({c})", "0", f"sum({c} = -9e999)", f"sum({c} = 9e999)"] + [
            f"sum({c} <= ?)"
        ] * edges

    def category_groups(
        self, conn: Connection, table: str, columns: Sequence[str], lo: int, hi: int
    ) -> list[tuple[int, Any, Any]]:
        found = conn.exec_driver_sql(
            " UNION ALL ".join(
                f"SELECT {i}, {c}, count(*) FROM {table} WHERE ts >= ? AND ts < ? GROUP BY {c}"
                for i, c in enumerate(columns)
            ),
            (lo, hi) * len(columns),
        ).all()
        return [(int(i), value, n) for i, value, n in found]

    def latency_percentiles(
        self, conn: Connection, table: str, where: str, lo: int, hi: int
    ) -> list[float | None]:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(
                f"SELECT latency_ms FROM {table} WHERE {where} AND latency_ms IS NOT NULL",
                (lo, hi),
            )
            latency = np.fromiter((r[0] for r in cursor), dtype=np.float64)
        finally:
            cursor.close()
        if latency.size:
            return [float(v) for v in np.percentile(latency, [50, 90, 99])]
        return [None, None, None]


class PostgresDialect(Dialect):
    """PostgreSQL (psycopg 3): advisory locks, pipelined executemany, COPY for big reads."""

    name = "postgresql"
    driver = "postgresql+psycopg"
    placeholder = "%s"
    int_type = "BIGINT"
    real_type = "DOUBLE PRECISION"
    temp_suffix = " ON COMMIT DELETE ROWS"
    row_key = "id"

    def make_engine(self, url: URL) -> tuple[Engine, bool]:
        """A pool that pings a connection before handing it out (so one the server dropped
        is replaced), except a write's connection given back less than a second ago: the
        ping was a round trip per batch, and a write that finds its connection lost fails
        as transient and is retried."""
        engine = create_engine(url, pool_size=5, max_overflow=10, future=True)
        dialect = engine.dialect

        @event.listens_for(engine, "checkin")
        def _used(dbapi_connection: Any, record: Any) -> None:
            if dbapi_connection is not None:
                record.info[_USED_AT] = time.monotonic()

        @event.listens_for(engine, "checkout")
        def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
            used = record.info.get(_USED_AT)
            if used is None:  # just connected (the info goes with the DBAPI connection)
                return
            if _TRUST_RECENT.get() and time.monotonic() - used < _RECENT_SECONDS:
                return
            try:
                dialect.do_ping(dbapi_connection)
            except Exception as exc:  # as pool_pre_ping does: replace every older connection
                raise InvalidatePoolError(f"ping failed: {type(exc).__name__}") from exc

        return engine, False

    @contextmanager
    def recently_used_is_alive(self) -> Iterator[None]:
        token = _TRUST_RECENT.set(True)
        try:
            yield
        finally:
            _TRUST_RECENT.reset(token)

    def begin(self, raw: Any, *, write: bool) -> None:
        return None  # psycopg opens the transaction with the first statement

    def snapshot(self, conn: Connection) -> None:
        conn.execution_options(isolation_level="REPEATABLE READ")

    def lock_schema(self, conn: Connection) -> None:
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext('driftscope:' || current_schema()))")
        )

    def lock_model(self, conn: Connection, model: str) -> None:
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
            {"k": f"driftscope-model:{model}"},
        )

    def _driver_transient(self, orig: BaseException) -> bool | None:
        if isinstance(orig, psycopg.Error):
            state = orig.sqlstate
            if state is None:  # raised by the client: a lost or closed connection, or bad data
                return isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError)
            return state[:2] in _PG_TRANSIENT_CLASSES or state in _PG_TRANSIENT_STATES
        return None

    def insert(self, table: Table) -> Any:
        return pg_dialect.insert(table)

    def insert_rows(
        self,
        raw: Any,
        table: str,
        columns: Sequence[tuple[str, str]],
        rows: Sequence[Sequence[Any]],
        *,
        skip_known: bool,
    ) -> int:
        """Binary ``COPY`` straight into the table: three times the rows/s of a pipelined
        ``executemany`` for batches of 100 to 1,000, and as fast for a single row. ``COPY``
        cannot skip a stored id: it fails on one (a unique violation), and the caller inserts
        again with ``skip_known``: ``INSERT ... ON CONFLICT (id) DO NOTHING``. So it does
        when a value is of a type the binary format refuses (an id that is not text, outside
        the record's contract), which that statement stores as it always did."""
        names = ", ".join(c for c, _ in columns)
        with raw.cursor() as cursor:
            if skip_known:
                cursor.executemany(
                    f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))}) "
                    "ON CONFLICT (id) DO NOTHING",
                    rows,
                )
                return max(cursor.rowcount, 0)
            try:
                with cursor.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types([_COPY_TYPES[kind] for _, kind in columns])
                    for row in rows:
                        copy.write_row(row)
            except (psycopg.errors.UniqueViolation, TypeError):
                raise InsertInstead from None
            return max(cursor.rowcount, 0)

    def named(self, name: str) -> str:
        return f"%({name})s"

    def random_below(self, p: float) -> float | int:
        return p  # PostgreSQL's random() is uniform in [0, 1)

    def fetch_whole_window(
        self, conn: Connection, table: str, fields: Fields, lo: int, hi: int, rows: int
    ) -> dict[str, np.ndarray] | None:
        """Large unsampled windows: numeric columns through ``COPY ... (FORMAT BINARY)``
        parsed by numpy in one go (NULL → NaN in the query, so every field is a fixed-width
        float8), text columns through an ordinary query. Both run in the caller's REPEATABLE
        READ transaction and order by ``(ts, id)``, so their rows line up."""
        if rows < _COPY_MIN_ROWS:
            return None
        numeric = [c for c, is_numeric in fields if is_numeric]
        texts = [c for c, is_numeric in fields if not is_numeric]
        where = f"ts >= {int(lo)} AND ts < {int(hi)}"
        out: dict[str, np.ndarray] = {}
        raw = conn.connection.driver_connection
        cursor = raw.cursor()  # type: ignore[union-attr]
        try:
            if numeric:
                exprs = ", ".join(f"COALESCE({c}, 'NaN'::float8)" for c in numeric)
                buffer = bytearray()
                with cursor.copy(
                    f"COPY (SELECT {exprs} FROM {table} WHERE {where} ORDER BY ts, id) "
                    "TO STDOUT (FORMAT BINARY)"
                ) as copy:
                    for chunk in copy:
                        buffer += chunk
                dtype = np.dtype(
                    [("n", ">i2")]
                    + [item for c in numeric for item in ((f"{c}__len", ">i4"), (c, ">f8"))]
                )
                body = memoryview(buffer)[19 : len(buffer) - 2]  # header and trailer
                if len(body) != rows * dtype.itemsize:
                    raise StoreError("unexpected COPY output while reading a window")
                array = np.frombuffer(body, dtype=dtype, count=rows)
                for c in numeric:
                    out[c] = array[c].astype(np.float64)
            if texts:
                cursor.execute(
                    f"SELECT {', '.join(texts)} FROM {table} WHERE {where} ORDER BY ts, id"
                )
                objects = np.fromiter(cursor, dtype=[(c, object) for c in texts], count=rows)
                for c in texts:
                    out[c] = objects[c].copy()
        finally:
            cursor.close()
        return out

    def bin_query(
        self, column: str, table: str, inner: np.ndarray, lo: int, hi: int
    ) -> tuple[str, Any]:
        """Each value's bin by ``width_bucket`` (a binary search in C): the right-closed bin
        of ``v`` among ``k`` edges is ``k - width_bucket(-v, reversed(-edges))``."""
        c, k = column, int(inner.size)
        bucket = f"{k} - width_bucket(-{c}, %(edges)s::float8[])" if k else "0"
        sql = (
            f"SELECT CASE WHEN {c} IS NULL OR {c} = 'NaN'::float8 THEN -1 "
            f"WHEN {c} IN ('Infinity'::float8, '-Infinity'::float8) THEN -2 "
            f"ELSE {bucket} END AS bin, count(*) FROM {table} "
            "WHERE ts >= %(lo)s AND ts < %(hi)s GROUP BY 1"
        )
        return sql, {"edges": [float(-e) for e in inner[::-1]], "lo": lo, "hi": hi}

    def bin_aggregates(self, column: str, edges: int) -> list[str]:
        c = column
        return (
            [f"count({c})"]
            + [
                f"count(*) FILTER (WHERE {c} = '{v}'::float8)"
                for v in ("NaN", "-Infinity", "Infinity")
            ]
            + [f"count(*) FILTER (WHERE {c} <= %s)"] * edges
        )

    def category_groups(
        self, conn: Connection, table: str, columns: Sequence[str], lo: int, hi: int
    ) -> list[tuple[int, Any, Any]]:
        """One scan with ``GROUPING SETS``."""
        sets = ", ".join(f"({c})" for c in columns)
        flags = ", ".join(f"GROUPING({c})" for c in columns)
        found = conn.exec_driver_sql(
            f"SELECT {flags}, {', '.join(columns)}, count(*) FROM {table} "
            f"WHERE ts >= %s AND ts < %s GROUP BY GROUPING SETS ({sets})",
            (lo, hi),
        ).all()
        n = len(columns)
        groups: list[tuple[int, Any, Any]] = []
        for r in found:  # GROUPING(c) is 0 in the rows of c's grouping set
            i = list(r[:n]).index(0)
            groups.append((i, r[n + i], r[-1]))
        return groups

    def latency_percentiles(
        self, conn: Connection, table: str, where: str, lo: int, hi: int
    ) -> list[float | None]:
        found = conn.exec_driver_sql(
            "SELECT percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP "
            f"(ORDER BY latency_ms) FROM {table} WHERE {where} "
            "AND latency_ms IS NOT NULL AND latency_ms <> 'NaN'",
            (lo, hi),
        ).scalar_one()
        if found is None:
            return [None, None, None]
        return [float(v) for v in found]


_DIALECTS: dict[str, type[Dialect]] = {
    "sqlite": SQLiteDialect,
    "postgresql": PostgresDialect,
    "postgres": PostgresDialect,
}


def dialect_for(backend: str) -> Dialect | None:
    """The dialect of a URL scheme's backend (``sqlite``, ``postgresql``, ``postgres``), or
    ``None`` when driftscope does not support it."""
    cls = _DIALECTS.get(backend)
    return None if cls is None else cls()
