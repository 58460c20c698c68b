"""Reading a time window: column by column into numpy, sampled above a size, or as bin and
category counts made in the database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection

from driftscope import BinCounts, CategoryCounts, StoreError, WindowData

from .base import StoreBase
from .tables import _Layout
from .values import from_micros, prefilter_probability, to_micros


class WindowMixin(StoreBase):
    """Read windows and count them into bins and categories."""

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
        dialect = self._dialect
        if sample is None:
            whole = dialect.fetch_whole_window(conn, layout.table, fields, lo, hi, rows)
            if whole is not None:
                return whole
        # NULL comes back as None, which numpy stores as NaN in a float field: one scan
        # tells missing values apart, with no sentinel to check afterwards
        exprs = [c for c, _numeric in fields]
        where = f"ts >= {dialect.named('lo')} AND ts < {dialect.named('hi')}"
        limit = dialect.named("n")
        params: dict[str, Any] = {"lo": lo, "hi": hi, "n": sample}
        if sample is None:
            sql = f"SELECT {', '.join(exprs)} FROM {layout.table} WHERE {where} ORDER BY ts"
        else:
            # draw the sample over the keys only, so the random sort carries no row data
            key = dialect.row_key
            p = prefilter_probability(sample, total) if prefilter else 1.0
            if p < 1.0:
                where += " AND random() < " + dialect.named("p")
                params["p"] = dialect.random_below(p)
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
        return {c: array[c].copy() for c, _numeric in fields}

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
            sql, params = self._dialect.bin_query(
                c, layout.table, inner, to_micros(start), to_micros(end)
            )
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
        ph = self._ph()
        with self._tx(f"counting bins of {model!r}") as conn:
            layout = self._layout(conn, model, fresh=True)
            aggregates, params = ["count(*)"], []
            for name, e in inner.items():
                c = self._feature_column(layout, name, "numeric")
                aggregates += self._dialect.bin_aggregates(c, e.size)
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
        with self._tx(f"counting categories of {model!r}") as conn:
            layout = self._layout(conn, model, fresh=True)
            cols = [self._feature_column(layout, name, "categorical") for name in names]
            groups = self._dialect.category_groups(conn, layout.table, cols, lo, hi)
        tallies: list[dict[str, int]] = [{} for _ in names]
        missing = [0] * len(names)
        for i, value, n in groups:
            if value is None:
                missing[i] += int(n)
            else:
                tallies[i][str(value)] = int(n)
        return {name: CategoryCounts(tallies[i], missing[i]) for i, name in enumerate(names)}


def _inner_edges(edges: Sequence[float] | np.ndarray) -> np.ndarray:
    """Bin edges as a float64 array; :class:`StoreError` unless finite and increasing."""
    inner = np.asarray(edges, dtype=np.float64)
    if inner.ndim != 1 or not np.all(np.isfinite(inner)) or np.any(np.diff(inner) <= 0):
        raise StoreError("bin edges must be finite and strictly increasing")
    return inner
