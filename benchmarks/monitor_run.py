"""The whole monitor run: window read from SQLite, KS + PSI + chi2 on 20 features, report saved.

Prints a table (medians of several runs) for 100,000 reference rows and 100,000 window rows of
20 numeric features: the first run (reference profiles fitted) and later runs (profiles
cached), split into reading the window and scoring it. The baseline, measured in the same
run, is what a straightforward implementation does: fetch the window row by row into Python
and loop ``scipy.stats.ks_2samp`` plus a numpy PSI over the features. Target: a cached run
under 1.5 s on this machine.

    python benchmarks/monitor_run.py [--rows 100000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy import stats

from driftscope.core.config.yaml_file import load_config
from driftscope.core.contracts.store import PredictionRecord
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.core.runtime import Runtime

FEATURES = 20


def build(folder: Path, rows: int, seed: int = 7) -> Runtime:
    rng = np.random.default_rng(seed)
    names = [f"f{i}" for i in range(FEATURES)]
    reference = pd.DataFrame(rng.normal(size=(rows, FEATURES)), columns=names)
    reference["prediction"] = rng.integers(0, 2, rows).astype(str)
    reference["label"] = reference["prediction"]
    reference.to_csv(folder / "reference.csv", index=False)
    config = {
        "store": {"type": "sql", "url": f"sqlite:///{folder / 'bench.db'}"},
        "models": [
            {
                "name": "bench",
                "reference": "reference.csv",
                "target": "label",
                "prediction_column": "prediction",
                "task": "classification",
            }
        ],
        "monitors": [
            {
                "name": "bench",
                "model": "bench",
                "every": "1h",
                "window": {"last": "2h", "min_samples": 100},
                "detectors": [{"type": "ks"}, {"type": "psi"}, {"type": "chi2"}],
            }
        ],
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    plugins = create_plugin_manager(entry_points=False)
    runtime = Runtime(load_config(folder / "config.yaml", plugins), plugins)
    current = rng.normal(size=(rows, FEATURES))
    current[:, : FEATURES // 2] += 0.05  # half the features drift by a small mean shift
    start = datetime.now(UTC) - timedelta(minutes=90)
    step = timedelta(seconds=3600 / rows)
    batch = []
    for i in range(rows):
        batch.append(
            PredictionRecord(
                uuid.uuid4().hex,
                "bench",
                start + step * i,
                dict(zip(names, current[i].tolist(), strict=True)),
                str(i % 2),
                None,
                1.0,
            )
        )
        if len(batch) == 10_000:
            runtime.store.write_predictions(batch)
            batch = []
    if batch:
        runtime.store.write_predictions(batch)
    return runtime


def baseline(db: Path, reference: np.ndarray) -> float:
    """Row-by-row read plus a scipy/numpy loop over the features."""
    started = time.perf_counter()
    connection = sqlite3.connect(db)
    table = connection.execute(
        "SELECT name FROM sqlite_master WHERE name LIKE 'predictions_%' AND type='table'"
    ).fetchone()[0]
    columns = ", ".join(f"f_{i}" for i in range(FEATURES))
    rows = [list(r) for r in connection.execute(f"SELECT {columns} FROM {table}")]
    connection.close()
    window = np.array(rows, dtype=np.float64)
    for i in range(FEATURES):
        stats.ks_2samp(reference[:, i], window[:, i])
        edges = np.quantile(reference[:, i], np.linspace(0, 1, 11))
        edges[0], edges[-1] = -np.inf, np.inf
        ref_p = np.histogram(reference[:, i], edges)[0] / len(reference) + 1e-4
        cur_p = np.histogram(window[:, i], edges)[0] / len(window) + 1e-4
        float(np.sum((cur_p - ref_p) * np.log(cur_p / ref_p)))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"filling SQLite with {args.rows:,} rows x {FEATURES} features ...", flush=True)
        runtime = build(folder, args.rows)
        model = runtime.models["bench"]
        monitor = runtime.config.monitor("bench")
        reference = np.column_stack([model.reference.columns[f"f{i}"] for i in range(FEATURES)])

        started = time.perf_counter()
        first = runtime.engine.run("bench")
        first_run = time.perf_counter() - started
        reads, totals, bases = [], [], []
        for _ in range(args.repeats):
            end = datetime.now(UTC)
            t0 = time.perf_counter()
            runtime.store.read_window("bench", end - monitor.window.last, end)
            reads.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            report = runtime.engine.run("bench")
            totals.append(time.perf_counter() - t0)
            bases.append(baseline(folder / "bench.db", reference))
        runtime.close()

    total, base, read = (statistics.median(v) for v in (totals, bases, reads))
    drifted = sorted({r.feature for r in report.results if r.drifted and r.kind == "feature"})
    print()
    print(
        f"whole monitor run, {args.rows:,} window rows x {FEATURES} features, SQLite, "
        f"median of {args.repeats}"
    )
    print(f"{'measure':<52}{'seconds':>10}{'vs baseline':>14}{'target':>12}")
    print("-" * 88)
    print(f"{'first run (reference profiles fitted)':<52}{first_run:>10.3f}{'':>14}{'':>12}")
    print(
        f"{'run with cached profiles (read + score + save)':<52}{total:>10.3f}"
        f"{base / total:>13.1f}x{'< 1.5 s':>12}"
    )
    print(f"{'  of which: read the window into numpy':<52}{read:>10.3f}{'':>14}{'':>12}")
    print(f"{'baseline: row-by-row read + scipy/numpy loop':<52}{base:>10.3f}{'1.0x':>14}{'':>12}")
    print()
    print(
        f"results: {len(report.results)}, drifted features: {len(drifted)} of {FEATURES} "
        f"({FEATURES // 2} shifted by 0.05 sd); first-run report rows: {len(first.results)}"
    )


if __name__ == "__main__":
    main()
