"""A monitor run reads its window once and counts the window's rows and labels from it.

The counts a report carries (``window.rows``, ``window.labelled_rows``) and the
``min_samples`` decision are checked against counts made by hand from the records written,
with rows on both sides of the window and on its two edges.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from driftscope.core.config.yaml_file import load_config
from driftscope.core.contracts.store import PredictionRecord, Store
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.core.runtime import Runtime
from support.factories import demo_model, held_out_rows, traffic, write_config

#: Every store method that scans a model's predictions in a time range.
SCANS = (
    "read_window",
    "count_predictions",
    "prediction_stats",
    "has_predictions",
    "bin_counts",
    "bin_counts_many",
    "category_counts",
    "category_counts_many",
)

#: The window's end, on a whole second; the monitor's window is the hour before it.
END = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
START = END - timedelta(hours=1)

BACKENDS = ["sqlite_url", pytest.param("postgres_url", marks=pytest.mark.postgres)]


def spy(store: Store) -> Counter[str]:
    """Count the calls of the store's scanning methods from here on."""
    calls: Counter[str] = Counter()
    for name in SCANS:
        method = getattr(store, name)

        def counted(
            *args: Any, _method: Callable[..., Any] = method, _name: str = name, **kwargs: Any
        ) -> Any:
            calls[_name] += 1
            return _method(*args, **kwargs)

        setattr(store, name, counted)
    return calls


def demo_runtime(tmp_path: Path, url: str, **window: Any) -> Runtime:
    plugins = create_plugin_manager(entry_points=False)
    monitor = {"window": {"last": "1h", "min_samples": 50, **window}}
    return Runtime(load_config(write_config(tmp_path, url, monitor=monitor), plugins), plugins)


def spread(records: list[PredictionRecord], times: list[datetime]) -> list[PredictionRecord]:
    return [dataclasses.replace(r, timestamp=t) for r, t in zip(records, times, strict=True)]


def demo_records(
    rt: Runtime, tmp_path: Path, inside: int, copies: int = 1
) -> list[PredictionRecord]:
    """The demo's held-out rows (``copies`` times), labelled and unlabelled mixed, as
    ``inside`` records in the window (the first exactly at its start), one exactly at its end
    (outside: the end is open), and the rest before and after it."""
    held_out = held_out_rows(demo_model(tmp_path))
    rows = pd.concat([held_out] * copies).sample(frac=1.0, random_state=3)
    records = traffic(rt.models["cancer"], rows.reset_index(drop=True))
    before = (len(records) - inside - 1) // 2
    after = len(records) - inside - 1 - before
    times = (
        [START - timedelta(seconds=1 + i) for i in range(before)]
        + [START + timedelta(seconds=3500 * i / inside) for i in range(inside)]
        + [END]
        + [END + timedelta(seconds=1 + i) for i in range(after)]
    )
    return spread(records, times)


def by_hand(records: list[PredictionRecord]) -> tuple[int, int]:
    """(rows, labelled rows) with START <= timestamp < END."""
    inside = [r for r in records if START <= r.timestamp < END]
    return len(inside), sum(r.label is not None for r in inside)


@pytest.mark.parametrize("url_fixture", BACKENDS)
def test_a_run_reads_its_window_once_and_counts_rows_and_labels_from_it(
    request: pytest.FixtureRequest, tmp_path: Path, url_fixture: str
) -> None:
    rt = demo_runtime(tmp_path, request.getfixturevalue(url_fixture))
    try:
        records = demo_records(rt, tmp_path, inside=300)
        rt.store.write_predictions(records)
        rows, labelled = by_hand(records)
        assert rows == 300 and 0 < labelled < rows  # both kinds inside, some outside
        assert sum(r.label is not None for r in records) > labelled
        calls = spy(rt.store)
        report = rt.engine.run("cancer-drift", now=END)
        assert dict(calls) == {"read_window": 1}
        assert report.status == "ok" and report.results
        assert (report.window.rows, report.window.labelled_rows) == (rows, labelled)
        assert report.window.sampled_rows is None
        # the store's own count of the same window agrees
        assert rt.store.count_predictions("cancer", START, END) == (rows, labelled)
        ks = next(r for r in report.results if r.detector == "ks")
        assert ks.details["current_size"] == rows
    finally:
        rt.close()


