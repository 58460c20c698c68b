"""A monitor over a window too large to load: 10,000,000 predictions of 20 features in PostgreSQL.

The benchmark makes a fresh schema in the PostgreSQL database named by ``--url`` (default
``DRIFTSCOPE_TEST_POSTGRES_URL`` or ``postgresql://postgres@127.0.0.1:5432/test``), registers
a records-only model with 20 numeric features, fills its prediction table with ``--rows``
rows through ``COPY ... FROM STDIN (FORMAT BINARY)`` (the rows are built by numpy in chunks,
with sequential ids and timestamps, so the fill takes a minute or two, not an hour), and then
runs one monitor (KS and PSI on every feature, chi-square on the prediction) twice, each time
in a fresh subprocess so that peak memory belongs to that run alone:

* bounded: ``window.max_rows`` set (default 100,000). KS scores a uniform random sample of
  that many rows drawn in the database (pre-filtered by ``random() < ~1.3 n / total`` so
  only ~1.3 n keys are sorted; the report says so: ``window.sampled_rows``); detectors that
  can score from counts (``Detector.scores_counts``: PSI here) get bin counts of all 20
  features over the whole window from one scan in the database, so those rows never reach
  Python;
* whole: no ``max_rows``: the whole window is read into numpy and scored.

It prints the time of the monitor run and the process's peak resident set (``VmHWM``:
interpreter, imports and reference included), which for the bounded run should stay under
500 MB however large the window. The schema is dropped afterwards (``--keep`` keeps it).

    python benchmarks/large_window.py                        # 10,000,000 rows
    python benchmarks/large_window.py --rows 2000000 --skip-whole
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import psycopg
import yaml

ROOT = Path(__file__).resolve().parent.parent

DEFAULT_URL = os.environ.get(
    "DRIFTSCOPE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
MODEL = "big"
MONITOR = "big-drift"
N_FEATURES = 20
DRIFTED = 5  # f00 .. f04 drift by a mean shift in the window
REFERENCE_ROWS = 20_000
CHUNK = 250_000
WINDOW = timedelta(hours=2)


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in params]
    query += list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def _libpq(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, parts.fragment))


# -- setup -----------------------------------------------------------------------------------
def write_config(folder: Path, store_url: str, max_rows: int | None) -> Path:
    """A records-only model with 20 numeric features, its reference CSV, and one monitor."""
    rng = np.random.default_rng(7)
    names = [f"f{i:02d}" for i in range(N_FEATURES)]
    reference = folder / "reference.csv"
    if not reference.exists():
        values = rng.normal(0.0, 1.0, (REFERENCE_ROWS, N_FEATURES))
        preds = np.where(values[:, 0] + values[:, 1] > 0, "a", "b")
        with reference.open("w", encoding="ascii") as fh:
            fh.write(",".join([*names, "pred"]) + "\n")
            for row, pred in zip(values, preds, strict=True):
                fh.write(",".join(f"{v:.6f}" for v in row) + f",{pred}\n")
    window: dict[str, Any] = {"last": "3h", "min_samples": 100}
    if max_rows is not None:
        window["max_rows"] = max_rows
    document = {
        "store": {"type": "sql", "url": store_url},
        "models": [
            {
                "name": MODEL,
                "reference": str(reference),
                "prediction_column": "pred",
                "task": "classification",
                "features": [{"name": n} for n in names],
            }
        ],
        "monitors": [
            {
                "name": MONITOR,
                "model": MODEL,
                "every": "1h",
                "window": window,
                "detectors": [
                    {"type": "ks", "prediction": False},
                    {"type": "psi", "prediction": False},
                    {"type": "chi2"},
                ],
            }
        ],
    }
    path = folder / f"config-{max_rows or 'whole'}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _layout(conn: psycopg.Connection) -> tuple[str, list[tuple[str, str]], dict[str, str]]:
    """The model's prediction table, its (column, type) list, and feature -> column."""
    table = conn.execute("SELECT table_name FROM models WHERE name = %s", (MODEL,)).fetchone()[0]
    columns = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    features = dict(
        conn.execute(
            "SELECT c.name, c.column_name FROM model_columns c JOIN models m ON m.id = c.model_id "
            "WHERE m.name = %s AND c.role = 'feature'",
            (MODEL,),
        ).fetchall()
    )
    return table, columns, features


