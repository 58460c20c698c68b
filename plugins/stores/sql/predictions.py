"""Writing predictions, attaching labels, and counting a window's rows and latencies."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from driftscope import (
    Label,
    LabelUpdate,
    PredictionBatch,
    PredictionRecord,
    PredictionStats,
    StoreError,
)

from .base import StoreBase
from .dialects import InsertInstead
from .rows import _StaleLayout, prediction_rows
from .tables import _Layout
from .values import _class_text, _number, from_micros, to_micros

MICROS_PER_MINUTE = 60_000_000
_MODEL = operator.attrgetter("model")


def by_model(records: Sequence[PredictionRecord]) -> dict[str, Sequence[PredictionRecord]]:
    """``records`` grouped by model, in their order; a :class:`PredictionBatch` (one model)
    is kept whole, without building its records."""
    if isinstance(records, PredictionBatch):
        return {records.model: records}
    models = set(map(_MODEL, records))
    if len(models) == 1:
        return {models.pop(): records}
    grouped: dict[str, list[PredictionRecord]] = {}
    for record in records:
        grouped.setdefault(record.model, []).append(record)
    return dict(grouped)


class PredictionsMixin(StoreBase):
    """Write prediction batches, attach labels, count rows and summarise latency."""

    def write_predictions(self, records: Sequence[PredictionRecord]) -> int:
        """Insert a batch (any mix of models) in one transaction; returns rows written.

        A record whose id is already stored is skipped (so a retried batch is harmless). The
        rows are built before the transaction starts, so a SQLite write holds the database's
        write lock only while it inserts.
        """
        if not records:
            return 0
        groups = by_model(records)
        now = to_micros(self._clock())
        what = "writing predictions"
        batches: list[tuple[str, list[tuple[str, str]], list[tuple[Any, ...]]]] = []
        try:
            for model, group in groups.items():
                layout = self._layouts.get(model) or self._fresh_layout(what, model)
                try:
                    rows = prediction_rows(layout, group, now, fresh=False)
                except _StaleLayout:
                    layout = self._fresh_layout(what, model)
                    rows = prediction_rows(layout, group, now, fresh=True)
                batches.append((layout.table, layout.write_columns, rows))
        except (UnicodeError, OverflowError) as exc:
            raise self._unstorable(what, exc) from None
        try:
            return self._insert_rows(what, batches, skip_known=False)
        except InsertInstead:  # e.g. COPY met a stored id: insert again, skipping known ids
            return self._insert_rows(what, batches, skip_known=True)

    def _fresh_layout(self, what: str, model: str) -> _Layout:
        with self._tx(what) as conn:
            return self._layout(conn, model, fresh=True)

    def _insert_rows(
        self,
        what: str,
        batches: list[tuple[str, list[tuple[str, str]], list[tuple[Any, ...]]]],
        *,
        skip_known: bool,
    ) -> int:
        insert = self._dialect.insert_rows
        with self._driver_tx(what, write=True) as raw:
            return sum(
                insert(raw, table, columns, rows, skip_known=skip_known)
                for table, columns, rows in batches
            )

    def attach_labels(
        self, model: str, labels: Sequence[tuple[str, Label]], *, overwrite: bool = False
    ) -> LabelUpdate:
        """Set labels by prediction id in one transaction; replaced labels count as updated.

        Without ``overwrite`` the UPDATE only touches rows whose label is NULL, so the check
        and the write are one statement: PostgreSQL re-checks the condition on a row another
        transaction has just labelled (and skips it), SQLite runs one writer at a time. Any
        row skipped that way rolls the whole call back and is reported with its label.
        """
        if not labels:
            return LabelUpdate(updated=0, unknown_ids=[])
        try:
            return self._attach_labels(model, labels, overwrite)
        except _AlreadyLabelled as conflict:
            return conflict.update

    def _attach_labels(
        self, model: str, labels: Sequence[tuple[str, Label]], overwrite: bool
    ) -> LabelUpdate:
        with self._tx(f"attaching labels to {model!r}", write=True) as conn:
            layout = self._layout(conn, model, fresh=True)
            as_label: Any = _number if layout.regression else _class_text
            try:
                latest = {str(i): as_label(v) for i, v in labels}
            except (TypeError, ValueError) as exc:
                raise StoreError(f"a label for model {model!r} is not valid: {exc}") from None
            kind = "numeric" if layout.regression else "text"
            temp = f"ds_labels_{kind}"
            table = layout.table
            ph = self._ph()
            prefix = self._dialect.temp_prefix
            suffix = self._dialect.temp_suffix
            conn.exec_driver_sql(
                f"CREATE TEMP TABLE IF NOT EXISTS {temp} "
                f"(id TEXT PRIMARY KEY, label {self._column_type(kind)}){suffix}"
            )
            conn.exec_driver_sql(f"DELETE FROM {prefix}{temp}")
            raw = conn.connection.driver_connection
            cursor = raw.cursor()  # type: ignore[union-attr]
            unlabelled = "" if overwrite else f" AND {table}.label IS NULL"
            try:
                cursor.executemany(
                    f"INSERT INTO {prefix}{temp} (id, label) VALUES ({ph}, {ph})",
                    list(latest.items()),
                )
                cursor.execute(
                    f"UPDATE {table} SET label = l.label, labelled_at = {ph} "
                    f"FROM {prefix}{temp} AS l WHERE {table}.id = l.id{unlabelled} "
                    f"RETURNING {table}.id",
                    (to_micros(self._clock()),),
                )
                written = {row[0] for row in cursor.fetchall()}
                cursor.execute(
                    f"SELECT l.id, p.id, p.label FROM {prefix}{temp} AS l LEFT JOIN {table} "
                    "AS p ON p.id = l.id"
                )
                found = cursor.fetchall()
                cursor.execute(f"DELETE FROM {prefix}{temp}")
            finally:
                cursor.close()
            missing = {i for i, row_id, _ in found if row_id is None}
            unknown = [i for i in latest if i in missing]
            # a row that is there but was not written had a label: read after the UPDATE,
            # it is the label a transaction that got there first committed
            stored = {
                i: label for i, row_id, label in found if row_id is not None and i not in written
            }
            if stored:
                labelled = {i: stored[i] for i in latest if i in stored}
                raise _AlreadyLabelled(LabelUpdate(0, unknown, labelled))
        return LabelUpdate(updated=len(written), unknown_ids=unknown)

    def has_predictions(self, model: str) -> bool:
        """Whether the model's table holds any row (one index probe, not a count)."""
        with self._tx(f"looking for predictions of {model!r}") as conn:
            layout = self._layout(conn, model)
            found = conn.exec_driver_sql(f"SELECT 1 FROM {layout.table} LIMIT 1").first()
        return found is not None

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
        """Counts, first/last time, active minutes and latency percentiles (p50, p90, p99,
        over the rows that carry a latency: one per request)."""
        lo, hi = to_micros(start), to_micros(end)
        ph = self._ph()
        with self._tx(f"reading prediction stats of {model!r}") as conn:
            layout = self._layout(conn, model)
            where = f"ts >= {ph} AND ts < {ph}"
            # ts is integer microseconds: integer division gives its UTC minute
            count, labelled, first, last, minutes = conn.exec_driver_sql(
                f"SELECT count(*), count(label), min(ts), max(ts), "
                f"count(DISTINCT ts / {MICROS_PER_MINUTE}) FROM {layout.table} WHERE {where}",
                (lo, hi),
            ).one()
            percentiles = self._dialect.latency_percentiles(conn, layout.table, where, lo, hi)
        return PredictionStats(
            count=int(count),
            labelled=int(labelled),
            latency_p50_ms=percentiles[0],
            latency_p90_ms=percentiles[1],
            latency_p99_ms=percentiles[2],
            first_at=from_micros(first),
            last_at=from_micros(last),
            active_minutes=int(minutes),
        )


class _AlreadyLabelled(Exception):
    """Rolls back an ``attach_labels`` that found labelled predictions, carrying its outcome."""

    def __init__(self, update: LabelUpdate) -> None:
        super().__init__("already labelled")
        self.update = update
