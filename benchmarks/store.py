"""Benchmark the SQL store against the raw driver's floor, measured in the same run.

Run ``python benchmarks/store.py`` (``--rows``, ``--write-rows``, ``--repeats``,
``--read-repeats``, ``--postgres-url``, ``--no-postgres``). Each line pairs a driftscope
measurement with its floor, measured in the same process and taking turns with it, so that
both see the same machine load, and prints the ratio against the target of issue 14:

* **writes**: rows/s writing 20-feature predictions (18 numeric, 2 categorical, 3 class
  probabilities, a few NaN and ``None``) in batches of 100 and 1,000. driftscope starts from
  :class:`PredictionRecord` objects, as the log writer hands them over; the floor from ready
  tuples of the same values, written by the bare driver into a table of the same columns
  (``id TEXT PRIMARY KEY``, ``ts``, ``prediction``, ``label``, ``labelled_at``,
  ``latency_ms``, 3 probabilities, 18 numeric and 2 text features; without the store's index
  on ``ts``), one transaction per batch: plain ``sqlite3`` ``executemany`` (WAL,
  ``synchronous=NORMAL``) on SQLite; on PostgreSQL psycopg 3 ``executemany`` and binary
  ``COPY``, the faster of the two being the floor. The writers take turns batch by batch
  (the order turning at every batch); rows/s of each repeat's summed batch times, median
  over ``--repeats``. Target: driftscope ≥ 50% of the floor.
* **window reads**: seconds to read a ``--rows`` window (100,000 x 20 features by default)
  into numpy with ``read_window``, against the bare driver reading the same columns of the
  same rows: ``numpy.fromiter`` over a plain ``sqlite3`` cursor on SQLite; on PostgreSQL the
  fastest of ``numpy.fromiter`` over a plain psycopg cursor (text and binary) and binary
  ``COPY`` of the numeric columns parsed by numpy plus a cursor for the text columns. Each
  floor's arrays are checked equal to ``read_window``'s first; medians of
  ``--read-repeats`` reads taken in turns. Target: driftscope within 1.2x of the floor.
* a sampled read (``max_rows=10,000`` of the window), for information.

PostgreSQL runs in a throw-away schema that is dropped afterwards; it is skipped when the
server cannot be reached.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from pydantic import SecretStr

from driftscope import FeatureSpec, ModelSchema, PredictionRecord, StoreSettings
from driftscope.plugins.stores.sql import SQLStore, to_micros

N_NUMERIC, N_CATEGORICAL = 18, 2
CLASSES = ("a", "b", "c")
T0 = datetime(2024, 1, 1, tzinfo=UTC)
SCHEMA = ModelSchema(
    name="bench",
    features=tuple(FeatureSpec(f"num {i}") for i in range(N_NUMERIC))
    + tuple(FeatureSpec(f"cat {i}", "categorical") for i in range(N_CATEGORICAL)),
    classes=CLASSES,
)
NUMERIC = [f"f_{i}" for i in range(N_NUMERIC)]
TEXT = [f"f_{N_NUMERIC + i}" for i in range(N_CATEGORICAL)]
PROBABILITIES = [f"p_{i}" for i in range(len(CLASSES))]
#: The store's prediction table for SCHEMA, column by column, in the order the floor writes.
COLUMNS = ["id", "ts", "prediction", "label", "labelled_at", "latency_ms"]
COLUMNS += PROBABILITIES + NUMERIC + TEXT
#: What read_window selects, in the store's order, with whether each column is numeric.
WINDOW = [("prediction", False), ("label", False)] + [(c, True) for c in PROBABILITIES + NUMERIC]
WINDOW += [(c, False) for c in TEXT]
WRITE_TARGET, READ_TARGET = 0.5, 1.2


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


def ready_tuples(records: Sequence[PredictionRecord]) -> list[tuple[Any, ...]]:
    """The floor's input: each record as the tuple of its table row, built before timing."""
    names = [f.name for f in SCHEMA.features]
    return [
        (
            r.id,
            to_micros(r.timestamp),
            r.prediction,
            None,
            None,
            r.latency_ms,
            *[(r.probabilities or {})[c] for c in CLASSES],
            *[r.features[n] for n in names],
        )
        for r in records
    ]


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def store_at(url: str) -> SQLStore:
    store = SQLStore(StoreSettings(url=SecretStr(url)))
    store.open()
    return store


# -- writes ----------------------------------------------------------------------------------------
@dataclass
class Writer:
    """Writes one batch into its own fresh table; ``close`` releases what it holds."""

    write: Callable[[Sequence[Any]], None]
    close: Callable[[], None]


