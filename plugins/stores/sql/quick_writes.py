"""Committing a small batch on the caller's thread, when SQLite can do it without waiting.

The API's log writer runs on an event loop and writes on a thread of its own. For a small
batch (a durable request's rows, a few requests' worth of async ones) handing it to that
thread and waiting for the answer costs two thread wake-ups, several times the commit
itself. A SQLite file in WAL mode with ``synchronous=NORMAL`` commits by appending to its
log, without a disk sync, so :meth:`QuickWritesMixin.try_write_predictions` commits such a
batch right where it is called, on a connection of its own that never waits: it gives up at
once (and writes nothing) when another connection holds the write lock, and it never
checkpoints, since a checkpoint syncs the database file. Every :data:`CHECKPOINT_EVERY`
commits it asks a background thread for a passive checkpoint on a pooled connection instead,
so the log stays about as short as the pooled connections' own automatic checkpoints keep it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

from driftscope import PredictionRecord

from .predictions import PredictionsMixin, by_model
from .rows import _StaleLayout, prediction_rows
from .values import to_micros

log = logging.getLogger("driftscope.plugins.stores.sql")

#: Quick commits between two checkpoints. A one-row commit appends about four pages to the
#: log (the table's page, its two indexes' pages, the commit frame): 1,000 commits let the
#: log grow to about 16 MB. Each checkpoint costs the loop one disk sync later (the commit
#: that starts the log again syncs its header), so they are kept this far apart.
CHECKPOINT_EVERY = 1000


class QuickWritesMixin(PredictionsMixin):
    """:meth:`try_write_predictions` for SQLite files; other databases never write at once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._quick: sqlite3.Connection | None = None
        self._quick_disabled = False
        self._quick_commits = 0
        self._quick_lock = threading.Lock()
        self._checkpointer: threading.Thread | None = None

    def try_write_predictions(self, records: Sequence[PredictionRecord]) -> int | None:
        """Commit ``records`` now on a SQLite file whose write lock is free, or return
        ``None`` having written nothing (another writer holds the lock, a model's layout is
        not cached yet or changed, PostgreSQL, an in-memory database).

        What it stores, skips and raises is what :meth:`write_predictions` stores, skips and
        raises: the same rows from the same conversion, a known id skipped, a value that
        does not fit its column a non-transient :class:`StoreError` naming the record.
        """
        if not records or self._dialect.name != "sqlite" or self._serialise:
            return None
        if not self._quick_lock.acquire(blocking=False):
            return None
        try:
            return self._quick_write(records)
        finally:
            self._quick_lock.release()

    def _quick_write(self, records: Sequence[PredictionRecord]) -> int | None:
        batches: list[tuple[str, list[tuple[str, str]], list[tuple[Any, ...]]]] = []
        groups = by_model(records)
        now = to_micros(self._clock())
        for model, group in groups.items():
            layout = self._layouts.get(model)
            if layout is None:
                return None  # the writer thread loads it
            try:
                rows = prediction_rows(layout, group, now, fresh=False)
            except _StaleLayout:
                return None  # another process widened the model: the writer thread reloads
            except (UnicodeError, OverflowError) as exc:
                raise self._unstorable("writing predictions", exc) from None
            batches.append((layout.table, layout.write_columns, rows))
        conn = self._quick_connection()
        if conn is None:
            return None
        # one row is one INSERT, a transaction by itself in autocommit mode: a lone durable
        # request spares two statements (BEGIN and COMMIT cost as much as the INSERT)
        alone = len(batches) == 1 and len(batches[0][2]) == 1
        if not alone:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if self._dialect.is_transient(exc):
                    return None  # the lock is taken: the writer thread waits for it
                raise self._error("writing predictions", exc) from None
        written = 0
        try:
            for table, columns, rows in batches:
                written += self._dialect.insert_rows(conn, table, columns, rows, skip_known=True)
            if not alone:
                conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error) and self._dialect.is_transient(exc):
                return None
            if isinstance(exc, sqlite3.Error):
                raise self._error("writing predictions", exc) from None
            if isinstance(exc, UnicodeError | OverflowError):
                raise self._unstorable("writing predictions", exc) from None
            raise
        self._quick_commits += 1
        if self._quick_commits % CHECKPOINT_EVERY == 0:
            self._checkpoint_in_background()
        return written

    def _quick_connection(self) -> sqlite3.Connection | None:
        """The connection quick writes commit on, opened on first use; ``None`` when the
        database is not in WAL mode (a commit would then sync the disk)."""
        if self._quick is not None or self._quick_disabled:
            return self._quick
        self._require_engine()
        database = self._url.database or ""
        try:
            conn = sqlite3.connect(
                database, timeout=0, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA busy_timeout=0")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            # never checkpoint on the caller's thread: a checkpoint syncs the database file
            conn.execute("PRAGMA wal_autocheckpoint=0")
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        except sqlite3.Error as exc:
            log.warning("quick writes are off: %s", self._scrub(str(exc)))
            self._quick_disabled = True
            return None
        if str(mode).lower() != "wal":
            conn.close()
            self._quick_disabled = True
            return None
        self._quick = conn
        return conn

    def _checkpoint_in_background(self) -> None:
        running = self._checkpointer
        if running is not None and running.is_alive():
            return
        thread = threading.Thread(
            target=self._checkpoint, name="driftscope-sqlite-checkpoint", daemon=True
        )
        self._checkpointer = thread
        thread.start()

    def _checkpoint(self) -> None:
        # a pooled connection outside any transaction: SQLAlchemy would begin one
        try:
            raw = self._require_engine().raw_connection()
            try:
                raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").close()
            finally:
                raw.close()
        except Exception as exc:  # a closed store or a busy database: the next one will do
            log.debug("checkpoint skipped: %s", self._scrub(str(exc)))

    def close(self) -> None:
        """Close the quick-write connection, wait for a running checkpoint, then close the
        pool (see :meth:`StoreBase.close`)."""
        with self._quick_lock:
            if self._quick is not None:
                self._quick.close()
                self._quick = None
            self._quick_disabled = False
        checkpointer = self._checkpointer
        if checkpointer is not None:
            checkpointer.join()
            self._checkpointer = None
        super().close()
