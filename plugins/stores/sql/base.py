"""The SQL store's core: its URL and dialect, errors, transactions, lifecycle and the cached
layout of each model. The other modules of this package add methods to it by concern."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, cast

import psycopg
from sqlalchemy import Connection, Engine, Table, select, text, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from driftscope import Store, StoreError, StoreSettings

from .dialects import Dialect, dialect_for
from .tables import _MIGRATIONS, SCHEMA_VERSION, T_COLUMNS, T_MODELS, T_VERSION, _Layout, _registry

log = logging.getLogger("driftscope.plugins.stores.sql")


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NO_LOCK = _NoLock()


def _utc_now() -> datetime:
    return datetime.now(UTC)


class StoreBase(Store):
    """What every part of the SQL store uses: the engine, transactions, errors, layouts.

    :param settings: The store's settings (its URL).
    :param clock: Returns the current UTC time; every time the store stamps or compares
        (lease expiry, when a label arrived, when a model was registered) is read from it.
        Tests pass a clock they move themselves.
    """

    Settings: ClassVar[type[StoreSettings]] = StoreSettings

    def __init__(
        self,
        settings: StoreSettings | None = None,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        super().__init__(settings or StoreSettings())
        self._clock = clock
        self._url, self._password, self._dialect = self._parse_url(
            self.settings.url.get_secret_value()
        )
        self._engine: Engine | None = None
        self._layouts: dict[str, _Layout] = {}
        self._lock = threading.RLock()
        self._serialise = False  # in-memory SQLite shares one connection between threads

    # -- URL and errors ------------------------------------------------------------------------
    @staticmethod
    def _parse_url(raw: str) -> tuple[URL, str | None, Dialect]:
        try:
            url = make_url(raw)
        except (ArgumentError, ValueError):
            raise StoreError(
                "invalid store URL: expected sqlite:///path.db or postgresql://user@host/db"
            ) from None
        backend = url.drivername.split("+", 1)[0]
        dialect = dialect_for(backend)
        if dialect is None:
            raise StoreError(
                f"unsupported store URL scheme {backend!r}: use sqlite:/// or postgresql://"
            )
        url = url.set(drivername=dialect.driver)
        password = url.password if isinstance(url.password, str) and url.password else None
        return url, password, dialect

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._dialect.name

    @property
    def safe_url(self) -> str:
        """The URL with its password masked, safe to log."""
        return self._url.render_as_string(hide_password=True)

    def _scrub(self, message: str) -> str:
        if self._password:
            message = message.replace(self._password, "***")
            raw = self.settings.url.get_secret_value()
            message = message.replace(raw, self.safe_url)
        return message

    def _error(self, what: str, exc: BaseException) -> StoreError:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        first = detail[0] if detail else type(exc).__name__
        return StoreError(
            self._scrub(f"{what} failed ({self.dialect}): {first[:500]}"),
            transient=self._dialect.is_transient(exc),
        )

    def _unstorable(self, what: str, exc: BaseException) -> StoreError:
        """A value the driver cannot encode (a lone surrogate, an integer past 64 bits):
        the data's fault, so not transient."""
        return StoreError(
            self._scrub(f"{what} failed: a value cannot be stored: {exc}"[:600]),
            transient=False,
        )

    # -- engine and transactions -------------------------------------------------------------------
    def _require_engine(self) -> Engine:
        engine = self._engine
        if engine is None:
            raise StoreError("the store is not open; call open() first", transient=True)
        return engine

    @contextmanager
    def _tx(
        self, what: str, *, write: bool = False, snapshot: bool = False
    ) -> Iterator[Connection]:
        """A connection in one transaction; database errors become :class:`StoreError`.

        ``write`` takes SQLite's write lock up front (``BEGIN IMMEDIATE``); ``snapshot`` makes
        every statement of a PostgreSQL transaction see the same snapshot (REPEATABLE READ),
        which a SQLite transaction always does.
        """
        engine = self._require_engine()
        guard = self._lock if self._serialise else _NO_LOCK
        try:
            with guard, engine.connect() as conn:
                if write:
                    conn.execution_options(driftscope_write=True)
                if snapshot:
                    self._dialect.snapshot(conn)
                with conn.begin():
                    yield conn
        except StoreError:
            raise
        except (SQLAlchemyError, sqlite3.Error, psycopg.Error) as exc:
            raise self._error(what, exc) from None
        except (UnicodeError, OverflowError) as exc:
            # a value the driver cannot encode (a lone surrogate, an integer past 64 bits)
            raise self._unstorable(what, exc) from None

    @contextmanager
    def _driver_tx(self, what: str, *, write: bool = False) -> Iterator[Any]:
        """The pooled driver connection itself in one transaction, for the hot write path.

        It skips SQLAlchemy's ``Connection`` and transaction objects (their Python cost was
        a third of a small batch's time) but keeps the rest of :meth:`_tx`: the pool, the
        dialect's ``BEGIN`` (``BEGIN IMMEDIATE`` for a SQLite write), errors as
        :class:`StoreError` with the same transient verdict, and a connection the error
        showed broken is dropped from the pool instead of going back to it.
        """
        engine = self._require_engine()
        guard = self._lock if self._serialise else _NO_LOCK
        with guard:
            try:
                with self._dialect.recently_used_is_alive():
                    pooled = engine.raw_connection()
            except (SQLAlchemyError, sqlite3.Error, psycopg.Error) as exc:
                raise self._error(what, exc) from None
            raw: Any = pooled.driver_connection
            try:
                self._dialect.begin(raw, write=write)
                yield raw
                raw.commit()
            except BaseException as exc:
                self._abandon(engine, pooled, raw, exc)
                if isinstance(exc, sqlite3.Error | psycopg.Error):
                    raise self._error(what, exc) from None
                if isinstance(exc, UnicodeError | OverflowError):
                    raise self._unstorable(what, exc) from None
                raise
            finally:
                pooled.close()

    @staticmethod
    def _abandon(engine: Engine, pooled: Any, raw: Any, exc: BaseException) -> None:
        """Roll back after ``exc``; invalidate the connection when it is broken."""
        try:
            raw.rollback()
        except Exception as failed:  # the connection is gone: the pool must not keep it
            pooled.invalidate(failed)
            return
        driver_error = isinstance(exc, sqlite3.Error | psycopg.Error)
        if driver_error and engine.dialect.is_disconnect(cast(Any, exc), raw, None):
            pooled.invalidate(exc)

    def _ph(self) -> str:
        return self._dialect.placeholder

    # -- lifecycle ---------------------------------------------------------------------------------
    def open(self) -> None:
        """Connect, create the schema if missing and check its version (idempotent)."""
        with self._lock:
            if self._engine is not None:
                return
            try:
                self._engine, self._serialise = self._dialect.make_engine(self._url)
            except (SQLAlchemyError, ImportError) as exc:
                raise self._error("opening the store", exc) from None
            try:
                self._create_schema()
            except BaseException:
                self._engine.dispose()
                self._engine = None
                raise
            log.info("store open: %s", self.safe_url)

    def missing_database(self) -> str | None:
        """``"no SQLite database at PATH"`` when this is a SQLite file that does not exist;
        ``None`` for a file that does, an in-memory database or PostgreSQL (whose server
        refuses a database that does not exist by itself)."""
        if self._dialect.name != "sqlite":
            return None
        database = self._url.database or ""
        if (
            database in ("", ":memory:")
            or database.startswith("file:")
            or "mode=memory" in str(self._url.query)
        ):
            return None
        path = Path(database).absolute()
        return None if path.exists() else f"no SQLite database at {path}"

    def _create_schema(self) -> None:
        with self._tx("creating the schema", write=True) as conn:
            self._dialect.lock_schema(conn)
            T_VERSION.create(conn, checkfirst=True)
            found = conn.execute(select(T_VERSION.c.version).where(T_VERSION.c.id == 1)).first()
            if found is not None and found.version > SCHEMA_VERSION:
                raise StoreError(
                    f"the database schema is version {found.version}, newer than this "
                    f"driftscope understands (version {SCHEMA_VERSION}); upgrade driftscope "
                    "or point the store at another database"
                )
            _registry.metadata.create_all(conn, checkfirst=True)
            now = self._clock()
            if found is None:
                conn.execute(
                    T_VERSION.insert().values(id=1, version=SCHEMA_VERSION, updated_at=now)
                )
            elif found.version < SCHEMA_VERSION:
                for version in range(found.version + 1, SCHEMA_VERSION + 1):
                    _MIGRATIONS[version](conn)
                    log.info("store schema migrated to version %d", version)
                conn.execute(
                    update(T_VERSION)
                    .where(T_VERSION.c.id == 1)
                    .values(version=SCHEMA_VERSION, updated_at=now)
                )

    def close(self) -> None:
        """Release every pooled connection; the store may be opened again."""
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
            self._layouts.clear()

    def ping(self) -> None:
        """Raise :class:`StoreError` when the database cannot be reached."""
        with self._tx("pinging the database") as conn:
            conn.execute(text("SELECT 1"))

    def schema_version(self) -> int:
        """The schema version recorded in the database."""
        with self._tx("reading the schema version") as conn:
            return int(conn.execute(select(T_VERSION.c.version)).scalar_one())

    # -- layouts -----------------------------------------------------------------------------------
    def _load_layout(self, conn: Connection, name: str) -> _Layout | None:
        row = conn.execute(select(T_MODELS).where(T_MODELS.c.name == name)).first()
        if row is None:
            return None
        cols = conn.execute(
            select(T_COLUMNS)
            .where(T_COLUMNS.c.model_id == row.id)
            .order_by(T_COLUMNS.c.role, T_COLUMNS.c.position)
        ).all()
        layout = _Layout.from_rows(row, cols)
        self._layouts[name] = layout
        return layout

    def _layout(self, conn: Connection, model: str, *, fresh: bool = False) -> _Layout:
        layout = None if fresh else self._layouts.get(model)
        if layout is None:
            layout = self._load_layout(conn, model)
        if layout is None:
            raise StoreError(f"model {model!r} is not registered in the store", transient=False)
        return layout

    def _column_type(self, kind: str) -> str:
        return self._dialect.column_type(kind)

    def _upsert(self, table: Table, values: dict[str, Any] | list[dict[str, Any]]) -> Any:
        insert = self._dialect.insert(table)
        keys = [c.name for c in table.primary_key.columns]
        sample = values[0] if isinstance(values, list) else values
        return insert.on_conflict_do_update(
            index_elements=keys,
            set_={k: insert.excluded[k] for k in sample if k not in keys},
        )
