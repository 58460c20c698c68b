"""A whole monitor run against its floor: the window read by the raw driver plus the scoring.

One SQLite store holds 100,000 window rows of 20 numeric features (half of them shifted);
the monitor runs KS, PSI and chi2 on them with its reference profiles cached. Each repeat
measures, in alternating order so that all of them see the same load:

* the read floor: the same window's rows (the prediction, the label, the class probability
  columns and the 20 features, in time order, the columns ``read_window`` reads) read with
  ``numpy.fromiter`` over a plain ``sqlite3`` cursor, no driftscope;
* the scoring time: each detector's ``score`` on that window's columns, one after the
  other, with profiles fitted beforehand (what the run cannot do without);
* the monitor run (``MonitorEngine.run``: read, score, summarise, save the report), with the
  configured scoring threads and with one thread;
* ``read_window`` alone, to tell the store's share of the distance from the engine's.

It prints the floor lines, each measure against the floor and the target of issue 14: a
cached run within 1.3x of (read floor + scoring time), measured in the same run.

    python benchmarks/monitor_run.py [--rows 100000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from driftscope import FeatureSample
from driftscope.core.config.yaml_file import load_config
from driftscope.core.contracts.store import PredictionRecord
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.core.runtime import Runtime

FEATURES = 20
TARGET = 1.3
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


class ReadFloor:
    """The window read by the raw driver: one ``SELECT`` of the columns the store reads (the
    prediction, the label, the class probabilities, the features) over a plain ``sqlite3``
    connection (opened once, as the store keeps its pool), rows into a structured array with
    ``numpy.fromiter``. The columns come from ``PRAGMA table_info``, not from driftscope."""

    def __init__(self, db: Path) -> None:
        self.connection = sqlite3.connect(db)
        (table,) = self.connection.execute(
            "SELECT name FROM sqlite_master WHERE name LIKE 'predictions_%' AND type = 'table'"
        ).fetchone()
        names = [row[1] for row in self.connection.execute(f"PRAGMA table_info({table})")]
        numbers = [n for n in names if n.startswith(("p_", "f_"))]
        assert sum(n.startswith("f_") for n in numbers) == FEATURES, names
        self.sql = (
            f"SELECT prediction, label, {', '.join(numbers)} FROM {table} "
            "WHERE ts >= ? AND ts < ? ORDER BY ts"
        )
        self.dtype = np.dtype(
            [("prediction", object), ("label", object)] + [(n, np.float64) for n in numbers]
        )

    def read(self, start: datetime, end: datetime) -> np.ndarray:
        lo, hi = ((t - EPOCH) // timedelta(microseconds=1) for t in (start, end))
        cursor = self.connection.execute(self.sql, (lo, hi))
        return np.fromiter(cursor, dtype=self.dtype, count=-1)

    def close(self) -> None:
        self.connection.close()


def scoring_tasks(runtime: Runtime, window: np.ndarray) -> list[Callable[[], Any]]:
    """Every (detector, column) score call the monitor makes, on the floor's columns, with the
    detector's profile fitted here once: calling them all is the scoring time."""
    monitor = runtime.config.monitor("bench")
    model = runtime.models["bench"]
    columns: list[tuple[str, str, bool, np.ndarray, np.ndarray]] = [
        (
            f"f{i}",
            "numeric",
            False,
            np.asarray(model.reference.columns[f"f{i}"], dtype=np.float64),
            np.ascontiguousarray(window[f"f_{i}"]),
        )
        for i in range(FEATURES)
    ]
    columns.append(
        (
            "prediction",
            "categorical",
            True,
            np.asarray(model.reference.predictions, dtype=object),
            np.ascontiguousarray(window["prediction"]),
        )
    )
    for _name, kind, _is_prediction, reference, current in columns:
        clean = np.isfinite if kind == "numeric" else (lambda v: v != None)  # noqa: E711
        assert clean(reference).all() and clean(current).all(), "the bench data has no gaps"
    tasks: list[Callable[[], Any]] = []
    for settings in monitor.detector_settings:
        detector = runtime.plugins.get("detector", settings.type)(settings)
        for name, kind, is_prediction, reference, current in columns:
            if kind not in detector.applies_to:
                continue
            if is_prediction and not settings.prediction:
                continue
            if (
                not is_prediction
                and settings.features is not None
                and name not in settings.features
            ):
                continue
            profile = detector.fit(FeatureSample(name, kind, reference, assume_clean=True))

            def task(
                d: Any = detector,
                p: Any = profile,
                n: str = name,
                k: str = kind,
                v: np.ndarray = current,
            ) -> Any:
                return d.score(p, FeatureSample(n, k, v, assume_clean=True))

            tasks.append(task)
    return tasks


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"filling SQLite with {args.rows:,} rows x {FEATURES} features ...", flush=True)
        runtime = build(folder, args.rows)
        engine = runtime.engine
        threads = engine.threads
        floor = ReadFloor(folder / "bench.db")
        end = datetime.now(UTC)
        start = end - runtime.config.monitor("bench").window.last
        window = floor.read(start, end)
        assert len(window) == args.rows, (len(window), args.rows)
        tasks = scoring_tasks(runtime, window)

        first_run = timed(lambda: engine.run("bench", now=end))

        def run_with(n: int) -> Callable[[], Any]:
            def run() -> Any:
                engine.threads = n
                return engine.run("bench", now=end)

            return run

        measures: dict[str, Callable[[], Any]] = {
            "floor": lambda: floor.read(start, end),
            "score": lambda: [task() for task in tasks],
            "run": run_with(threads),
            "run1": run_with(1),
            "read_window": lambda: runtime.store.read_window("bench", start, end),
        }
        times: dict[str, list[float]] = {name: [] for name in measures}
        load = os.getloadavg()[0]
        for repeat in range(args.repeats):
            order = list(measures) if repeat % 2 == 0 else list(reversed(measures))
            for name in order:
                times[name].append(timed(measures[name]))
        engine.threads = threads
        report = engine.run("bench", now=end)
        floor.close()
        runtime.close()

    med = {name: statistics.median(v) for name, v in times.items()}
    floor_total = med["floor"] + med["score"]
    scored = sum(r.status == "ok" for r in report.results)
    assert scored == len(tasks) == len(report.results), (scored, len(tasks), len(report.results))
    drifted = sorted({r.feature for r in report.results if r.drifted and r.kind == "feature"})
    print()
    print(
        f"monitor run over {args.rows:,} window rows x {FEATURES} features, SQLite, KS + PSI + "
        f"chi2 ({len(tasks)} scores), median of {args.repeats} alternating repeats "
        f"(load {load:.2f} before, {os.getloadavg()[0]:.2f} after)"
    )
    rows = [
        ("floor: window read, numpy.fromiter over sqlite3", med["floor"], None, None),
        ("floor: scoring alone (score calls, profiles cached)", med["score"], None, None),
        ("floor: read + scoring", floor_total, 1.0, None),
        (f"monitor run, cached profiles ({threads} scoring threads)", med["run"], None, True),
        ("monitor run, cached profiles (1 scoring thread)", med["run1"], None, True),
        ("  read_window alone (the store's read)", med["read_window"], None, None),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'seconds':>8}  {'vs floor':>9}  {'target':<9} result")
    print("-" * (width + 40))
    for label, seconds, ratio, judged in rows:
        ratio = seconds / floor_total if ratio is None else ratio
        target = f"<= {TARGET}x" if judged else ""
        verdict = "" if not judged else ("ok" if ratio <= TARGET else "MISSED")
        print(f"{label:<{width}}  {seconds:>8.3f}  {ratio:>8.2f}x  {target:<9} {verdict}")
    print(f"{'first run (reference profiles fitted)':<{width}}  {first_run:>8.3f}")
    print(
        f"\nread_window / read floor: {med['read_window'] / med['floor']:.2f}x; "
        f"results: {len(report.results)}, drifted features: {len(drifted)} of {FEATURES} "
        f"({FEATURES // 2} shifted by 0.05 sd)"
    )


if __name__ == "__main__":
    main()
