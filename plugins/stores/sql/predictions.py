"""Writing predictions, attaching labels, and counting a window's rows and latencies."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any, cast

from driftscope import FeatureRow, Label, LabelUpdate, PredictionRecord, PredictionStats, StoreError

from .base import StoreBase
from .tables import _Layout
from .values import _category, _class_text, _number, from_micros, to_micros

MICROS_PER_MINUTE = 60_000_000


class PredictionsMixin(StoreBase):
    """Write prediction batches, attach labels, count rows and summarise latency."""

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
                    written += self._dialect.insert_rows(raw, cursor, layout.table, columns, rows)
                finally:
                    cursor.close()
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
        now = to_micros(self._clock())
        empty: tuple[Any, ...] = (None,) * len(class_names)
        rows: list[tuple[Any, ...]] = []
        # a FeatureRow (the API's records) is read by position, for the names of the first
        first = records[0].features
        row_names = first.names if type(first) is FeatureRow else None
        numeric_of: Any = None
        if row_names is not None:
            where = {n: i for i, n in enumerate(row_names)}
            if all(n in where for n in num_names) and len(num_names) > 0:
                numeric_of = itemgetter(*[where[n] for n in num_names])
                if len(num_names) == 1:
                    getter = numeric_of
                    numeric_of = lambda values: (getter(values),)  # noqa: E731
            else:
                row_names = None
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
                if type(feats) is FeatureRow and feats.names == row_names:
                    values = list(numeric_of(feats.data))
                else:
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


class _StaleLayout(Exception):
    """The cached layout of a model is older than the records being written."""


class _AlreadyLabelled(Exception):
    """Rolls back an ``attach_labels`` that found labelled predictions, carrying its outcome."""

    def __init__(self, update: LabelUpdate) -> None:
        super().__init__("already labelled")
        self.update = update
