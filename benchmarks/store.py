"""Benchmark the SQL store: batched prediction writes and reading a window into numpy.

Run ``python benchmarks/store.py`` (``--rows``, ``--repeats``, ``--postgres-url``). It prints
one table with medians of several repeats:

* rows/s for writing 20-feature predictions (18 numeric, 2 categorical, 3 class
  probabilities) in batches of 100 and 1,000, into SQLite and, when reachable, PostgreSQL
  (a throw-away schema that is dropped afterwards); target ≥ 50,000 rows/s on SQLite;
* seconds to read a 100,000-row window with ``read_window`` (target < 0.5 s on SQLite),
  against a baseline measured in the same run: the same rows fetched with ``fetchall``,
  appended row by row into Python lists, then turned into numpy arrays;
* a sampled read (``max_rows=10,000`` of the 100,000 rows).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import SecretStr

from driftscope import FeatureSpec, ModelSchema, PredictionRecord, StoreSettings
from driftscope.plugins.stores.sql import SQLStore

N_NUMERIC, N_CATEGORICAL = 18, 2
CLASSES = ("a", "b", "c")
T0 = datetime(2024, 1, 1, tzinfo=UTC)
SCHEMA = ModelSchema(
    name="bench",
    features=tuple(FeatureSpec(f"num {i}") for i in range(N_NUMERIC))
    + tuple(FeatureSpec(f"cat {i}", "categorical") for i in range(N_CATEGORICAL)),
    classes=CLASSES,
)


def make_records(n: int, offset: int = 0, seed: int = 0) -> list[PredictionRecord]:
    """``n`` realistic predictions one millisecond apart, with a few missing values."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n, N_NUMERIC))
    values[rng.random(size=values.shape) < 0.01] = np.nan
    cats = rng.choice(["red", "green", "blue", None], size=(n, N_CATEGORICAL))
    proba = rng.dirichlet(np.ones(len(CLASSES)), size=n)
    names = [f.name for f in SCHEMA.features]
    records = []
    for i in range(n):
        row = values[i].tolist()
        features: dict[str, float | str | None] = dict(zip(names[:N_NUMERIC], row, strict=True))
        features.update(zip(names[N_NUMERIC:], cats[i].tolist(), strict=True))
        records.append(
            PredictionRecord(
                id=uuid.uuid4().hex,
                model="bench",
                timestamp=T0 + timedelta(milliseconds=offset + i),
                features=features,
                prediction=CLASSES[int(np.argmax(proba[i]))],
                probabilities=dict(zip(CLASSES, proba[i].tolist(), strict=True)),
                latency_ms=float(rng.uniform(1, 5)),
            )
        )
    return records


