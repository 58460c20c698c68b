"""The built-in ``sql`` store: SQLite by default, PostgreSQL when the URL says so.

The URL decides the database:

* ``sqlite:///path.db`` (the default) opens the file in WAL mode with ``synchronous=NORMAL``,
  a 30 s ``busy_timeout`` and foreign keys on. Write transactions start with
  ``BEGIN IMMEDIATE`` so that concurrent writers (threads or processes) queue on the busy
  timeout instead of failing on a stale snapshot. ``sqlite://`` is an in-memory database (one
  shared connection; for tests).
* ``postgresql://user:pass@host/db`` (or ``postgres://``) is rewritten to the psycopg 3 driver
  (``postgresql+psycopg://``); the pool pings connections so a dropped one is replaced. Add
  ``?options=-csearch_path%3Dmyschema`` to keep driftscope's tables in their own schema.

Physical layout (schema version :data:`SCHEMA_VERSION`). Every time column is a ``BIGINT``
holding **microseconds since the Unix epoch, UTC**: exact, compact, indexable and identical
on both databases. Datetimes go in and come out timezone-aware UTC (naive ones are read as
UTC).

``schema_version``
    one row ``(id=1, version)``; :meth:`SQLStore.open` refuses a database whose version is
    newer than this code knows.
``models``
    ``id`` (surrogate key), ``name`` (unique), ``task``, ``classes`` (JSON list of the class
    labels in probability order), ``table_name`` (``predictions_<id>``).
``model_columns``
    ``(model_id, role, name)`` → ``column_name``, ``kind``, ``position``: maps each feature
    (role ``feature``, columns ``f_0``, ``f_1``, …) and class (role ``class``, columns
    ``p_0``, ``p_1``, …) to a safe physical column, since feature names are arbitrary text.
``predictions_<id>``
    one table per model with typed columns: ``id TEXT PRIMARY KEY``, ``ts BIGINT`` (indexed),
    ``prediction`` and ``label`` (``TEXT`` for classifiers, ``DOUBLE PRECISION``/``REAL`` for
    regressors), ``labelled_at BIGINT``, ``latency_ms``, one ``DOUBLE``/``REAL`` column per
    class probability (``p_i``) and one column per feature (``f_i``: ``DOUBLE``/``REAL`` for
    numeric features, ``TEXT`` for categorical ones). New features and classes are added with
    ``ALTER TABLE ... ADD COLUMN``.
``reports``
    ``id``, ``monitor``, ``model``, ``created_at``, ``drifted``, ``status`` and ``body``
    (the report's ``to_dict()`` as JSON text).
``dead_letters`` (since version 2)
    prediction records the database refused for a reason other than an outage:
    ``id``, ``record_id``, ``model``, ``reason``, ``payload`` (the record as ASCII JSON, see
    :class:`core.DeadLetter`), ``created_at``, ``attempts``.
``alert_states``, ``alert_events``, ``outbox``, ``silences``, ``notifier_status``, ``leases``
    one row per :class:`core.AlertState` (key ``monitor, detector, feature``),
    :class:`core.AlertEvent`, :class:`core.OutboxMessage` (payload as JSON text),
    :class:`core.Silence`, :class:`core.NotifierStatus` and named lease.

Reading a window avoids building Python lists of rows: numeric columns are selected with
``NULL`` replaced by NaN (PostgreSQL) or by a sentinel value that is checked against the
window and turned into NaN (SQLite, which cannot hold NaN), and the cursor is consumed by
``numpy.fromiter`` into one structured array.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, cast, overload

import numpy as np
import psycopg
from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    Double,
    Engine,
    Index,
    MetaData,
    Table,
    Text,
    TypeDecorator,
    and_,
    create_engine,
    delete,
    event,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import registry
from sqlalchemy.pool import StaticPool
from sqlmodel import Field, SQLModel

from driftscope import (
    AlertEvent,
    AlertState,
    BinCounts,
    CategoryCounts,
    DeadLetter,
    FeatureSpec,
    Label,
    LabelUpdate,
    ModelSchema,
    NotifierStatus,
    OutboxMessage,
    PredictionRecord,
    PredictionStats,
    PruneResult,
    Report,
    Silence,
    Store,
    StoreError,
    StoreRecord,
    StoreSettings,
    WindowData,
    hookimpl,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
"""The version of the physical layout this code writes and understands."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# SQLite turns NaN into NULL, so numeric NULLs are read as this value and then checked.
_NULL_SENTINEL = -7.291122019556397e-304
_TERMINAL_STATUSES = ("sent", "failed", "muted", "given_up")
_COPY_MIN_ROWS = 5_000  # PostgreSQL windows at least this big are read through COPY
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


# -- time and value conversion ---------------------------------------------------------------------
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


# -- the fixed tables (SQLModel, on a private registry so they never mix with other tables) --------
_registry = registry(metadata=MetaData())


class _StoreTable(SQLModel, registry=_registry):
    """Base of the store's fixed tables."""


def _time(nullable: bool = True) -> Any:
    return Field(default=None, sa_type=UTCMicros, nullable=nullable)


class SchemaVersionRow(_StoreTable, table=True):
    """The schema version of the database (one row, ``id = 1``)."""

    __tablename__ = "schema_version"
    id: int = Field(default=1, primary_key=True)
    version: int
    updated_at: datetime | None = _time()


class ModelRow(_StoreTable, table=True):
    """A registered model: its task, classes and prediction table."""

    __tablename__ = "models"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=Text, unique=True)
    task: str = Field(sa_type=Text)
    classes: str | None = Field(default=None, sa_type=Text)
    table_name: str = Field(default="", sa_type=Text)
    created_at: datetime | None = _time()
    updated_at: datetime | None = _time()


class ModelColumnRow(_StoreTable, table=True):
    """Maps a model's feature or class to its physical column in the prediction table."""

    __tablename__ = "model_columns"
    model_id: int = Field(foreign_key="models.id", ondelete="CASCADE", primary_key=True)
    role: str = Field(sa_type=Text, primary_key=True)
    name: str = Field(sa_type=Text, primary_key=True)
    kind: str = Field(sa_type=Text)
    column_name: str = Field(sa_type=Text)
    position: int


class ReportRow(_StoreTable, table=True):
    """A saved monitor report; ``body`` is its ``to_dict()`` as JSON text."""

    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_monitor_created", "monitor", "created_at"),)
    id: str = Field(sa_type=Text, primary_key=True)
    monitor: str = Field(sa_type=Text)
    model: str = Field(sa_type=Text)
    created_at: datetime = Field(sa_type=UTCMicros, index=True)
    drifted: bool = Field(sa_type=Boolean)
    status: str = Field(sa_type=Text)
    body: str = Field(sa_type=Text)


class AlertStateRow(_StoreTable, table=True):
    """The current alert state of one (monitor, detector, feature) key."""

    __tablename__ = "alert_states"
    monitor: str = Field(sa_type=Text, primary_key=True)
    detector: str = Field(sa_type=Text, primary_key=True)
    feature: str = Field(sa_type=Text, primary_key=True)
    state: str = Field(sa_type=Text, index=True)
    consecutive_drifted: int = 0
    consecutive_clean: int = 0
    changed_at: datetime | None = _time()
    last_notified_at: datetime | None = _time()
    statistic: float | None = Field(default=None, sa_type=Double)
    threshold: float | None = Field(default=None, sa_type=Double)
    report_id: str | None = Field(default=None, sa_type=Text)