class Backend(ABC):
    """One database: where driftscope writes, and how the bare driver writes and reads."""

    label: str

    @abstractmethod
    def store_url(self) -> str:
        """A URL for a fresh, empty store."""

    @abstractmethod
    def floor_writers(self) -> dict[str, Callable[[], Writer]]:
        """Named floor writers: each call makes a fresh table and returns what writes one
        batch of ready tuples into it, in one transaction."""

    @abstractmethod
    def floor_readers(self, url: str) -> dict[str, Callable[[str, int, int, int], Any]]:
        """Named floor reads of ``(table, lo, hi, rows)`` from the store at ``url``."""

    def cleanup(self) -> None:  # noqa: B027 - most backends leave nothing behind
        """Drop what the run made."""


SQLITE_DDL = (
    "CREATE TABLE {table} (id TEXT PRIMARY KEY, ts INTEGER NOT NULL, prediction TEXT, "
    "label TEXT, labelled_at INTEGER, latency_ms REAL, "
    + ", ".join(f"{c} REAL" for c in PROBABILITIES + NUMERIC)
    + ", "
    + ", ".join(f"{c} TEXT" for c in TEXT)
    + ")"
)
POSTGRES_DDL = SQLITE_DDL.replace("INTEGER", "BIGINT").replace("REAL", "DOUBLE PRECISION")
INSERT = f"INSERT INTO {{table}} ({', '.join(COLUMNS)}) VALUES ({{marks}})"
WINDOW_SELECT = (
    f"SELECT {', '.join(c for c, _ in WINDOW)} FROM {{table}} "
    "WHERE ts >= {lo} AND ts < {hi} ORDER BY ts"
)
WINDOW_DTYPE = np.dtype([(c, np.float64 if numeric else object) for c, numeric in WINDOW])


class SQLiteBackend(Backend):
    label = "SQLite"

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def _fresh_path(self) -> Path:
        return self.folder / f"{uuid.uuid4().hex[:8]}.db"

    def store_url(self) -> str:
        return f"sqlite:///{self._fresh_path()}"

    def floor_writers(self) -> dict[str, Callable[[], Writer]]:
        return {"sqlite3 executemany": self._executemany}

    def _executemany(self) -> Writer:
        conn = sqlite3.connect(self._fresh_path(), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(SQLITE_DDL.format(table="floor"))
        sql = INSERT.format(table="floor", marks=", ".join(["?"] * len(COLUMNS)))

        def write(rows: Sequence[tuple[Any, ...]]) -> None:
            conn.execute("BEGIN")
            conn.executemany(sql, rows)
            conn.execute("COMMIT")

        return Writer(write, conn.close)

    def floor_readers(self, url: str) -> dict[str, Callable[[str, int, int, int], Any]]:
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)

        def fromiter(table: str, lo: int, hi: int, rows: int) -> np.ndarray:
            cursor = conn.execute(WINDOW_SELECT.format(table=table, lo=lo, hi=hi))
            return np.fromiter(cursor, dtype=WINDOW_DTYPE, count=rows)

        return {"numpy.fromiter over a sqlite3 cursor": fromiter}


class PostgresBackend(Backend):
    label = "PostgreSQL"

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.schema = f"dsbench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE SCHEMA "{self.schema}"')
        sep = "&" if "?" in admin_url else "?"
        self.url = f"{admin_url}{sep}options=-csearch_path%3D{self.schema}"
        self.conn = psycopg.connect(self.url)

    def store_url(self) -> str:
        return self.url

    def cleanup(self) -> None:
        self.conn.close()
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    def _fresh_table(self) -> str:
        table = f"floor_{uuid.uuid4().hex[:8]}"
        self.conn.execute(POSTGRES_DDL.format(table=table))
        self.conn.commit()
        return table

    def floor_writers(self) -> dict[str, Callable[[], Writer]]:
        return {"psycopg executemany": self._executemany, "psycopg binary COPY": self._copy}

    def _executemany(self) -> Writer:
        conn, table = self.conn, self._fresh_table()
        sql = INSERT.format(table=table, marks=", ".join(["%s"] * len(COLUMNS)))

        def write(rows: Sequence[tuple[Any, ...]]) -> None:
            with conn.cursor() as cursor:
                cursor.executemany(sql, rows)
            conn.commit()

        return Writer(write, lambda: None)

    def _copy(self) -> Writer:
        conn, table = self.conn, self._fresh_table()
        types = ["text", "int8", "text", "text", "int8", "float8"]
        types += ["float8"] * (len(PROBABILITIES) + len(NUMERIC)) + ["text"] * len(TEXT)
        sql = f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"

        def write(rows: Sequence[tuple[Any, ...]]) -> None:
            with conn.cursor() as cursor, cursor.copy(sql) as copy:
                copy.set_types(types)
                for row in rows:
                    copy.write_row(row)
            conn.commit()

        return Writer(write, lambda: None)

    def floor_readers(self, url: str) -> dict[str, Callable[[str, int, int, int], Any]]:
        conn = self.conn

        def fromiter(binary: bool) -> Callable[[str, int, int, int], np.ndarray]:
            def read(table: str, lo: int, hi: int, rows: int) -> np.ndarray:
                with conn.cursor(binary=binary) as cursor:
                    cursor.execute(WINDOW_SELECT.format(table=table, lo=lo, hi=hi))
                    array = np.fromiter(cursor, dtype=WINDOW_DTYPE, count=rows)
                conn.commit()
                return array

            return read

        def copy_and_text(table: str, lo: int, hi: int, rows: int) -> dict[str, np.ndarray]:
            numeric = [c for c, is_numeric in WINDOW if is_numeric]
            texts = [c for c, is_numeric in WINDOW if not is_numeric]
            where = f"ts >= {lo} AND ts < {hi}"
            out: dict[str, np.ndarray] = {}
            with conn.cursor() as cursor:
                buffer = bytearray()
                exprs = ", ".join(f"COALESCE({c}, 'NaN'::float8)" for c in numeric)
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
                array = np.frombuffer(memoryview(buffer)[19:-2], dtype=dtype, count=rows)
                for c in numeric:
                    out[c] = array[c].astype(np.float64)
                cursor.execute(
                    f"SELECT {', '.join(texts)} FROM {table} WHERE {where} ORDER BY ts, id"
                )
                objects = np.fromiter(cursor, dtype=[(c, object) for c in texts], count=rows)
                for c in texts:
                    out[c] = objects[c]
            conn.commit()
            return out

        return {
            "numpy.fromiter over a psycopg cursor": fromiter(False),
            "numpy.fromiter over a binary psycopg cursor": fromiter(True),
            "binary COPY of the numbers + a cursor for the text": copy_and_text,
        }


