"""Windows too large to read: counts computed by the store, KS on a sample drawn in the store."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from core import (
    BinCounts,
    CategoryCounts,
    Detector,
    DetectorRecord,
    DetectorResult,
    FeatureKind,
    FeatureSample,
    FeatureSpec,
    ModelSchema,
    PredictionRecord,
    Store,
    count_bins,
    count_categories,
    hookimpl,
)
from core.config import load_config
from core.plugins import create_plugin_manager
from core.runtime import Runtime
from tests.factories import demo_model, traffic, write_config

EDGES = np.array([-1.0, 0.0, 0.5, 2.0])


def _schema() -> ModelSchema:
    return ModelSchema(
        name="wide",
        features=(FeatureSpec("x"), FeatureSpec("y"), FeatureSpec("colour", "categorical")),
        task="classification",
        classes=("a", "b"),
    )


def _records(now: datetime) -> list[PredictionRecord]:
    """Values on the edges, between them, outside them, missing and infinite."""
    xs = [-5.0, -1.0, -0.999, 0.0, 0.25, 0.5, 0.5000001, 2.0, 7.0, math.nan, None, math.inf]
    xs += [-math.inf, 1.0, 1.0, -1.0]
    colours = ["red", "blue", None, "red", "green", "red", "blue", None] * 2
    return [
        PredictionRecord(
            id=uuid.uuid4().hex,
            model="wide",
            timestamp=now - timedelta(seconds=len(xs) - i),
            features={"x": x, "y": float(i), "colour": colours[i]},
            prediction="a" if i % 3 else "b",
            probabilities={"a": 0.6, "b": 0.4},
        )
        for i, x in enumerate(xs)
    ]


def test_count_bins_uses_right_closed_bins_and_counts_missing_apart():
    counted = count_bins(np.array([-2.0, -1.0, 0.0, 0.1, 2.0, 2.5, np.nan, np.inf, -np.inf]), EDGES)
    assert counted.counts.tolist() == [2, 1, 1, 1, 1]
    assert (counted.missing, counted.infinite, counted.total) == (1, 2, 6)
    cats = count_categories(np.array(["a", None, "b", "a"], dtype=object))
    assert cats.counts == {"a": 2, "b": 1} and cats.missing == 1 and cats.total == 3


def test_store_counts_equal_counting_the_read_window(store):
    store.register_model(_schema())
    now = datetime.now(UTC)
    store.write_predictions(_records(now))
    start, end = now - timedelta(hours=1), now + timedelta(seconds=1)
    window = store.read_window("wide", start, end)
    expected = count_bins(window.columns["x"], EDGES)
    for counted in (
        store.bin_counts("wide", "x", EDGES, start, end),
        Store.bin_counts(store, "wide", "x", EDGES, start, end),  # the numpy fallback
    ):
        assert isinstance(counted, BinCounts)
        assert counted.counts.tolist() == expected.counts.tolist() == [3, 2, 2, 4, 1]
        assert (counted.missing, counted.infinite) == (2, 2)
    for cats in (
        store.category_counts("wide", "colour", start, end),
        Store.category_counts(store, "wide", "colour", start, end),
    ):
        assert isinstance(cats, CategoryCounts)
        assert cats.counts == {"red": 6, "blue": 4, "green": 2} and cats.missing == 4
    # a time range is honoured, and an empty one counts nothing
    empty = store.bin_counts("wide", "x", EDGES, end, end + timedelta(hours=1))
    assert empty.total == 0 and empty.counts.tolist() == [0] * 5
    late = store.bin_counts("wide", "x", EDGES, now - timedelta(seconds=4), end)
    assert late.total + late.missing + late.infinite == 4


class BinnedDetector(Detector):
    """Counts a window's values over reference quartiles; able to score from store counts."""

    applies_to: ClassVar[frozenset[FeatureKind]] = frozenset({"numeric", "categorical"})
    scores_counts: ClassVar[bool] = True

    def fit(self, reference: FeatureSample) -> Any:
        if reference.kind == "categorical":
            return None
        return np.unique(np.quantile(reference.values, [0.25, 0.5, 0.75]))

    def bin_edges(self, profile: Any) -> np.ndarray:
        return profile

    def score(self, profile: Any, current: FeatureSample) -> DetectorResult:
        if current.kind == "categorical":
            return self.score_counts(profile, count_categories(current.values))
        return self.score_counts(profile, count_bins(current.values, profile))

    def score_counts(self, profile: Any, counts: BinCounts | CategoryCounts) -> DetectorResult:
        found = counts.counts if isinstance(counts, CategoryCounts) else counts.counts.tolist()
        return DetectorResult(float(counts.total), None, 1e12, False, details={"counts": found})


class BinnedPlugin:
    @hookimpl
    def driftscope_detectors(self) -> Any:
        yield DetectorRecord("binned", BinnedDetector)


@pytest.mark.parametrize(
    "url_fixture", ["sqlite_url", pytest.param("postgres_url", marks=pytest.mark.postgres)]
)
def test_a_large_window_is_counted_in_the_store_and_sampled_for_ks(tmp_path, request, url_fixture):
    plugins = create_plugin_manager(entry_points=False)
    plugins.register(BinnedPlugin(), "binned-plugin")
    path = write_config(
        tmp_path,
        request.getfixturevalue(url_fixture),
        detectors=[{"type": "binned", "prediction": False}, {"type": "ks", "prediction": False}],
        monitor={"window": {"last": "1h", "min_samples": 50, "max_rows": 1000}},
    )
    rt = Runtime(load_config(path, plugins), plugins)
    try:
        demo = demo_model(tmp_path)
        rows = pd.read_csv(demo.reference_path)
        rows = pd.concat([rows] * math.ceil(2500 / len(rows)), ignore_index=True)
        model = rt.models["cancer"]
        start = datetime.now(UTC) - timedelta(minutes=50)
        rt.store.write_predictions(
            traffic(model, rows, start=start, spacing=timedelta(seconds=2400 / len(rows)))
        )
        report = rt.engine.run("cancer-drift")
        assert report.status == "ok"
        assert report.window.rows == len(rows) > 2000
        assert report.window.sampled_rows == 1000
        binned = [r for r in report.results if r.detector == "binned"]
        ks = [r for r in report.results if r.detector == "ks"]
        assert len(binned) == len(ks) == len(model.schema.features)
        for row in binned:  # every row of the window, counted in the database
            assert row.status == "ok" and row.details["counted_in_store"] is True
            assert row.statistic == len(rows)
            assert row.details["current_missing"] == 0
        for row in ks:  # KS on the uniform sample drawn by the store
            assert row.status == "ok" and row.details["current_size"] == 1000
        # below max_rows nothing changes: the window is read whole and scored as before
        small = rt.engine.run("cancer-drift", now=start + timedelta(minutes=10))
        assert small.window.sampled_rows is None and 50 < small.window.rows < 1000
        for row in small.results:
            assert "counted_in_store" not in row.details
            if row.detector == "binned":
                assert row.statistic == small.window.rows
    finally:
        rt.close()
