"""Windows too large to read: counts computed by the store, KS on a sample drawn in the store."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from driftscope import (
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
    StoreError,
    count_bins,
    count_categories,
    hookimpl,
)
from driftscope.core.config.yaml_file import load_config
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.core.runtime import Runtime
from support.factories import demo_model, traffic, write_config

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
    threshold = 1e12

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


def _equal_results(raw: DetectorResult, counted: DetectorResult) -> None:
    """Statistic and p-value to floating-point precision; decision and bins exactly."""
    assert counted.statistic == pytest.approx(raw.statistic, rel=1e-12, abs=1e-15)
    if raw.p_value is None:
        assert counted.p_value is None
    else:
        assert counted.p_value == pytest.approx(raw.p_value, rel=1e-12, abs=1e-15)
    assert counted.drifted == raw.drifted
    assert counted.details["bins"] == raw.details["bins"]
    assert counted.details == raw.details


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values[np.isfinite(values)]


def _present(values: np.ndarray) -> np.ndarray:
    return np.array([v for v in values if v is not None], dtype=object)


@pytest.mark.parametrize("binning", ["quantile", "uniform"])
def test_psi_and_chi2_score_store_counts_as_they_score_raw_values(store, binning):
    """The same window scored from its raw values and from the SQL store's counts."""
    from driftscope.plugins.detectors.chi2 import Chi2Detector, Chi2Settings
    from driftscope.plugins.detectors.psi import PSIDetector, PSISettings

    rng = np.random.default_rng(3)
    ref_x = np.round(rng.normal(0.0, 1.0, 400), 2)  # ties, so some edges repeat and merge
    ref_colour = rng.choice(["red", "blue", "green"], 400, p=[0.5, 0.3, 0.2]).astype(object)
    psi = PSIDetector(PSISettings(type="psi", bins=8, binning=binning))
    chi2 = Chi2Detector(Chi2Settings(type="chi2"))
    x_profile = psi.fit(FeatureSample("x", "numeric", ref_x))
    edges = psi.bin_edges(x_profile)
    # window values: every edge exactly, its neighbours, far outside, missing and infinite
    cur_x = np.concatenate(
        [
            edges,
            edges,
            np.nextafter(edges, np.inf),
            np.nextafter(edges, -np.inf),
            np.round(rng.normal(0.4, 1.3, 300), 2),
            [-50.0, 50.0, np.nan, np.inf, -np.inf],
        ]
    )
    colours = ["red", "blue", "violet", "amber", "teal", None]
    cur_colour = rng.choice(colours, cur_x.size, p=[0.4, 0.3, 0.1, 0.1, 0.05, 0.05])
    store.register_model(_schema())
    now = datetime.now(UTC)
    store.write_predictions(
        [
            PredictionRecord(
                id=uuid.uuid4().hex,
                model="wide",
                timestamp=now - timedelta(milliseconds=cur_x.size - i),
                features={"x": float(x), "y": 0.0, "colour": colour},
                prediction="a",
            )
            for i, (x, colour) in enumerate(zip(cur_x, cur_colour, strict=True))
        ]
    )
    start, end = now - timedelta(hours=1), now + timedelta(seconds=1)
    window = store.read_window("wide", start, end)
    raw_x = FeatureSample("x", "numeric", _finite(window.columns["x"]))
    raw_colour = FeatureSample("colour", "categorical", _present(window.columns["colour"]))
    assert raw_x.values.size == cur_x.size - 3

    x_counts = store.bin_counts("wide", "x", edges, start, end)
    assert (x_counts.missing, x_counts.infinite) == (1, 2)
    _equal_results(psi.score(x_profile, raw_x), psi.score_counts(x_profile, x_counts))

    colour_counts = store.category_counts("wide", "colour", start, end)
    psi_colour = psi.fit(FeatureSample("colour", "categorical", ref_colour))
    raw_psi = psi.score(psi_colour, raw_colour)
    assert raw_psi.details["unseen_categories"].keys() == {"violet", "amber", "teal"}
    _equal_results(raw_psi, psi.score_counts(psi_colour, colour_counts))
    chi2_profile = chi2.fit(FeatureSample("colour", "categorical", ref_colour))
    raw_chi2 = chi2.score(chi2_profile, raw_colour)
    assert raw_chi2.drifted and raw_chi2.p_value < 1e-6
    _equal_results(raw_chi2, chi2.score_counts(chi2_profile, colour_counts))

    # a constant reference: bins "< c", "= c", "> c" and values on both sides of c
    constant = psi.fit(FeatureSample("y", "numeric", np.full(50, 0.5)))
    const_edges = psi.bin_edges(constant)
    assert const_edges.tolist() == [np.nextafter(0.5, -np.inf), 0.5]
    const_counts = store.bin_counts("wide", "x", const_edges, start, end)
    assert const_counts.counts[1] == int(np.sum(raw_x.values == 0.5))
    _equal_results(psi.score(constant, raw_x), psi.score_counts(constant, const_counts))