def fill(url: str, rows: int, end: datetime) -> float:
    """COPY ``rows`` predictions into the model's table in binary chunks; return seconds."""
    started = time.perf_counter()
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        table, columns, features = _layout(conn)
        by_column = {c: n for n, c in features.items()}
        rng = np.random.default_rng(11)
        lo = int((end - WINDOW).timestamp() * 1_000_000)
        span = int(WINDOW.total_seconds() * 1_000_000)
        names = [c for c, _ in columns]
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.write(b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") * 2)
            for first in range(0, rows, CHUNK):
                n = min(CHUNK, rows - first)
                copy.write(_chunk(columns, by_column, first, n, rows, lo, span, rng))
            copy.write((-1).to_bytes(2, "big", signed=True))
        conn.execute(f"ANALYZE {table}")
    return time.perf_counter() - started


def _chunk(
    columns: list[tuple[str, str]],
    features: dict[str, str],
    first: int,
    n: int,
    total: int,
    lo: int,
    span: int,
    rng: np.random.Generator,
) -> bytes:
    """One chunk of rows in PostgreSQL's binary COPY format, built column-wise by numpy.

    ``features`` maps each feature column to its feature name (``f00`` ...)."""
    drawn = {
        column: rng.normal(0.1 if int(name[1:]) < DRIFTED else 0.0, 1.0, n)
        for column, name in sorted(features.items(), key=lambda item: item[1])
    }
    by_name = {name: drawn[column] for column, name in features.items()}
    index = np.arange(first, first + n, dtype=np.int64)
    fields: list[tuple[str, str]] = [("count", ">i2")]
    values: dict[str, Any] = {"count": len(columns)}
    for column, data_type in columns:
        fields.append((f"{column}__len", ">i4"))
        if column == "id":  # "lw" + 30 digits, sequential: the primary key grows at its end
            digits = (index[:, None] // 10 ** np.arange(17, -1, -1, dtype=np.int64)) % 10
            text = np.full((n, 32), ord("0"), dtype=np.uint8)
            text[:, :2] = (ord("l"), ord("w"))
            text[:, 14:] += digits.astype(np.uint8)
            fields.append((column, "S32"))
            values[f"{column}__len"] = 32
            values[column] = text.view("S32").ravel()
        elif column == "ts":
            fields.append((column, ">i8"))
            values[f"{column}__len"], values[column] = 8, lo + index * span // total
        elif column in drawn:
            fields.append((column, ">f8"))
            values[f"{column}__len"], values[column] = 8, drawn[column]
        elif column == "prediction":
            fields.append((column, "S1"))
            values[f"{column}__len"] = 1
            values[column] = np.where(by_name["f00"] + by_name["f01"] > 0, b"a", b"b")
        elif column == "latency_ms" and data_type == "double precision":
            fields.append((column, ">f8"))
            values[f"{column}__len"], values[column] = 8, rng.gamma(2.0, 0.5, n)
        else:  # label, labelled_at, class probabilities: NULL
            values[f"{column}__len"] = -1
    array = np.empty(n, dtype=np.dtype(fields))
    for name, value in values.items():
        array[name] = value
    return array.tobytes()


# -- one monitor run (in its own process) ----------------------------------------------------
def run_monitor(config: Path) -> dict[str, Any]:
    """Build a runtime, run the monitor once, and return time, memory and the report summary."""
    from driftscope.core.config.yaml_file import load_config
    from driftscope.core.plugin_system.manager import create_plugin_manager
    from driftscope.core.runtime import Runtime

    plugins = create_plugin_manager(entry_points=False)
    runtime = Runtime(load_config(config, plugins), plugins)
    try:
        base_kb = _peak_kb()
        started = time.perf_counter()
        report = runtime.engine.run(MONITOR)
        seconds = time.perf_counter() - started
        peak_kb = _peak_kb()
    finally:
        runtime.close()
    results = [r for r in report.results if r.status == "ok"]
    return {
        "seconds": seconds,
        "peak_rss_mb": peak_kb / 1024,
        "before_run_mb": base_kb / 1024,
        "status": report.status,
        "rows": report.window.rows,
        "sampled_rows": report.window.sampled_rows,
        "results": len(report.results),
        "failed": [f"{r.detector}:{r.feature}: {r.error}" for r in report.results if r.error],
        "counted_in_store": sorted(
            {r.detector for r in results if r.details.get("counted_in_store")}
        ),
        "drifted": sorted({f"{r.detector}:{r.feature}" for r in results if r.drifted}),
        "current_size_by_detector": {
            r.detector: r.details.get("current_size") for r in results if r.kind == "feature"
        },
    }


def _peak_kb() -> int:
    """This process's peak resident set in KiB: Linux ``VmHWM`` (which, unlike ``ru_maxrss``,
    does not inherit the high-water mark of the process that forked this one)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def run_isolated(config: Path, timeout: float) -> dict[str, Any]:
    """Run :func:`run_monitor` in a fresh interpreter."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--run-monitor", str(config)]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {done.returncode}: {tail[:300]}"}
    return json.loads(lines[-1])


# -- main ------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="PostgreSQL database URL")
    parser.add_argument("--rows", type=int, default=10_000_000, help="predictions in the window")
    parser.add_argument("--max-rows", type=int, default=100_000, help="KS sample size")
    parser.add_argument("--skip-whole", action="store_true", help="skip loading the window whole")
    parser.add_argument("--timeout", type=float, default=1500.0, help="seconds per monitor run")
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    parser.add_argument("--run-monitor", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.run_monitor:
        print(json.dumps(run_monitor(args.run_monitor)), flush=True)
        return 0

    schema = f"dsbench_{uuid.uuid4().hex[:8]}"
    admin = _libpq(args.url)
    url = _with_query(
        args.url, options=f"-csearch_path={schema}", application_name="driftscope-bench"
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            bounded = write_config(folder, url, args.max_rows)
            whole = write_config(folder, url, None)
            # a Runtime registers the model (creates its table) on start
            from driftscope.core.config.yaml_file import load_config
            from driftscope.core.plugin_system.manager import create_plugin_manager
            from driftscope.core.runtime import Runtime

            plugins = create_plugin_manager(entry_points=False)
            Runtime(load_config(bounded, plugins), plugins).close()
            end = datetime.now(UTC)
            print(f"schema {schema}: filling {args.rows:,} rows of {N_FEATURES} features ...")
            seconds = fill(url, args.rows, end)
            print(f"  COPY: {seconds:.1f} s ({args.rows / seconds:,.0f} rows/s)", flush=True)

            runs = {f"bounded (max_rows {args.max_rows:,})": run_isolated(bounded, args.timeout)}
            if not args.skip_whole:
                runs["whole window loaded"] = run_isolated(whole, args.timeout)
    finally:
        if not args.keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    print(f"\n== one monitor run over {args.rows:,} rows x {N_FEATURES} features (PostgreSQL) ==")
    head = f"{'mode':30} {'seconds':>8} {'peak RSS MB':>12} {'before run MB':>14}  window"
    print(head)
    print("-" * len(head))
    for mode, run in runs.items():
        if "error" in run:
            print(f"{mode:30} {run['error']}")
            continue
        sampled = (
            f"{run['rows']:,} rows, KS sample {run['sampled_rows']:,}"
            if run["sampled_rows"]
            else f"{run['rows']:,} rows read"
        )
        print(
            f"{mode:30} {run['seconds']:8.1f} {run['peak_rss_mb']:12.0f} "
            f"{run['before_run_mb']:14.0f}  {sampled}"
        )
    for mode, run in runs.items():
        if "error" in run:
            continue
        print(f"\n{mode}: status {run['status']}, {run['results']} results")
        print(f"  scored from store counts: {', '.join(run['counted_in_store']) or 'none'}")
        print(f"  current sample size per detector: {run['current_size_by_detector']}")
        print(f"  drifted: {', '.join(run['drifted']) or 'none'}")
        if run["failed"]:
            print(f"  failed: {run['failed'][:3]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
