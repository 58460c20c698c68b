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

Writing a batch builds its rows one column at a time (``rows``), before the transaction,
and inserts them on the pooled driver connection: ``INSERT ... ON CONFLICT (id) DO NOTHING``
on SQLite (``executemany`` under 256 rows, multi-row statements above), binary ``COPY`` on
PostgreSQL (again
by ``INSERT ... ON CONFLICT (id) DO NOTHING`` when an id is already stored). Reading a window
avoids building Python lists of rows: the cursor is consumed by ``numpy.fromiter`` into one
structured array, where a NULL (and NaN, which SQLite stores as NULL) becomes NaN in a
numeric column; large PostgreSQL windows read their numeric columns through binary ``COPY``.

Modules of this package: ``dialects`` (one object per database holding what differs),
``tables`` (the fixed tables, schema version, migrations, model layouts), ``values`` (time
and value conversion), ``rows`` (prediction records as table rows), ``base`` (URL, errors,
transactions, lifecycle), then one module per concern adding methods to the store:
``models``, ``predictions``, ``quick_writes``, ``window``, ``reports``, ``leases``, ``alerts``,
``dead_letters``, ``retention``; ``store`` puts :class:`SQLStore` together.
"""

from __future__ import annotations

from collections.abc import Iterator

from driftscope import StoreRecord, hookimpl

from .dialects import Dialect, PostgresDialect, SQLiteDialect
from .store import SQLStore
from .tables import (
    SCHEMA_VERSION,
    T_COLUMNS,
    T_DEAD,
    T_EVENTS,
    T_LEASES,
    T_MODELS,
    T_NOTIFIERS,
    T_OUTBOX,
    T_REPORTS,
    T_SILENCES,
    T_STATES,
    T_VERSION,
)
from .values import (
    INSERT_CHUNK_ROWS,
    MULTI_ROW_FROM,
    SAMPLE_MARGIN,
    UTCMicros,
    from_micros,
    insert_chunks,
    prefilter_probability,
    to_micros,
)


@hookimpl
def driftscope_stores() -> Iterator[StoreRecord]:
    """Register the SQL store as ``sql``."""
    yield StoreRecord("sql", SQLStore)


__all__ = [
    "INSERT_CHUNK_ROWS",
    "MULTI_ROW_FROM",
    "SAMPLE_MARGIN",
    "SCHEMA_VERSION",
    "T_COLUMNS",
    "T_DEAD",
    "T_EVENTS",
    "T_LEASES",
    "T_MODELS",
    "T_NOTIFIERS",
    "T_OUTBOX",
    "T_REPORTS",
    "T_SILENCES",
    "T_STATES",
    "T_VERSION",
    "Dialect",
    "PostgresDialect",
    "SQLStore",
    "SQLiteDialect",
    "UTCMicros",
    "driftscope_stores",
    "from_micros",
    "insert_chunks",
    "prefilter_probability",
    "to_micros",
]