def median_time(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def paired_medians(
    first: Callable[[], Any], second: Callable[[], Any], repeats: int
) -> tuple[float, float]:
    """Median times of two functions run alternately, so both see the same machine load."""
    a, b = [], []
    for _ in range(repeats):
        a.append(median_time(first, 1))
        b.append(median_time(second, 1))
    return statistics.median(a), statistics.median(b)


def bench_writes(url: str, batch: int, total: int, repeats: int) -> float:
    """Median rows/s writing ``total`` rows in batches of ``batch`` into a fresh model table."""
    rates = []
    for r in range(repeats):
        store = SQLStore(StoreSettings(url=SecretStr(url)))
        store.open()
        name = f"bench_w{batch}_{r}_{uuid.uuid4().hex[:6]}"
        schema = ModelSchema(name, SCHEMA.features, classes=CLASSES)
        store.register_model(schema)
        records = make_records(total, seed=r)
        for rec in records:
            rec.model = name
        start = time.perf_counter()
        for k in range(0, total, batch):
            store.write_predictions(records[k : k + batch])
        rates.append(total / (time.perf_counter() - start))
        store.close()
    return statistics.median(rates)


def naive_read(store: SQLStore, start: datetime, end: datetime) -> dict[str, np.ndarray]:
    """The baseline: fetchall, append row by row into lists, then np.array per column."""
    from driftscope.plugins.stores.sql import to_micros

    layout_cols = ["prediction", "label", "p_0", "p_1", "p_2"] + [
        f"f_{i}" for i in range(N_NUMERIC + N_CATEGORICAL)
    ]
    numeric = {"p_0", "p_1", "p_2", *[f"f_{i}" for i in range(N_NUMERIC)]}
    ph = "?" if store.dialect == "sqlite" else "%s"
    with store._tx("baseline read") as conn:
        table = conn.exec_driver_sql(
            f"SELECT table_name FROM models WHERE name = {ph}", ("bench",)
        ).scalar_one()
        rows = conn.exec_driver_sql(
            f"SELECT {', '.join(layout_cols)} FROM {table} WHERE ts >= {ph} AND ts < {ph} "
            "ORDER BY ts",
            (to_micros(start), to_micros(end)),
        ).fetchall()
    lists: dict[str, list[Any]] = {c: [] for c in layout_cols}
    for row in rows:
        for column, value in zip(layout_cols, row, strict=True):
            lists[column].append(value)
    return {
        c: np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        if c in numeric
        else np.array(values, dtype=object)
        for c, values in lists.items()
    }


def bench_backend(label: str, url: str, args: argparse.Namespace) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for batch in (100, 1_000):
        rate = bench_writes(url, batch, args.write_rows, args.repeats)
        target = " (target ≥ 50,000)" if label == "SQLite" else ""
        rows.append((label, f"write, batches of {batch:,}", f"{rate:,.0f} rows/s{target}"))

    store = SQLStore(StoreSettings(url=SecretStr(url)))
    store.open()
    store.register_model(SCHEMA)
    for k in range(0, args.rows, 10_000):
        store.write_predictions(make_records(min(10_000, args.rows - k), offset=k, seed=k))
    start, end = T0, T0 + timedelta(milliseconds=args.rows)
    window = store.read_window("bench", start, end)
    baseline = naive_read(store, start, end)
    assert window.rows == args.rows
    for i in range(N_NUMERIC):
        assert np.array_equal(window.columns[f"num {i}"], baseline[f"f_{i}"], equal_nan=True)
    fast, naive = paired_medians(
        lambda: store.read_window("bench", start, end),
        lambda: naive_read(store, start, end),
        args.repeats,
    )
    sampled = median_time(
        lambda: store.read_window("bench", start, end, max_rows=10_000), args.repeats
    )
    store.close()
    target = " (target < 0.5 s)" if label == "SQLite" else ""
    n = f"{args.rows:,}"
    rows.append((label, f"read {n} rows, baseline fetchall→lists", f"{naive:.3f} s"))
    rows.append(
        (label, f"read {n} rows, read_window", f"{fast:.3f} s{target}, {naive / fast:.1f}x faster")
    )
    rows.append((label, f"read 10,000 sampled of {n}", f"{sampled:.3f} s"))
    return rows


def postgres_schema(url: str) -> tuple[str, str] | None:
    """Create a throw-away schema; return (schema, URL selecting it) or None if unreachable."""
    try:
        import psycopg

        with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
            schema = f"dsbench_{uuid.uuid4().hex[:8]}"
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except Exception as exc:
        print(f"PostgreSQL not reachable, skipped: {type(exc).__name__}", file=sys.stderr)
        return None
    sep = "&" if "?" in url else "?"
    return schema, f"{url}{sep}options=-csearch_path%3D{schema}"


def drop_schema(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the read window")
    parser.add_argument("--write-rows", type=int, default=20_000, help="rows per write run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "DRIFTSCOPE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    table: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as folder:
        table += bench_backend("SQLite", f"sqlite:///{Path(folder) / 'bench.db'}", args)
    if not args.no_postgres:
        made = postgres_schema(args.postgres_url)
        if made is not None:
            schema, url = made
            try:
                table += bench_backend("PostgreSQL", url, args)
            finally:
                drop_schema(args.postgres_url, schema)

    header = ("backend", "measurement", "median")
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(3)]
    print(f"driftscope SQL store, {args.repeats} repeats, 20 features per row")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in table:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