class AlertEventRow(_StoreTable, table=True):
    """One recorded change of an alert key's state."""

    __tablename__ = "alert_events"
    __table_args__ = (Index("ix_alert_events_monitor_at", "monitor", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    monitor: str = Field(sa_type=Text)
    detector: str = Field(sa_type=Text)
    feature: str = Field(sa_type=Text)
    from_state: str = Field(sa_type=Text)
    to_state: str = Field(sa_type=Text)
    at: datetime = Field(sa_type=UTCMicros, index=True)
    statistic: float | None = Field(default=None, sa_type=Double)
    threshold: float | None = Field(default=None, sa_type=Double)
    report_id: str | None = Field(default=None, sa_type=Text)
    silenced: bool = Field(default=False, sa_type=Boolean)


class OutboxRow(_StoreTable, table=True):
    """A notification waiting for (or done with) delivery."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)
    id: str = Field(sa_type=Text, primary_key=True)
    notifier: str = Field(sa_type=Text)
    monitor: str = Field(sa_type=Text)
    payload: str = Field(sa_type=Text)
    created_at: datetime = Field(sa_type=UTCMicros, index=True)
    status: str = Field(sa_type=Text)
    attempts: int = 0
    next_attempt_at: datetime | None = _time()
    last_error: str | None = Field(default=None, sa_type=Text)
    sent_at: datetime | None = _time()
    external_id: str | None = Field(default=None, sa_type=Text)


class SilenceRow(_StoreTable, table=True):
    """A silence that mutes matching alert changes for a while."""

    __tablename__ = "silences"
    id: str = Field(sa_type=Text, primary_key=True)
    monitor: str = Field(sa_type=Text, index=True)
    feature: str | None = Field(default=None, sa_type=Text)
    detector: str | None = Field(default=None, sa_type=Text)
    starts_at: datetime = Field(sa_type=UTCMicros)
    ends_at: datetime = Field(sa_type=UTCMicros)
    reason: str = Field(sa_type=Text)
    created_by: str | None = Field(default=None, sa_type=Text)


class NotifierStatusRow(_StoreTable, table=True):
    """Whether a notifier is usable."""

    __tablename__ = "notifier_status"
    name: str = Field(sa_type=Text, primary_key=True)
    config_hash: str = Field(sa_type=Text)
    disabled: bool = Field(default=False, sa_type=Boolean)
    reason: str | None = Field(default=None, sa_type=Text)
    changed_at: datetime | None = _time()


class LeaseRow(_StoreTable, table=True):
    """A named lease held by one owner until ``expires_at``."""

    __tablename__ = "leases"
    name: str = Field(sa_type=Text, primary_key=True)
    owner: str = Field(sa_type=Text)
    expires_at: datetime = Field(sa_type=UTCMicros)


class DeadLetterRow(_StoreTable, table=True):
    """A prediction record the database refused, kept with the reason (schema version 2)."""

    __tablename__ = "dead_letters"
    id: int | None = Field(default=None, primary_key=True)
    record_id: str = Field(sa_type=Text)
    model: str = Field(sa_type=Text, index=True)
    reason: str = Field(sa_type=Text)
    payload: str = Field(sa_type=Text)
    created_at: datetime = Field(sa_type=UTCMicros, index=True)
    attempts: int = 1


def _table(model: type[SQLModel]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


T_VERSION = _table(SchemaVersionRow)
T_MODELS = _table(ModelRow)
T_COLUMNS = _table(ModelColumnRow)
T_REPORTS = _table(ReportRow)
T_STATES = _table(AlertStateRow)
T_EVENTS = _table(AlertEventRow)
T_OUTBOX = _table(OutboxRow)
T_SILENCES = _table(SilenceRow)
T_NOTIFIERS = _table(NotifierStatusRow)
T_LEASES = _table(LeaseRow)
T_DEAD = _table(DeadLetterRow)

# PostgreSQL error classes worth retrying: connection exceptions, transaction rollbacks
# (serialisation, deadlock), insufficient resources, operator intervention (admin shutdown,
# terminated backend), system errors, and a lock not available.
_PG_TRANSIENT_CLASSES = ("08", "40", "53", "57", "58")
_PG_TRANSIENT_STATES = ("55P03",)
# sqlite3.OperationalError covers both outages (locked, I/O) and mistakes (no such table);
# only the former are retried.
_SQLITE_TRANSIENT_WORDS = ("locked", "busy", "disk i/o", "unable to open", "readonly", "full")


def is_transient(exc: BaseException) -> bool:
    """Whether a database error may go away on retry (an outage), as opposed to one the data
    itself causes, which would fail again forever."""
    if isinstance(exc, DisconnectionError | PoolTimeout):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    orig = getattr(exc, "orig", None) or exc
    if isinstance(orig, psycopg.Error):
        state = orig.sqlstate
        if state is None:  # raised by the client: a lost or closed connection, or bad data
            return isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError)
        return state[:2] in _PG_TRANSIENT_CLASSES or state in _PG_TRANSIENT_STATES
    if isinstance(orig, sqlite3.OperationalError):
        message = str(orig).lower()
        return any(word in message for word in _SQLITE_TRANSIENT_WORDS)
    return isinstance(orig, ConnectionError | TimeoutError)


# -- per-model layout ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Layout:
    """Where one model's predictions live: its table and the column of each feature/class."""

    model_id: int
    name: str
    table: str
    task: str
    classes: tuple[str, ...]  # current probability order
    class_columns: dict[str, str]  # every class ever registered -> p_i
    features: dict[str, tuple[str, str]]  # feature name -> (column, kind), registration order

    @property
    def numeric(self) -> list[tuple[str, str]]:
        return [(n, c) for n, (c, k) in self.features.items() if k == "numeric"]

    @property
    def categorical(self) -> list[tuple[str, str]]:
        return [(n, c) for n, (c, k) in self.features.items() if k == "categorical"]

    @property
    def regression(self) -> bool:
        return self.task == "regression"


class SQLStore(Store):
    """driftscope's SQL store: SQLite (default, WAL) or PostgreSQL, chosen by the URL."""

    Settings: ClassVar[type[StoreSettings]] = StoreSettings

    def __init__(self, settings: StoreSettings | None = None) -> None:
        super().__init__(settings or StoreSettings())
        self._url, self._password = self._parse_url(self.settings.url.get_secret_value())
        self._engine: Engine | None = None
        self._layouts: dict[str, _Layout] = {}
        self._lock = threading.RLock()
        self._serialise = False  # in-memory SQLite shares one connection between threads

    # -- URL and errors ------------------------------------------------------------------------
    @staticmethod
    def _parse_url(raw: str) -> tuple[URL, str | None]:
        try:
            url = make_url(raw)
        except (ArgumentError, ValueError):
            raise StoreError(
                "invalid store URL: expected sqlite:///path.db or postgresql://user@host/db"
            ) from None
        backend = url.drivername.split("+", 1)[0]
        if backend == "sqlite":
            url = url.set(drivername="sqlite+pysqlite")
        elif backend in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        else:
            raise StoreError(
                f"unsupported store URL scheme {backend!r}: use sqlite:/// or postgresql://"
            )
        return url, url.password if isinstance(url.password, str) and url.password else None

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return "sqlite" if self._url.drivername.startswith("sqlite") else "postgresql"

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
            transient=is_transient(exc),
        )

    # -- engine and transactions -------------------------------------------------------------------
    def _require_engine(self) -> Engine:
        engine = self._engine
        if engine is None:
            raise StoreError("the store is not open; call open() first", transient=True)
        return engine

    def _make_engine(self) -> Engine:
        if self.dialect == "postgresql":
            return create_engine(
                self._url, pool_pre_ping=True, pool_size=5, max_overflow=10, future=True
            )
        database = self._url.database or ""
        memory = database in ("", ":memory:") or "mode=memory" in str(self._url.query)
        kwargs: dict[str, Any] = {
            "connect_args": {"check_same_thread": False, "timeout": 30},
        }
        if memory:
            kwargs["poolclass"] = StaticPool
            self._serialise = True
        else:
            kwargs.update(pool_size=8, max_overflow=16)
        engine = create_engine(self._url, **kwargs)

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
                if snapshot and self.dialect == "postgresql":
                    conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    yield conn
        except StoreError:
            raise
        except (SQLAlchemyError, sqlite3.Error, psycopg.Error) as exc:
            raise self._error(what, exc) from None
        except (UnicodeError, OverflowError) as exc:
            # a value the driver cannot encode (a lone surrogate, an integer past 64 bits)
            raise StoreError(
                self._scrub(f"{what} failed: a value cannot be stored: {exc}"[:600]),
                transient=False,
            ) from None

    def _ph(self) -> str:
        return "?" if self.dialect == "sqlite" else "%s"

    # -- lifecycle ---------------------------------------------------------------------------------
    def open(self) -> None:
        """Connect, create the schema if missing and check its version (idempotent)."""
        with self._lock:
            if self._engine is not None:
                return
            try:
                self._engine = self._make_engine()
            except (SQLAlchemyError, ImportError) as exc:
                raise self._error("opening the store", exc) from None
            try:
                self._create_schema()
            except BaseException:
                self._engine.dispose()
                self._engine = None
                raise
            log.info("store open: %s", self.safe_url)

    def _create_schema(self) -> None:
        with self._tx("creating the schema", write=True) as conn:
            if self.dialect == "postgresql":
                conn.execute(
                    text(
                        "SELECT pg_advisory_xact_lock(hashtext('driftscope:' || current_schema()))"
                    )
                )
            T_VERSION.create(conn, checkfirst=True)
            found = conn.execute(select(T_VERSION.c.version).where(T_VERSION.c.id == 1)).first()
            if found is not None and found.version > SCHEMA_VERSION:
                raise StoreError(
                    f"the database schema is version {found.version}, newer than this "
                    f"driftscope understands (version {SCHEMA_VERSION}); upgrade driftscope "
                    "or point the store at another database"
                )
            _registry.metadata.create_all(conn, checkfirst=True)
            now = datetime.now(UTC)
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

    # -- models ------------------------------------------------------------------------------------
    def _load_layout(self, conn: Connection, name: str) -> _Layout | None:
        row = conn.execute(select(T_MODELS).where(T_MODELS.c.name == name)).first()
        if row is None:
            return None
        cols = conn.execute(
            select(T_COLUMNS)
            .where(T_COLUMNS.c.model_id == row.id)
            .order_by(T_COLUMNS.c.role, T_COLUMNS.c.position)
        ).all()
        features = {c.name: (c.column_name, c.kind) for c in cols if c.role == "feature"}
        class_columns = {c.name: c.column_name for c in cols if c.role == "class"}
        layout = _Layout(
            model_id=row.id,
            name=row.name,
            table=row.table_name,
            task=row.task,
            classes=tuple(json.loads(row.classes)) if row.classes else (),
            class_columns=class_columns,
            features=features,
        )
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
        if kind in ("categorical", "text"):
            return "TEXT"
        if kind == "int":
            return "BIGINT" if self.dialect == "postgresql" else "INTEGER"
        return "DOUBLE PRECISION" if self.dialect == "postgresql" else "REAL"

    def register_model(self, schema: ModelSchema) -> None:
        """Create (or widen) a model's prediction table; idempotent."""
        _check_schema(schema)
        with self._tx(f"registering model {schema.name!r}", write=True) as conn:
            if self.dialect == "postgresql":
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                    {"k": f"driftscope-model:{schema.name}"},
                )
            layout = self._load_layout(conn, schema.name)
            now = datetime.now(UTC)
            if layout is None:
                model_id = conn.execute(
                    T_MODELS.insert()
                    .values(
                        name=schema.name,
                        task=schema.task,
                        classes=json.dumps(list(schema.classes or ())),
                        table_name="",
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(T_MODELS.c.id)
                ).scalar_one()
                table = f"predictions_{int(model_id)}"
                conn.execute(
                    update(T_MODELS).where(T_MODELS.c.id == model_id).values(table_name=table)
                )
                label_type = self._column_type("numeric" if schema.task == "regression" else "text")
                int_type = self._column_type("int")
                conn.exec_driver_sql(
                    f"CREATE TABLE {table} (id TEXT PRIMARY KEY, ts {int_type} NOT NULL, "
                    f"prediction {label_type}, label {label_type}, labelled_at {int_type}, "
                    f"latency_ms {self._column_type('numeric')})"
                )
                conn.exec_driver_sql(f"CREATE INDEX ix_{table}_ts ON {table} (ts)")
                layout = _Layout(model_id, schema.name, table, schema.task, (), {}, {})
            elif layout.task != schema.task:
                raise StoreError(
                    f"model {schema.name!r} is registered as {layout.task}, not {schema.task}; "
                    "use a new model name for a model of another task"
                )
            self._add_columns(conn, layout, schema)
            classes = list(schema.classes) if schema.classes is not None else list(layout.classes)
            conn.execute(
                update(T_MODELS)
                .where(T_MODELS.c.id == layout.model_id)
                .values(classes=json.dumps(classes), updated_at=now)
            )
            self._layouts.pop(schema.name, None)
            self._load_layout(conn, schema.name)

    def _add_columns(self, conn: Connection, layout: _Layout, schema: ModelSchema) -> None:
        new_rows: list[dict[str, Any]] = []
        position = len(layout.features)
        for spec in schema.features:
            known = layout.features.get(spec.name)
            if known is not None:
                if known[1] != spec.kind:
                    raise StoreError(
                        f"feature {spec.name!r} of model {schema.name!r} is stored as "
                        f"{known[1]}, not {spec.kind}; rename the feature to change its kind"
                    )
                continue
            column = f"f_{position}"
            conn.exec_driver_sql(
                f"ALTER TABLE {layout.table} ADD COLUMN {column} {self._column_type(spec.kind)}"
            )
            new_rows.append(
                {
                    "model_id": layout.model_id,
                    "role": "feature",
                    "name": spec.name,
                    "kind": spec.kind,
                    "column_name": column,
                    "position": position,
                }
            )
            position += 1
        position = len(layout.class_columns)
        for cls in schema.classes or ():
            if cls in layout.class_columns:
                continue
            column = f"p_{position}"
            conn.exec_driver_sql(
                f"ALTER TABLE {layout.table} ADD COLUMN {column} {self._column_type('numeric')}"
            )
            new_rows.append(
                {
                    "model_id": layout.model_id,
                    "role": "class",
                    "name": cls,
                    "kind": "numeric",
                    "column_name": column,
                    "position": position,
                }
            )
            position += 1
        if new_rows:
            conn.execute(T_COLUMNS.insert(), new_rows)

    def get_model_schema(self, model: str) -> ModelSchema | None:
        """The schema the store knows for a model (every feature ever registered), or None."""
        with self._tx("reading a model") as conn:
            layout = self._load_layout(conn, model)
        if layout is None:
            return None
        return ModelSchema(
            name=layout.name,
            features=tuple(FeatureSpec(n, k) for n, (_c, k) in layout.features.items()),  # type: ignore[arg-type]
            task=layout.task,  # type: ignore[arg-type]
            classes=layout.classes or None,
        )

    # -- predictions -------------------------------------------------------------------------------
    def write_predictions(self, records: Sequence[PredictionRecord]) -> int:
        """Insert a batch (any mix of models) in one transaction; returns rows written.

        A record whose id is already stored is skipped (so a retried batch is harmless).
        """
        if not records:
            return 0
        groups: dict[str, list[PredictionRecord]] = {}
        for record in records:
            groups.setdefault(record.model, []).append(record)
        written = 0
        with self._tx("writing predictions", write=True) as conn:
            raw = conn.connection.driver_connection
            for model, group in groups.items():
                layout = self._layout(conn, model)
                try:
                    columns, rows = self._prediction_rows(layout, group, fresh=False)
                except _StaleLayout:
                    layout = self._layout(conn, model, fresh=True)
                    columns, rows = self._prediction_rows(layout, group, fresh=True)
                cursor = raw.cursor()  # type: ignore[union-attr]
                try:
                    if self.dialect == "sqlite":
                        limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)  # type: ignore[union-attr]
                        written += self._insert_sqlite(cursor, layout.table, columns, rows, limit)
                    else:
                        # psycopg pipelines executemany; COPY through a staging table (needed
                        # to skip known ids) measured no faster for batches of 1,000.
                        cursor.executemany(
                            f"INSERT INTO {layout.table} ({', '.join(columns)}) "
                            f"VALUES ({', '.join(['%s'] * len(columns))}) "
                            "ON CONFLICT (id) DO NOTHING",
                            rows,
                        )
                        written += max(cursor.rowcount, 0)
                finally:
                    cursor.close()
        return written

    @staticmethod
    def _insert_sqlite(
        cursor: Any, table: str, columns: list[str], rows: Sequence[Sequence[Any]], limit: int
    ) -> int:
        """Insert rows with multi-row ``INSERT`` statements instead of ``executemany``.

        sqlite3's executemany releases and retakes the GIL around every row; in a serving
        process whose event loop holds the GIL, each retake waits for a switch interval, so a
        batch of a few dozen rows took milliseconds of convoy. One statement per chunk (up to
        the connection's parameter ``limit``) hands the GIL over once per chunk. Chunk sizes
        come from :func:`insert_chunks`, so the statements sqlite3 caches stay few and small.
        """
        per_row = f"({', '.join(['?'] * len(columns))})"
        most = min(INSERT_CHUNK_ROWS, max(1, limit // len(columns)))
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        written = 0
        start = 0
        for size in insert_chunks(len(rows), most):
            part = rows[start : start + size]
            start += size
            params = [value for row in part for value in row]
            cursor.execute(
                head + ", ".join([per_row] * size) + " ON CONFLICT (id) DO NOTHING", params
            )
            written += max(cursor.rowcount, 0)
        return written

    def _prediction_rows(
        self, layout: _Layout, records: Sequence[PredictionRecord], *, fresh: bool
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        numeric = layout.numeric
        categorical = layout.categorical
        num_names = [n for n, _ in numeric]
        cat_names = [n for n, _ in categorical]
        known = set(layout.features)
        class_names = list(layout.class_columns)
        class_set = set(class_names)
        as_label: Any = _number if layout.regression else _class_text
        columns = ["id", "ts", "prediction", "label", "labelled_at", "latency_ms"]
        columns += [layout.class_columns[c] for c in class_names]
        columns += [c for _, c in numeric] + [c for _, c in categorical]
        now = to_micros(datetime.now(UTC))
        empty: tuple[Any, ...] = (None,) * len(class_names)
        rows: list[tuple[Any, ...]] = []
        for rec in records:
            feats = rec.features
            if not known.issuperset(feats):
                self._unknown(layout, "feature", set(feats) - known, rec.id, fresh)
            probs = rec.probabilities
            if probs:
                if not class_set.issuperset(probs):
                    probs = {str(k): v for k, v in probs.items()}
                    if not class_set.issuperset(probs):
                        self._unknown(layout, "class", set(probs) - class_set, rec.id, fresh)
                prob_values = tuple([_number(probs.get(c)) for c in class_names])
            else:
                prob_values = empty
            try:
                values = [feats.get(n) for n in num_names]
                numbers: list[float | None]
                if None in values:
                    numbers = [None if v is None else float(v) for v in values]
                else:  # the common case, kept to one C-level map(float): no None in values
                    numbers = list(map(float, cast(list[float | str], values)))
                label = as_label(rec.label)
                rows.append(
                    (
                        rec.id,
                        to_micros(rec.timestamp),
                        as_label(rec.prediction),
                        label,
                        None if label is None else now,
                        _number(rec.latency_ms),
                        *prob_values,
                        *numbers,
                        *[_category(feats.get(n)) for n in cat_names],
                    )
                )
            except (TypeError, ValueError) as exc:
                raise StoreError(
                    f"prediction {rec.id!r} of model {layout.name!r} has a value that does "
                    f"not fit its column: {exc}",
                    transient=False,
                ) from None
        return columns, rows

    @staticmethod
    def _unknown(
        layout: _Layout, what: str, names: Iterable[Any], record_id: str, fresh: bool
    ) -> None:
        if not fresh:  # another process may have widened the model: reload once
            raise _StaleLayout
        raise StoreError(
            f"prediction {record_id!r} names unknown {what}(s) "
            f"{sorted(map(str, names))} of model {layout.name!r}; register the model again "
            f"with its new {what}s first",
            transient=False,
        )

    def attach_labels(self, model: str, labels: Sequence[tuple[str, Label]]) -> LabelUpdate:
        """Set labels by prediction id in one transaction; relabelled ids count as updated."""
        if not labels:
            return LabelUpdate(updated=0, unknown_ids=[])
        with self._tx(f"attaching labels to {model!r}", write=True) as conn:
            layout = self._layout(conn, model, fresh=True)
            as_label: Any = _number if layout.regression else _class_text
            try:
                latest = {str(i): as_label(v) for i, v in labels}
            except (TypeError, ValueError) as exc:
                raise StoreError(f"a label for model {model!r} is not valid: {exc}") from None
            kind = "numeric" if layout.regression else "text"
            temp = f"ds_labels_{kind}"
            ph = self._ph()
            prefix = "temp." if self.dialect == "sqlite" else ""
            suffix = " ON COMMIT DELETE ROWS" if self.dialect == "postgresql" else ""
            conn.exec_driver_sql(
                f"CREATE TEMP TABLE IF NOT EXISTS {temp} "
                f"(id TEXT PRIMARY KEY, label {self._column_type(kind)}){suffix}"
            )
            conn.exec_driver_sql(f"DELETE FROM {prefix}{temp}")
            raw = conn.connection.driver_connection
            cursor = raw.cursor()  # type: ignore[union-attr]
            try:
                cursor.executemany(
                    f"INSERT INTO {prefix}{temp} (id, label) VALUES ({ph}, {ph})",
                    list(latest.items()),
                )
                cursor.execute(
                    f"UPDATE {layout.table} SET label = l.label, labelled_at = {ph} "
                    f"FROM {prefix}{temp} AS l WHERE {layout.table}.id = l.id",
                    (to_micros(datetime.now(UTC)),),
                )
                updated = max(cursor.rowcount, 0)
                cursor.execute(
                    f"SELECT l.id FROM {prefix}{temp} AS l LEFT JOIN {layout.table} AS p "
                    "ON p.id = l.id WHERE p.id IS NULL"
                )
                missing = {row[0] for row in cursor.fetchall()}
                cursor.execute(f"DELETE FROM {prefix}{temp}")
            finally:
                cursor.close()
        return LabelUpdate(updated=updated, unknown_ids=[i for i in latest if i in missing])

    def read_window(
        self, model: str, start: datetime, end: datetime, *, max_rows: int | None = None
    ) -> WindowData:
        """Read ``start <= timestamp < end`` column by column into numpy arrays."""
        lo, hi = to_micros(start), to_micros(end)
        start, end = from_micros(lo), from_micros(hi)
        with self._tx(f"reading a window of {model!r}", snapshot=True) as conn:
            layout = self._layout(conn, model, fresh=True)
            total = conn.exec_driver_sql(
                f"SELECT count(*) FROM {layout.table} WHERE ts >= {self._ph()} AND ts < "
                f"{self._ph()}",
                (lo, hi),
            ).scalar_one()
            sample = max_rows is not None and total > max_rows
            rows = min(total, max_rows) if sample and max_rows is not None else total
            data = self._fetch_window(
                conn, layout, lo, hi, rows, max_rows if sample else None, total=total
            )
        columns: dict[str, np.ndarray] = {}
        for name, (column, _kind) in layout.features.items():
            columns[name] = data[column]
        probabilities = None
        if layout.classes:
            probabilities = np.empty((rows, len(layout.classes)), dtype=np.float64)
            for j, cls in enumerate(layout.classes):
                probabilities[:, j] = data[layout.class_columns[cls]]
        return WindowData(
            start=start,
            end=end,
            columns=columns,
            prediction=data["prediction"],
            labels=data["label"],
            probabilities=probabilities,
            sampled_from=total if sample else None,
        )

    def _window_fields(self, layout: _Layout) -> list[tuple[str, bool]]:
        """(column, is_numeric) in select order."""
        fields = [("prediction", layout.regression), ("label", layout.regression)]
        fields += [(layout.class_columns[c], True) for c in layout.classes]
        fields += [(column, kind == "numeric") for column, kind in layout.features.values()]
        return fields

    def _fetch_window(
        self,
        conn: Connection,
        layout: _Layout,
        lo: int,
        hi: int,
        rows: int,
        sample: int | None,
        *,
        total: int = 0,
        prefilter: bool = True,
    ) -> dict[str, np.ndarray]:
        """Read the window's rows, or a uniform sample of ``sample`` of its ``total`` rows.

        The sample is drawn over the keys: each row is first kept with probability
        :func:`prefilter_probability` (``random() < p``), and only those ~1.3 n keys are
        sorted by ``random()`` to take ``n``. Every n-subset of the survivors is equally
        likely, so the sample is uniform; in the rare case fewer than ``n`` rows survive, it
        is drawn again over all keys (``prefilter=False``), which is uniform too.
        """
        fields = self._window_fields(layout)
        sqlite = self.dialect == "sqlite"
        if not sqlite and sample is None and rows >= _COPY_MIN_ROWS:
            return self._fetch_window_copy(conn, layout, lo, hi, rows)
        null = ":s" if sqlite else "'NaN'::float8"
        exprs = [f"COALESCE({c}, {null})" if numeric else c for c, numeric in fields]
        where = "ts >= :lo AND ts < :hi" if sqlite else "ts >= %(lo)s AND ts < %(hi)s"
        limit = ":n" if sqlite else "%(n)s"
        params: dict[str, Any] = {"lo": lo, "hi": hi, "n": sample, "s": _NULL_SENTINEL}
        if sample is None:
            sql = f"SELECT {', '.join(exprs)} FROM {layout.table} WHERE {where} ORDER BY ts"
        else:
            # draw the sample over the keys only, so the random sort carries no row data
            key = "rowid" if sqlite else "id"
            p = prefilter_probability(sample, total) if prefilter else 1.0
            if p < 1.0:  # SQLite's random() is a uniform 64-bit integer, PostgreSQL's in [0, 1)
                where += " AND random() < " + (":p" if sqlite else "%(p)s")
                params["p"] = int(-(2**63) + p * 2**64) if sqlite else p
            sql = (
                f"SELECT {', '.join(exprs)} FROM {layout.table} WHERE {key} IN (SELECT {key} "
                f"FROM {layout.table} WHERE {where} ORDER BY random() LIMIT {limit}) ORDER BY ts"
            )
        dtype = np.dtype([(c, np.float64 if numeric else object) for c, numeric in fields])
        raw = conn.connection.driver_connection
        cursor = raw.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, params)
            array = np.fromiter(cursor, dtype=dtype, count=-1 if "p" in params else rows)
        finally:
            cursor.close()
        if array.size < rows:  # the pre-filter kept fewer than n rows: draw over all keys
            return self._fetch_window(conn, layout, lo, hi, rows, sample, prefilter=False)
        out = {c: array[c].copy() for c, _numeric in fields}
        if sqlite:
            suspects = [c for c, numeric in fields if numeric and (out[c] == _NULL_SENTINEL).any()]
            if suspects:
                real = conn.exec_driver_sql(
                    f"SELECT count(*) FROM {layout.table} WHERE ts >= ? AND ts < ? AND ("
                    + " OR ".join(f"{c} = ?" for c in suspects)
                    + ")",
                    (lo, hi, *[_NULL_SENTINEL] * len(suspects)),
                ).scalar_one()
                if real:  # a stored value equals the sentinel: read those columns exactly
                    return self._fetch_exact(conn, layout, lo, hi, rows, sample)
                for c in suspects:
                    out[c][out[c] == _NULL_SENTINEL] = np.nan
        return out

    def _fetch_window_copy(
        self, conn: Connection, layout: _Layout, lo: int, hi: int, rows: int
    ) -> dict[str, np.ndarray]:
        """PostgreSQL, large unsampled windows: numeric columns through ``COPY ... (FORMAT
        BINARY)`` parsed by numpy in one go (NULL → NaN in the query, so every field is a
        fixed-width float8), text columns through an ordinary query. Both run in the caller's
        REPEATABLE READ transaction and order by ``(ts, id)``, so their rows line up."""
        fields = self._window_fields(layout)
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
                    f"COPY (SELECT {exprs} FROM {layout.table} WHERE {where} ORDER BY ts, id) "
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
                    f"SELECT {', '.join(texts)} FROM {layout.table} WHERE {where} ORDER BY ts, id"
                )
                objects = np.fromiter(cursor, dtype=[(c, object) for c in texts], count=rows)
                for c in texts:
                    out[c] = objects[c].copy()
        finally:
            cursor.close()
        return out

    def _fetch_exact(
        self,
        conn: Connection,
        layout: _Layout,
        lo: int,
        hi: int,
        rows: int,
        sample: int | None,
    ) -> dict[str, np.ndarray]:
        fields = self._window_fields(layout)
        names = ", ".join(c for c, _ in fields)
        if sample is None:
            sql = f"SELECT {names} FROM {layout.table} WHERE ts >= ? AND ts < ? ORDER BY ts"
            params: tuple[Any, ...] = (lo, hi)
        else:
            sql = (
                f"SELECT {names} FROM {layout.table} WHERE rowid IN (SELECT rowid FROM "
                f"{layout.table} WHERE ts >= ? AND ts < ? ORDER BY random() LIMIT ?) ORDER BY ts"
            )
            params = (lo, hi, sample)
        result = conn.exec_driver_sql(sql, params)
        array = np.fromiter(
            (tuple(r) for r in result), dtype=[(c, object) for c, _ in fields], count=rows
        )
        return {
            c: array[c].astype(np.float64) if numeric else array[c].copy() for c, numeric in fields
        }

    def _feature_column(self, layout: _Layout, feature: str, kind: str) -> str:
        found = layout.features.get(feature)
        if found is None:
            raise StoreError(f"model {layout.name!r} has no feature {feature!r}")
        column, actual = found
        if actual != kind:
            raise StoreError(
                f"feature {feature!r} of model {layout.name!r} is {actual}, not {kind}"
            )
        return column

    def bin_counts(
        self,
        model: str,
        feature: str,
        edges: Sequence[float] | np.ndarray,
        start: datetime,
        end: datetime,
    ) -> BinCounts:
        """Count a numeric feature into right-closed bins with one ``GROUP BY`` in the database.

        PostgreSQL finds each value's bin with ``width_bucket`` (a binary search in C): the
        right-closed bin of ``v`` among ``k`` edges is ``k - width_bucket(-v, reversed(-edges))``.
        SQLite sums the comparisons ``(v > e_i)``. Missing values (NULL, NaN) and infinities
        get groups of their own. Only ``k + 3`` numbers leave the database.
        """
        inner = _inner_edges(edges)
        k = int(inner.size)
        with self._tx(f"counting bins of {model!r}.{feature!r}") as conn:
            layout = self._layout(conn, model, fresh=True)
            c = self._feature_column(layout, feature, "numeric")
            if self.dialect == "postgresql":
                bucket = f"{k} - width_bucket(-{c}, %(edges)s::float8[])" if k else "0"
                sql = (
                    f"SELECT CASE WHEN {c} IS NULL OR {c} = 'NaN'::float8 THEN -1 "
                    f"WHEN {c} IN ('Infinity'::float8, '-Infinity'::float8) THEN -2 "
                    f"ELSE {bucket} END AS bin, count(*) FROM {layout.table} "
                    "WHERE ts >= %(lo)s AND ts < %(hi)s GROUP BY 1"
                )
                params: Any = {
                    "edges": [float(-e) for e in inner[::-1]],
                    "lo": to_micros(start),
                    "hi": to_micros(end),
                }
            else:
                bucket = " + ".join(f"({c} > ?)" for _ in range(k)) or "0"
                sql = (
                    f"SELECT CASE WHEN {c} IS NULL THEN -1 WHEN abs({c}) = 9e999 THEN -2 "
                    f"ELSE {bucket} END AS bin, count(*) FROM {layout.table} "
                    "WHERE ts >= ? AND ts < ? GROUP BY 1"
                )
                params = (*(float(e) for e in inner), to_micros(start), to_micros(end))
            found = conn.exec_driver_sql(sql, params).all()
        counts = np.zeros(k + 1, dtype=np.int64)
        missing = infinite = 0
        for bin_, n in found:
            if bin_ == -1:
                missing = int(n)
            elif bin_ == -2:
                infinite = int(n)
            else:
                counts[int(bin_)] = int(n)
        return BinCounts(counts, missing, infinite)

    def category_counts(
        self, model: str, feature: str, start: datetime, end: datetime
    ) -> CategoryCounts:
        """Count each category of a feature with one ``GROUP BY`` in the database."""
        with self._tx(f"counting categories of {model!r}.{feature!r}") as conn:
            layout = self._layout(conn, model, fresh=True)
            c = self._feature_column(layout, feature, "categorical")
            ph = self._ph()
            found = conn.exec_driver_sql(
                f"SELECT {c}, count(*) FROM {layout.table} WHERE ts >= {ph} AND ts < {ph} "
                f"GROUP BY {c}",
                (to_micros(start), to_micros(end)),
            ).all()
        counts = {str(value): int(n) for value, n in found if value is not None}
        missing = sum(int(n) for value, n in found if value is None)
        return CategoryCounts(counts, missing)

    def bin_counts_many(
        self,
        model: str,
        edges: Mapping[str, Sequence[float] | np.ndarray],
        start: datetime,
        end: datetime,
    ) -> dict[str, BinCounts]:
        """Count several numeric features into their bins in ONE scan of the window.

        One ``SELECT`` of plain aggregates: per feature ``count(v)``, the NaN and ``±inf``
        counts, and for each edge ``e`` the cumulative ``count(*) FILTER (WHERE v <= e)``
        (``sum(v <= e)`` on SQLite); the bins are the differences. At 3,000,000 rows x 20
        features x 9 edges on PostgreSQL 15 this took 3.6 s, against 10.8 s for 20
        ``width_bucket`` ``GROUP BY`` scans and 16.2 s for one ``GROUPING SETS`` query.
        """
        inner = {name: _inner_edges(e) for name, e in edges.items()}
        if not inner:
            return {}
        sqlite = self.dialect == "sqlite"
        ph = self._ph()
        with self._tx(f"counting bins of {model!r}") as conn:
            layout = self._layout(conn, model, fresh=True)
            aggregates, params = ["count(*)"], []
            for name, e in inner.items():
                c = self._feature_column(layout, name, "numeric")
                if sqlite:  # SQLite stores NaN as NULL
                    aggregates += [f"count({c})", "0", f"sum({c} = -9e999)", f"sum({c} = 9e999)"]
                    aggregates += [f"sum({c} <= ?)"] * e.size
                else:
                    aggregates += [f"count({c})"] + [
                        f"count(*) FILTER (WHERE {c} = '{v}'::float8)"
                        for v in ("NaN", "-Infinity", "Infinity")
                    ]
                    aggregates += [f"count(*) FILTER (WHERE {c} <= %s)"] * e.size
                params += [float(v) for v in e]
            row = conn.exec_driver_sql(
                f"SELECT {', '.join(aggregates)} FROM {layout.table} "
                f"WHERE ts >= {ph} AND ts < {ph}",
                (*params, to_micros(start), to_micros(end)),
            ).one()
        values = [int(v or 0) for v in row]
        rows, at, out = values[0], 1, {}
        for name, e in inner.items():
            present, nan, neg_inf, pos_inf = values[at : at + 4]
            at_or_below = np.array(values[at + 4 : at + 4 + e.size], dtype=np.int64) - neg_inf
            at += 4 + e.size
            finite = present - nan - neg_inf - pos_inf
            counts = np.diff(np.concatenate(([0], at_or_below, [finite]))).astype(np.int64)
            out[name] = BinCounts(counts, rows - present + nan, neg_inf + pos_inf)
        return out

    def category_counts_many(
        self, model: str, features: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, CategoryCounts]:
        """Count the categories of several features in one statement: ``GROUPING SETS`` (one
        scan) on PostgreSQL, a ``UNION ALL`` of ``GROUP BY`` s on SQLite."""
        names = list(dict.fromkeys(features))
        if not names:
            return {}
        lo, hi = to_micros(start), to_micros(end)
        groups: list[tuple[int, Any, Any]] = []  # (feature index, category, rows)
        with self._tx(f"counting categories of {model!r}") as conn:
            layout = self._layout(conn, model, fresh=True)
            cols = [self._feature_column(layout, name, "categorical") for name in names]
            if self.dialect == "postgresql":
                sets = ", ".join(f"({c})" for c in cols)
                flags = ", ".join(f"GROUPING({c})" for c in cols)
                found = conn.exec_driver_sql(
                    f"SELECT {flags}, {', '.join(cols)}, count(*) FROM {layout.table} "
                    f"WHERE ts >= %s AND ts < %s GROUP BY GROUPING SETS ({sets})",
                    (lo, hi),
                ).all()
                n = len(cols)
                for r in found:  # GROUPING(c) is 0 in the rows of c's grouping set
                    i = list(r[:n]).index(0)
                    groups.append((i, r[n + i], r[-1]))
            else:
                found = conn.exec_driver_sql(
                    " UNION ALL ".join(
                        f"SELECT {i}, {c}, count(*) FROM {layout.table} "
                        f"WHERE ts >= ? AND ts < ? GROUP BY {c}"
                        for i, c in enumerate(cols)
                    ),
                    (lo, hi) * len(cols),
                ).all()
                groups = [(int(i), value, n) for i, value, n in found]
        tallies: list[dict[str, int]] = [{} for _ in names]
        missing = [0] * len(names)
        for i, value, n in groups:
            if value is None:
                missing[i] += int(n)
            else:
                tallies[i][str(value)] = int(n)
        return {name: CategoryCounts(tallies[i], missing[i]) for i, name in enumerate(names)}

    def count_predictions(self, model: str, start: datetime, end: datetime) -> tuple[int, int]:
        """``(rows, labelled rows)`` with ``start <= timestamp < end``."""
        with self._tx(f"counting predictions of {model!r}") as conn:
            layout = self._layout(conn, model)
            ph = self._ph()
            row = conn.exec_driver_sql(
                f"SELECT count(*), count(label) FROM {layout.table} WHERE ts >= {ph} AND ts < {ph}",
                (to_micros(start), to_micros(end)),
            ).one()
        return int(row[0]), int(row[1])

    def prediction_stats(self, model: str, start: datetime, end: datetime) -> PredictionStats:
        """Counts, first/last time and latency percentiles (p50, p90, p99)."""
        lo, hi = to_micros(start), to_micros(end)
        ph = self._ph()
        with self._tx(f"reading prediction stats of {model!r}") as conn:
            layout = self._layout(conn, model)
            where = f"ts >= {ph} AND ts < {ph}"
            count, labelled, first, last = conn.exec_driver_sql(
                f"SELECT count(*), count(label), min(ts), max(ts) FROM {layout.table} "
                f"WHERE {where}",
                (lo, hi),
            ).one()
            percentiles: list[float | None] = [None, None, None]
            if self.dialect == "postgresql":
                found = conn.exec_driver_sql(
                    "SELECT percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP "
                    f"(ORDER BY latency_ms) FROM {layout.table} WHERE {where} "
                    "AND latency_ms IS NOT NULL AND latency_ms <> 'NaN'",
                    (lo, hi),
                ).scalar_one()
                if found is not None:
                    percentiles = [float(v) for v in found]
            else:
                cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                try:
                    cursor.execute(
                        f"SELECT latency_ms FROM {layout.table} WHERE {where} "
                        "AND latency_ms IS NOT NULL",
                        (lo, hi),
                    )
                    latency = np.fromiter((r[0] for r in cursor), dtype=np.float64)
                finally:
                    cursor.close()
                if latency.size:
                    percentiles = [float(v) for v in np.percentile(latency, [50, 90, 99])]
        return PredictionStats(
            count=int(count),
            labelled=int(labelled),
            latency_p50_ms=percentiles[0],
            latency_p90_ms=percentiles[1],
            latency_p99_ms=percentiles[2],
            first_at=from_micros(first),
            last_at=from_micros(last),
        )

    # -- reports -----------------------------------------------------------------------------------
    def _upsert(self, table: Table, values: dict[str, Any] | list[dict[str, Any]]) -> Any:
        insert = (pg_dialect.insert if self.dialect == "postgresql" else sqlite_dialect.insert)(
            table
        )
        keys = [c.name for c in table.primary_key.columns]
        sample = values[0] if isinstance(values, list) else values
        return insert.on_conflict_do_update(
            index_elements=keys,
            set_={k: insert.excluded[k] for k in sample if k not in keys},
        )

    def save_report(self, report: Report) -> None:
        """Save (or replace) a report."""
        values = {
            "id": report.id,
            "monitor": report.monitor,
            "model": report.model,
            "created_at": report.created_at,
            "drifted": report.drifted,
            "status": report.status,
            "body": _dumps(report.to_dict()),
        }
        with self._tx("saving a report", write=True) as conn:
            conn.execute(self._upsert(T_REPORTS, values), values)

    def get_report(self, report_id: str) -> Report | None:
        """One report by id, or ``None``."""
        with self._tx("reading a report") as conn:
            body = conn.execute(
                select(T_REPORTS.c.body).where(T_REPORTS.c.id == report_id)
            ).scalar_one_or_none()
        return None if body is None else _report(body)

    def list_reports(
        self,
        monitor: str,
        *,
        since: datetime | None = None,
        before: datetime | None = None,
        limit: int = 50,
    ) -> list[Report]:
        """A monitor's reports created in ``[since, before)``, newest first."""
        query = select(T_REPORTS.c.body).where(T_REPORTS.c.monitor == monitor)
        if since is not None:
            query = query.where(T_REPORTS.c.created_at >= since)
        if before is not None:
            query = query.where(T_REPORTS.c.created_at < before)
        query = query.order_by(T_REPORTS.c.created_at.desc(), T_REPORTS.c.id.desc()).limit(limit)
        with self._tx("listing reports") as conn:
            bodies = conn.execute(query).scalars().all()
        return [_report(b) for b in bodies]

    # -- leases ------------------------------------------------------------------------------------
    def acquire_lease(self, name: str, owner: str, ttl_seconds: float) -> bool:
        """Take or renew a lease atomically; False when another owner holds an unexpired one."""
        now = datetime.now(UTC)
        expires = now + timedelta(seconds=ttl_seconds)
        insert = (pg_dialect.insert if self.dialect == "postgresql" else sqlite_dialect.insert)(
            T_LEASES
        )
        stmt = (
            insert.values(name=name, owner=owner, expires_at=expires)
            .on_conflict_do_update(
                index_elements=["name"],
                set_={"owner": insert.excluded.owner, "expires_at": insert.excluded.expires_at},
                where=or_(T_LEASES.c.expires_at <= now, T_LEASES.c.owner == insert.excluded.owner),
            )
            .returning(T_LEASES.c.owner)
        )
        with self._tx(f"acquiring lease {name!r}", write=True) as conn:
            row = conn.execute(stmt).first()
        return row is not None and row[0] == owner

    def release_lease(self, name: str, owner: str) -> None:
        """Drop the lease if ``owner`` holds it."""
        with self._tx(f"releasing lease {name!r}", write=True) as conn:
            conn.execute(
                delete(T_LEASES).where(and_(T_LEASES.c.name == name, T_LEASES.c.owner == owner))
            )

    # -- alerts ------------------------------------------------------------------------------------
    def get_alert_states(self, monitor: str) -> dict[tuple[str, str, str], AlertState]:
        """Current alert states of one monitor, by key."""
        with self._tx("reading alert states") as conn:
            rows = conn.execute(select(T_STATES).where(T_STATES.c.monitor == monitor)).all()
        states = [AlertState(**row._asdict()) for row in rows]
        return {s.key: s for s in states}

    def list_alert_states(self, state: str | None = None) -> list[AlertState]:
        """Alert states of every monitor, optionally only one state."""
        query = select(T_STATES).order_by(
            T_STATES.c.monitor, T_STATES.c.detector, T_STATES.c.feature
        )
        if state is not None:
            query = query.where(T_STATES.c.state == state)
        with self._tx("listing alert states") as conn:
            rows = conn.execute(query).all()
        return [AlertState(**row._asdict()) for row in rows]

    def commit_alert_changes(
        self,
        states: Sequence[AlertState],
        events: Sequence[AlertEvent],
        messages: Sequence[OutboxMessage],
    ) -> None:
        """Upsert states, append events and enqueue messages in one transaction.

        The events' ``id`` fields are set to the ids the database gave them.
        """
        new_ids: list[int] = []
        with self._tx("committing alert changes", write=True) as conn:
            if states:
                rows = [_state_values(s) for s in states]
                conn.execute(self._upsert(T_STATES, rows), rows)
            if events:
                rows = [_event_values(e) for e in events]
                new_ids = list(
                    conn.execute(
                        T_EVENTS.insert().returning(T_EVENTS.c.id, sort_by_parameter_order=True),
                        rows,
                    ).scalars()
                )
            if messages:
                conn.execute(T_OUTBOX.insert(), [_message_values(m) for m in messages])
        if events:
            for event_, new_id in zip(events, new_ids, strict=True):
                event_.id = int(new_id)

    def list_alert_events(
        self, *, monitor: str | None = None, since: datetime | None = None, limit: int = 100
    ) -> list[AlertEvent]:
        """Alert history, newest first."""
        query = select(T_EVENTS)
        if monitor is not None:
            query = query.where(T_EVENTS.c.monitor == monitor)
        if since is not None:
            query = query.where(T_EVENTS.c.at >= since)
        query = query.order_by(T_EVENTS.c.at.desc(), T_EVENTS.c.id.desc()).limit(limit)
        with self._tx("listing alert events") as conn:
            rows = conn.execute(query).all()
        return [AlertEvent(**row._asdict()) for row in rows]

    # -- outbox ------------------------------------------------------------------------------------
    def due_messages(self, now: datetime, limit: int = 50) -> list[OutboxMessage]:
        """Pending messages due at ``now`` (no next attempt set, or not after now), oldest first."""
        query = (
            select(T_OUTBOX)
            .where(T_OUTBOX.c.status == "pending")
            .where(or_(T_OUTBOX.c.next_attempt_at.is_(None), T_OUTBOX.c.next_attempt_at <= now))
            .order_by(T_OUTBOX.c.created_at, T_OUTBOX.c.id)
            .limit(limit)
        )
        with self._tx("reading due messages") as conn:
            rows = conn.execute(query).all()
        return [_message(row) for row in rows]

    def update_message(self, message: OutboxMessage) -> None:
        """Save a message's status, attempts, next attempt, error, sent time and external id."""
        with self._tx("updating an outbox message", write=True) as conn:
            result = conn.execute(
                update(T_OUTBOX)
                .where(T_OUTBOX.c.id == message.id)
                .values(
                    status=message.status,
                    attempts=message.attempts,
                    next_attempt_at=message.next_attempt_at,
                    last_error=message.last_error,
                    sent_at=message.sent_at,
                    external_id=message.external_id,
                )
            )
            if result.rowcount == 0:
                raise StoreError(f"outbox message {message.id!r} does not exist")

    def list_messages(self, *, status: str | None = None, limit: int = 100) -> list[OutboxMessage]:
        """Outbox messages, newest first, optionally only one status."""
        query = select(T_OUTBOX)
        if status is not None:
            query = query.where(T_OUTBOX.c.status == status)
        query = query.order_by(T_OUTBOX.c.created_at.desc(), T_OUTBOX.c.id.desc()).limit(limit)
        with self._tx("listing outbox messages") as conn:
            rows = conn.execute(query).all()
        return [_message(row) for row in rows]

    # -- silences ----------------------------------------------------------------------------------
    def add_silence(self, silence: Silence) -> None:
        """Save (or replace) a silence."""
        values = asdict(silence)  # the table's columns are the dataclass's fields
        with self._tx("saving a silence", write=True) as conn:
            conn.execute(self._upsert(T_SILENCES, values), values)

    def list_silences(self, *, active_at: datetime | None = None) -> list[Silence]:
        """Every silence, or only those with ``starts_at <= active_at < ends_at``."""
        query = select(T_SILENCES).order_by(T_SILENCES.c.starts_at, T_SILENCES.c.id)
        if active_at is not None:
            query = query.where(
                and_(T_SILENCES.c.starts_at <= active_at, T_SILENCES.c.ends_at > active_at)
            )
        with self._tx("listing silences") as conn:
            rows = conn.execute(query).all()
        return [Silence(**row._asdict()) for row in rows]

    def delete_silence(self, silence_id: str) -> bool:
        """Remove a silence; False when none has that id."""
        with self._tx("deleting a silence", write=True) as conn:
            result = conn.execute(delete(T_SILENCES).where(T_SILENCES.c.id == silence_id))
        return result.rowcount > 0

    # -- notifier status ---------------------------------------------------------------------------
    def get_notifier_status(self, name: str) -> NotifierStatus | None:
        """A notifier's saved status, or ``None``."""
        with self._tx("reading a notifier status") as conn:
            row = conn.execute(select(T_NOTIFIERS).where(T_NOTIFIERS.c.name == name)).first()
        return None if row is None else NotifierStatus(**row._asdict())

    def set_notifier_status(self, status: NotifierStatus) -> None:
        """Save a notifier's status."""
        values = asdict(status)  # the table's columns are the dataclass's fields
        with self._tx("saving a notifier status", write=True) as conn:
            conn.execute(self._upsert(T_NOTIFIERS, values), values)

    # -- dead letters ------------------------------------------------------------------------------
    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Keep refused records with their reasons, in one transaction."""
        if not letters:
            return
        rows = [_letter_values(letter) for letter in letters]
        with self._tx("keeping dead letters", write=True) as conn:
            conn.execute(T_DEAD.insert(), rows)

    def list_dead_letters(
        self,
        *,
        model: str | None = None,
        ids: Sequence[int] | None = None,
        after_id: int | None = None,
        limit: int = 100,
    ) -> list[DeadLetter]:
        """Dead letters in id order, optionally of one model, with the given ids, or after
        ``after_id``."""
        query = select(T_DEAD).order_by(T_DEAD.c.id).limit(limit)
        if after_id is not None:
            query = query.where(T_DEAD.c.id > after_id)
        if model is not None:
            query = query.where(T_DEAD.c.model == model)
        if ids is not None:
            query = query.where(T_DEAD.c.id.in_(list(ids)))
        with self._tx("listing dead letters") as conn:
            rows = conn.execute(query).all()
        return [DeadLetter(**row._asdict()) for row in rows]

    def count_dead_letters(self) -> int:
        """How many dead letters are kept."""
        with self._tx("counting dead letters") as conn:
            return int(conn.execute(select(func.count()).select_from(T_DEAD)).scalar_one())

    def delete_dead_letters(self, ids: Sequence[int]) -> int:
        """Remove dead letters by id; returns how many were removed."""
        if not ids:
            return 0
        with self._tx("deleting dead letters", write=True) as conn:
            result = conn.execute(delete(T_DEAD).where(T_DEAD.c.id.in_(list(ids))))
        return int(result.rowcount)

    def update_dead_letter(self, letter: DeadLetter) -> None:
        """Save a dead letter's reason and attempt count."""
        with self._tx("updating a dead letter", write=True) as conn:
            conn.execute(
                update(T_DEAD)
                .where(T_DEAD.c.id == letter.id)
                .values(reason=letter.reason, attempts=letter.attempts)
            )

    # -- retention ---------------------------------------------------------------------------------
    def prune(
        self, older_than: datetime, *, dry_run: bool = False, batch_size: int = 10_000
    ) -> PruneResult:
        """Delete old predictions, reports, alert events and finished outbox messages.

        Each batch of at most ``batch_size`` rows is its own transaction. ``details`` counts
        predictions per model (``predictions:<model>``). A dry run only counts.
        """
        if batch_size < 1:
            raise StoreError("batch_size must be at least 1")
        cutoff = to_micros(older_than)
        ph = self._ph()
        with self._tx("listing models") as conn:
            models = conn.execute(select(T_MODELS.c.name, T_MODELS.c.table_name)).all()
        details: dict[str, int] = {}
        total_predictions = 0
        for model, table in models:
            n = self._prune_table(table, "id", f"ts < {ph}", (cutoff,), dry_run, batch_size)
            details[f"predictions:{model}"] = n
            total_predictions += n
        terminal = ", ".join(f"'{s}'" for s in _TERMINAL_STATUSES)
        reports = self._prune_table(
            "reports", "id", f"created_at < {ph}", (cutoff,), dry_run, batch_size
        )
        events = self._prune_table(
            "alert_events", "id", f"at < {ph}", (cutoff,), dry_run, batch_size
        )
        outbox = self._prune_table(
            "outbox",
            "id",
            f"created_at < {ph} AND status IN ({terminal})",
            (cutoff,),
            dry_run,
            batch_size,
        )
        return PruneResult(
            predictions=total_predictions,
            reports=reports,
            alert_events=events,
            outbox=outbox,
            details=details,
        )

    def _prune_table(
        self,
        table: str,
        key: str,
        where: str,
        params: tuple[Any, ...],
        dry_run: bool,
        batch_size: int,
    ) -> int:
        if dry_run:
            with self._tx(f"counting old rows of {table}") as conn:
                return int(
                    conn.exec_driver_sql(
                        f"SELECT count(*) FROM {table} WHERE {where}", params
                    ).scalar_one()
                )
        deleted = 0
        ph = self._ph()
        sql = (
            f"DELETE FROM {table} WHERE {key} IN "
            f"(SELECT {key} FROM {table} WHERE {where} LIMIT {ph})"
        )
        while True:
            with self._tx(f"pruning {table}", write=True) as conn:
                n = conn.exec_driver_sql(sql, (*params, batch_size)).rowcount
            deleted += max(n, 0)
            if n < batch_size:
                return deleted


class _StaleLayout(Exception):
    """The cached layout of a model is older than the records being written."""


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NO_LOCK = _NoLock()


def _add_dead_letters(conn: Connection) -> None:
    """Version 2: the ``dead_letters`` table."""
    T_DEAD.create(conn, checkfirst=True)
    for index in T_DEAD.indexes:
        index.create(conn, checkfirst=True)


#: Each step upgrades a database from the version before it; ``open()`` runs them in order.
_MIGRATIONS: dict[int, Callable[[Connection], None]] = {2: _add_dead_letters}


def _letter_values(letter: DeadLetter) -> dict[str, Any]:
    values = asdict(letter)
    if values["id"] is None:
        del values["id"]
    return values


def _inner_edges(edges: Sequence[float] | np.ndarray) -> np.ndarray:
    """Bin edges as a float64 array; :class:`StoreError` unless finite and increasing."""
    inner = np.asarray(edges, dtype=np.float64)
    if inner.ndim != 1 or not np.all(np.isfinite(inner)) or np.any(np.diff(inner) <= 0):
        raise StoreError("bin edges must be finite and strictly increasing")
    return inner


def _check_schema(schema: ModelSchema) -> None:
    names = schema.feature_names
    if len(set(names)) != len(names):
        raise StoreError(f"model {schema.name!r} lists a feature twice")
    if schema.task not in ("classification", "regression"):
        raise StoreError(f"model {schema.name!r} has an unknown task {schema.task!r}")
    for spec in schema.features:
        if spec.kind not in ("numeric", "categorical"):
            raise StoreError(f"feature {spec.name!r} has an unknown kind {spec.kind!r}")
    if schema.classes is not None and len(set(schema.classes)) != len(schema.classes):
        raise StoreError(f"model {schema.name!r} lists a class twice")


def _report(body: str) -> Report:
    return Report.from_dict(json.loads(body))


def _state_values(state: AlertState) -> dict[str, Any]:
    return asdict(state)  # the table's columns are the dataclass's fields


def _event_values(event_: AlertEvent) -> dict[str, Any]:
    values = asdict(event_)
    del values["id"]  # assigned by the database
    return values


def _message_values(message: OutboxMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "notifier": message.notifier,
        "monitor": message.monitor,
        "payload": _dumps(message.payload),
        "created_at": message.created_at,
        "status": message.status,
        "attempts": message.attempts,
        "next_attempt_at": message.next_attempt_at,
        "last_error": message.last_error,
        "sent_at": message.sent_at,
        "external_id": message.external_id,
    }


def _message(row: Any) -> OutboxMessage:
    values = row._asdict()
    values["payload"] = json.loads(values["payload"])
    return OutboxMessage(**values)


@hookimpl
def driftscope_stores() -> Iterator[StoreRecord]:
    """Register the SQL store as ``sql``."""
    yield StoreRecord("sql", SQLStore)


__all__ = ["SCHEMA_VERSION", "SQLStore", "UTCMicros", "from_micros", "to_micros"]