def test_score_counts_rejects_counts_of_the_wrong_shape_or_kind():
    from driftscope.plugins.detectors.chi2 import Chi2Detector, Chi2Settings
    from driftscope.plugins.detectors.psi import PSIDetector, PSISettings

    psi = PSIDetector(PSISettings(type="psi", bins=4))
    numeric = psi.fit(FeatureSample("x", "numeric", np.arange(100.0)))
    categorical = psi.fit(FeatureSample("c", "categorical", np.array(["a", "b"], dtype=object)))
    assert PSIDetector.scores_counts and Chi2Detector.scores_counts
    with pytest.raises(ValueError, match="bin counts"):
        psi.score_counts(numeric, BinCounts(np.array([1, 2])))
    with pytest.raises(TypeError):
        psi.score_counts(numeric, CategoryCounts({"a": 1}))
    with pytest.raises(TypeError):
        psi.score_counts(categorical, count_bins(np.array([1.0]), psi.bin_edges(numeric)))
    with pytest.raises(TypeError):
        psi.bin_edges(categorical)
    chi2 = Chi2Detector(Chi2Settings(type="chi2"))
    profile = chi2.fit(FeatureSample("c", "categorical", np.array(["a", "b"], dtype=object)))
    with pytest.raises(TypeError):
        chi2.score_counts(profile, BinCounts(np.array([1, 2])))
    with pytest.raises(ValueError, match="empty"):
        chi2.score_counts(profile, CategoryCounts({}, missing=3))


def test_batched_counts_equal_one_feature_at_a_time(store):
    store.register_model(_schema())
    now = datetime.now(UTC)
    store.write_predictions(_records(now))
    start, end = now - timedelta(hours=1), now + timedelta(seconds=1)
    edges = {"x": EDGES, "y": np.array([2.5, 7.0, 11.0])}
    for batched in (
        store.bin_counts_many("wide", edges, start, end),
        Store.bin_counts_many(store, "wide", edges, start, end),  # the looping fallback
    ):
        assert list(batched) == ["x", "y"]
        for name, e in edges.items():
            single = store.bin_counts("wide", name, e, start, end)
            assert batched[name].counts.tolist() == single.counts.tolist()
            assert (batched[name].missing, batched[name].infinite) == (
                single.missing,
                single.infinite,
            )
    assert store.bin_counts_many("wide", edges, end, end + timedelta(hours=1))["x"].total == 0
    assert store.bin_counts_many("wide", {}, start, end) == {}
    assert store.bin_counts_many("wide", {"x": np.empty(0)}, start, end)["x"].counts.tolist() == [
        12
    ]
    cats = store.category_counts_many("wide", ["colour"], start, end)
    assert cats == Store.category_counts_many(store, "wide", ["colour"], start, end)
    assert cats["colour"] == store.category_counts("wide", "colour", start, end)
    assert store.category_counts_many("wide", [], start, end) == {}
    with pytest.raises(StoreError):
        store.bin_counts_many("wide", {"colour": EDGES}, start, end)
    with pytest.raises(StoreError):
        store.bin_counts_many("wide", {"x": [1.0, 0.0]}, start, end)