@pytest.mark.parametrize("url_fixture", BACKENDS)
def test_min_samples_is_decided_on_the_rows_inside_the_window(
    request: pytest.FixtureRequest, tmp_path: Path, url_fixture: str
) -> None:
    rt = demo_runtime(tmp_path, request.getfixturevalue(url_fixture))
    try:
        records = demo_records(rt, tmp_path, inside=49)  # min_samples is 50
        rt.store.write_predictions(records)
        rows, labelled = by_hand(records)
        assert rows == 49 and labelled > 0
        calls = spy(rt.store)
        short = rt.engine.run("cancer-drift", now=END)
        assert dict(calls) == {"read_window": 1}  # has_predictions only for an empty window
        assert short.status == "insufficient_data"
        assert short.results == [] and short.features == []
        assert (short.window.rows, short.window.labelled_rows) == (rows, labelled)

        one_more = traffic(rt.models["cancer"], held_out_rows(demo_model(tmp_path)).head(1))
        rt.store.write_predictions(spread(one_more, [END - timedelta(seconds=1)]))
        calls.clear()
        enough = rt.engine.run("cancer-drift", now=END)
        assert dict(calls) == {"read_window": 1}
        assert enough.status == "ok" and enough.results
        assert (enough.window.rows, enough.window.labelled_rows) == (
            rows + 1,
            labelled + (one_more[0].label is not None),
        )

        calls.clear()
        empty = rt.engine.run("cancer-drift", now=START - timedelta(days=1))
        assert dict(calls) == {"read_window": 1, "has_predictions": 1}
        assert empty.status == "insufficient_data" and empty.window.rows == 0
    finally:
        rt.close()


def test_a_sampled_window_still_reports_the_whole_windows_counts(
    tmp_path: Path, sqlite_url: str
) -> None:
    rt = demo_runtime(tmp_path, sqlite_url, max_rows=1000)
    try:
        records = demo_records(rt, tmp_path, inside=1200, copies=4)
        rt.store.write_predictions(records)
        rows, labelled = by_hand(records)
        assert rows == 1200 and 0 < labelled < rows
        calls = spy(rt.store)
        report = rt.engine.run("cancer-drift", now=END)
        assert calls["read_window"] == 1
        assert report.window.sampled_rows == 1000
        assert (report.window.rows, report.window.labelled_rows) == (rows, labelled)
    finally:
        rt.close()


@pytest.mark.parametrize("url_fixture", BACKENDS)
def test_a_regressors_labels_are_counted_when_they_are_numbers(
    request: pytest.FixtureRequest, tmp_path: Path, url_fixture: str
) -> None:
    """Float labels: a missing label (None) and NaN are no label, on both backends (SQLite
    stores NaN as NULL; PostgreSQL keeps it, and it reads back as NaN); infinity is one."""
    rng = np.random.default_rng(5)
    reference = tmp_path / "regressor.csv"
    x = rng.normal(size=500)
    pd.DataFrame({"x": x, "y": 2 * x, "pred": 2 * x}).to_csv(reference, index=False)
    config = tmp_path / "regressor.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "store": {"type": "sql", "url": request.getfixturevalue(url_fixture)},
                "models": [
                    {
                        "name": "price",
                        "reference": str(reference),
                        "target": "y",
                        "prediction_column": "pred",
                        "task": "regression",
                    }
                ],
                "monitors": [
                    {
                        "name": "price-drift",
                        "model": "price",
                        "every": "1h",
                        "window": {"last": "1h", "min_samples": 10},
                        "detectors": [{"type": "ks"}],
                    }
                ],
            }
        )
    )
    plugins = create_plugin_manager(entry_points=False)
    rt = Runtime(load_config(config, plugins), plugins)
    labels: list[float | None] = [1.5, None, math.nan, math.inf, -2.0, None, 0.0, 3.25]
    try:
        records = [
            PredictionRecord(
                uuid.uuid4().hex,
                "price",
                START + timedelta(minutes=i % 60) if i < 40 else END + timedelta(seconds=i),
                {"x": float(rng.normal())},
                float(i),
                None,
                1.0,
                label=labels[i % len(labels)],
            )
            for i in range(60)
        ]
        rt.store.write_predictions(records)
        inside = [r for r in records if START <= r.timestamp < END]
        labelled = sum(r.label is not None and not math.isnan(r.label) for r in inside)
        assert (len(inside), labelled) == (40, 25)
        calls = spy(rt.store)
        report = rt.engine.run("price-drift", now=END)
        assert dict(calls) == {"read_window": 1}
        assert (report.window.rows, report.window.labelled_rows) == (40, labelled)
    finally:
        rt.close()