@dataclass
class Line:
    """One measurement against its floor."""

    backend: str
    what: str
    driftscope: float
    floor: float
    floor_how: str
    unit: str  # "rows/s" (higher is better) or "s" (lower is better)
    target: float

    @property
    def ratio(self) -> float:
        return self.driftscope / self.floor

    @property
    def met(self) -> bool:
        return self.ratio >= self.target if self.unit == "rows/s" else self.ratio <= self.target

    def cells(self) -> tuple[str, ...]:
        if self.unit == "rows/s":
            ds, floor = f"{self.driftscope:,.0f} rows/s", f"{self.floor:,.0f} rows/s"
            ratio, target = f"{self.ratio:.0%}", f">= {self.target:.0%}"
        else:
            ds, floor = f"{self.driftscope:.3f} s", f"{self.floor:.3f} s"
            ratio, target = f"{self.ratio:.2f}x", f"<= {self.target:.1f}x"
        return (
            self.backend,
            self.what,
            ds,
            floor,
            ratio,
            target,
            "ok" if self.met else "MISSED",
            self.floor_how,
        )


def store_writer(url: str, records: list[PredictionRecord]) -> Writer:
    """driftscope writing batches of ``records`` into a fresh model table."""
    store = store_at(url)
    name = f"bench_w{uuid.uuid4().hex[:8]}"
    store.register_model(ModelSchema(name, SCHEMA.features, classes=CLASSES))
    for rec in records:
        rec.model = name
    return Writer(store.write_predictions, store.close)


def bench_writes(backend: Backend, batch: int, args: argparse.Namespace) -> Line:
    """driftscope against each floor writer, batch by batch in an order that turns at every
    batch, so a change of machine load falls on all of them alike; rows/s of each repeat's
    summed batch times, median over the repeats."""
    records = make_records(args.write_rows, seed=batch)
    rows = ready_tuples(records)
    makers: dict[str, Callable[[], Writer]] = {
        "driftscope": lambda: store_writer(backend.store_url(), records)
    }
    makers.update(backend.floor_writers())
    names = list(makers)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.repeats):
        writers = {name: make() for name, make in makers.items()}
        spent = dict.fromkeys(names, 0.0)
        try:
            for turn, k in enumerate(range(0, args.write_rows, batch)):
                for name in names[turn % len(names) :] + names[: turn % len(names)]:
                    part = records[k : k + batch] if name == "driftscope" else rows[k : k + batch]
                    start = time.perf_counter()
                    writers[name].write(part)
                    spent[name] += time.perf_counter() - start
        finally:
            for writer in writers.values():
                writer.close()
        for name in names:
            rates[name].append(args.write_rows / spent[name])
    rate = {name: statistics.median(r) for name, r in rates.items()}
    floors = {name: r for name, r in rate.items() if name != "driftscope"}
    best = max(floors, key=floors.__getitem__)
    how = best + "".join(f"; {name}: {r:,.0f} rows/s" for name, r in floors.items() if name != best)
    return Line(
        backend.label,
        f"write, batches of {batch:,}",
        rate["driftscope"],
        floors[best],
        how,
        "rows/s",
        WRITE_TARGET,
    )