def test_several_categorical_features_are_counted_in_one_statement(store):
    schema = ModelSchema(
        name="cats",
        features=(FeatureSpec("a", "categorical"), FeatureSpec("b", "categorical")),
    )
    store.register_model(schema)
    now = datetime.now(UTC)
    values = [("x", "p"), ("x", None), (None, "p"), ("y", "q"), ("x", "q")]
    store.write_predictions(
        [PredictionRecord(uuid.uuid4().hex, "cats", now, {"a": a, "b": b}, "c1") for a, b in values]
    )
    start, end = now - timedelta(hours=1), now + timedelta(seconds=1)
    counted = store.category_counts_many("cats", ["a", "b"], start, end)
    assert counted["a"] == CategoryCounts({"x": 3, "y": 1}, 1)
    assert counted["b"] == CategoryCounts({"p": 2, "q": 2}, 1)


def _large_runtime(tmp_path, url: str) -> tuple[Runtime, int]:
    """A runtime whose monitor samples its window: binned, psi and ks on 2,500+ rows."""
    plugins = create_plugin_manager(entry_points=False)
    plugins.register(BinnedPlugin(), "binned-plugin")
    path = write_config(
        tmp_path,
        url,
        detectors=[
            {"type": "binned", "prediction": False},
            {"type": "psi", "prediction": False},
            {"type": "ks", "prediction": False},
        ],
        monitor={"window": {"last": "1h", "min_samples": 50, "max_rows": 1000}},
    )
    rt = Runtime(load_config(path, plugins), plugins)
    rows = pd.read_csv(demo_model(tmp_path).reference_path)
    rows = pd.concat([rows] * math.ceil(2500 / len(rows)), ignore_index=True)
    start = datetime.now(UTC) - timedelta(minutes=50)
    rt.store.write_predictions(
        traffic(rt.models["cancer"], rows, start=start, spacing=timedelta(seconds=1))
    )
    return rt, len(rows)


def test_the_engine_counts_all_features_in_one_batched_call_per_detector(
    tmp_path, sqlite_url, monkeypatch
):
    rt, rows = _large_runtime(tmp_path, sqlite_url)
    try:
        calls: list[list[str]] = []
        batched = rt.store.bin_counts_many

        def spy(model: str, edges: Any, start: datetime, end: datetime) -> Any:
            calls.append(list(edges))
            return batched(model, edges, start, end)

        def single(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("a sampled window is counted in one batched call")

        monkeypatch.setattr(rt.store, "bin_counts_many", spy)
        monkeypatch.setattr(rt.store, "bin_counts", single)
        report = rt.engine.run("cancer-drift")
        features = rt.models["cancer"].schema.feature_names
        assert report.status == "ok" and report.window.sampled_rows == 1000
        assert calls == [features, features]  # binned, then psi: one call each
        psi = [r for r in report.results if r.detector == "psi"]
        assert len(psi) == len(features)
        for row in psi:
            assert row.status == "ok" and row.details["counted_in_store"] is True
            assert row.details["current_size"] == rows

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise StoreError("counting failed (postgresql): connection lost")

        monkeypatch.setattr(rt.store, "bin_counts_many", broken)
        failed = rt.engine.run("cancer-drift")
        assert failed.status == "ok"  # KS on the sample still scored
        for row in failed.results:
            if row.detector == "ks":
                assert row.status == "ok"
            else:
                assert row.status == "failed"
                assert row.error == "StoreError: counting failed (postgresql): connection lost"
    finally:
        rt.close()