# -- reads -----------------------------------------------------------------------------------------
def bench_reads(backend: Backend, args: argparse.Namespace) -> tuple[Line, float]:
    url = backend.store_url()
    store = store_at(url)
    try:
        store.register_model(SCHEMA)
        for k in range(0, args.rows, 10_000):
            store.write_predictions(make_records(min(10_000, args.rows - k), offset=k, seed=k))
        with store._tx("finding the table") as conn:
            table = conn.exec_driver_sql(
                f"SELECT table_name FROM models WHERE name = '{SCHEMA.name}'"
            ).scalar_one()
        start, end = T0, T0 + timedelta(milliseconds=args.rows)
        lo, hi = to_micros(start), to_micros(end)
        readers = backend.floor_readers(url)
        window = store.read_window("bench", start, end)
        assert window.rows == args.rows
        for name, read in readers.items():  # every floor reads what read_window returns
            floor = read(table, lo, hi, args.rows)
            for i in range(N_NUMERIC):
                assert np.array_equal(window.columns[f"num {i}"], floor[f"f_{i}"], equal_nan=True)
            for i in range(N_CATEGORICAL):
                assert list(window.columns[f"cat {i}"]) == list(floor[TEXT[i]]), name
        runs: dict[str, Callable[[], Any]] = {
            "driftscope": lambda: store.read_window("bench", start, end)
        }
        for name, read in readers.items():
            runs[name] = lambda read=read: read(table, lo, hi, args.rows)
        seconds: dict[str, list[float]] = {name: [] for name in runs}
        order = list(runs)
        for repeat in range(args.read_repeats):
            for name in order[repeat % len(order) :] + order[: repeat % len(order)]:
                seconds[name].append(timed(runs[name]))
        sampled = statistics.median(
            timed(lambda: store.read_window("bench", start, end, max_rows=10_000))
            for _ in range(args.read_repeats)
        )
    finally:
        store.close()
    median = {name: statistics.median(s) for name, s in seconds.items()}
    floors = {name: s for name, s in median.items() if name != "driftscope"}
    best = min(floors, key=floors.__getitem__)
    how = best + "".join(f"; {name}: {s:.3f} s" for name, s in floors.items() if name != best)
    line = Line(
        backend.label,
        f"read_window, {args.rows:,} rows x 20",
        median["driftscope"],
        floors[best],
        how,
        "s",
        READ_TARGET,
    )
    return line, sampled


def bench_backend(backend: Backend, args: argparse.Namespace) -> tuple[list[Line], list[str]]:
    lines = [bench_writes(backend, batch, args) for batch in (100, 1_000)]
    read, sampled = bench_reads(backend, args)
    lines.append(read)
    return lines, [f"{backend.label}: 10,000 sampled of {args.rows:,} rows in {sampled:.3f} s"]


def print_table(lines: list[Line]) -> None:
    header = ("backend", "measurement", "driftscope", "floor", "ratio", "target", "result")
    rows = [header] + [line.cells()[:7] for line in lines]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for k, row in enumerate(rows):
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
        if k == 0:
            print("  ".join("-" * w for w in widths))
    print("\nfloors:")
    for line in lines:
        print(f"  {line.backend}, {line.what}: {line.cells()[7]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the read window")
    parser.add_argument("--write-rows", type=int, default=20_000, help="rows per write run")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of each write run")
    parser.add_argument(
        "--read-repeats", type=int, default=9, help="repeats of each window read (~0.5 s each)"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "DRIFTSCOPE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]

    lines: list[Line] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        found, extra = bench_backend(SQLiteBackend(folder), args)
        lines += found
        notes += extra
    if not args.no_postgres:
        try:
            postgres = PostgresBackend(args.postgres_url)
        except psycopg.Error as exc:
            print(f"PostgreSQL not reachable, skipped: {type(exc).__name__}", file=sys.stderr)
        else:
            try:
                found, extra = bench_backend(postgres, args)
                lines += found
                notes += extra
            finally:
                postgres.cleanup()

    print(
        f"driftscope SQL store against the bare driver, medians of {args.repeats} write and "
        f"{args.read_repeats} read repeats, "
        f"20 features per row, {args.write_rows:,} rows per write run"
    )
    print_table(lines)
    for note in notes:
        print(f"  {note}")
    missed = [f"{line.backend} {line.what}" for line in lines if not line.met]
    print("\nall targets met" if not missed else f"\nmissed: {'; '.join(missed)}")
    print(
        f"python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, psycopg "
        f"{psycopg.__version__}, {os.cpu_count()} CPUs, load average before {load_before:.1f}, "
        f"after {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
