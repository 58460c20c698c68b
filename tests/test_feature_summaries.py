"""Per-feature summaries in reports: each column's counts, moments and histogram on both
sides, against oracles that do not share the code (``statistics`` on exact fractions,
``collections.Counter``, ``numpy.histogram``, pandas on the reference CSV)."""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from collections import Counter, namedtuple
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from driftscope.core.config.yaml_file import load_config
from driftscope.core.contracts.report import FeatureSummary, Report
from driftscope.core.monitoring.summaries import (
    HISTOGRAM_BINS,
    OTHER,
    TOP_CATEGORIES,
    UNSEEN,
    describe_reference,
    summarize,
)
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.core.runtime import Runtime
from support.factories import demo_model, log_traffic, traffic, write_config
from support.reports import report as make_report


def _numeric(reference: np.ndarray, current: np.ndarray) -> FeatureSummary:
    return summarize("age", "numeric", "feature", describe_reference(reference, "numeric"), current)


def test_numeric_counts_moments_and_bins_agree_with_independent_oracles():
    rng = np.random.default_rng(3)
    reference = rng.normal(40, 10, 5000)
    reference[:7] = np.nan
    reference[7] = np.inf
    held_out = rng.normal(48, 11, 1200)  # a shifted window, not the reference
    current = held_out.copy()
    current[:36] = np.nan
    current[36:38] = [np.inf, -np.inf]
    current[38] = 1e308  # finite but absurd: out of range, in the last bin
    summary = _numeric(reference, current)

    ref_finite = [float(v) for v in reference if math.isfinite(v)]
    cur_finite = [float(v) for v in current if math.isfinite(v)]
    ref, cur = summary.reference, summary.current
    assert (ref.rows, ref.missing, ref.infinite, ref.out_of_range, ref.unseen) == (5000, 7, 1, 0, 0)
    assert (cur.rows, cur.missing, cur.infinite, cur.unseen) == (1200, 36, 2, 0)
    low, high = min(ref_finite), max(ref_finite)
    assert cur.out_of_range == sum(1 for v in cur_finite if v < low or v > high)
    assert ref.mean == pytest.approx(statistics.mean(ref_finite), rel=1e-12)
    assert ref.std == pytest.approx(statistics.stdev(ref_finite), rel=1e-12)
    assert cur.mean == pytest.approx(float(statistics.mean(cur_finite)), rel=1e-12)
    assert cur.std == pytest.approx(float(statistics.stdev(cur_finite)), rel=1e-12)
    assert (ref.min, ref.max) == (low, high)
    assert (cur.min, cur.max) == (min(cur_finite), 1e308)
    assert ref.distinct is None and cur.distinct is None

    histogram = summary.histogram
    assert histogram is not None and histogram.categories is None
    edges = np.array(histogram.edges)
    assert len(edges) == HISTOGRAM_BINS + 1
    assert edges == pytest.approx(np.linspace(low, high, HISTOGRAM_BINS + 1), rel=1e-12)
    assert np.all(np.diff(edges) > 0)
    for counts, values in ((histogram.reference, ref_finite), (histogram.current, cur_finite)):
        assert len(counts) == HISTOGRAM_BINS + 2
        inner, _ = np.histogram(values, bins=edges)  # numpy's bins: [e_i, e_i+1), last closed
        assert counts[1:-1] == inner.tolist()
        assert counts[0] == sum(1 for v in values if v < edges[0])
        assert counts[-1] == sum(1 for v in values if v > edges[-1])
        assert sum(counts) == len(values)
    assert histogram.current[-1] >= 1  # 1e308 is above the last edge


def test_values_on_the_edges_fall_in_the_bin_they_open_and_the_last_edge_closes_the_last():
    reference = np.linspace(0.0, 20.0, 201)  # edges 0, 1, ..., 20
    edges = np.arange(HISTOGRAM_BINS + 1, dtype=np.float64)
    current = np.concatenate([edges, edges, [-0.0, np.nextafter(20.0, 21.0), -1e-300, 0.5]])
    summary = _numeric(reference, current)
    assert summary.histogram is not None
    assert summary.histogram.edges == edges.tolist()
    expected = [0] * (HISTOGRAM_BINS + 2)
    for v in current.tolist():  # below, [e_i, e_i+1) for each bin but the last, [19, 20], above
        if v < 0.0:
            expected[0] += 1
        elif v > 20.0:
            expected[-1] += 1
        else:
            expected[1 + min(int(v), HISTOGRAM_BINS - 1)] += 1
    assert summary.histogram.current == expected
    assert expected[1] == 4 and expected[HISTOGRAM_BINS] == 4  # 0, 0, -0.0, 0.5 | 19, 19, 20, 20


def test_out_of_range_counts_finite_values_past_either_end_of_the_reference():
    current = np.array([-0.5, -1e-9, 0.0, 10.0, 10.5, np.inf])
    summary = _numeric(np.linspace(0.0, 10.0, 101), current)
    assert summary.current.out_of_range == 3  # -0.5, -1e-9 and 10.5; the ends are inside
    assert summary.current.infinite == 1
    assert summary.histogram is not None
    assert summary.histogram.current[0] == 2 and summary.histogram.current[-1] == 1


def test_absurd_values_keep_every_number_finite_and_json_ready():
    reference = np.array([-1e308, 0.0, 1e308, 1e308])
    current = np.array([1e308, 1e308, 1e308, 5.0])
    summary = _numeric(reference, current)
    assert summary.current.mean == pytest.approx(float(statistics.mean(current.tolist())))
    assert summary.reference.mean == pytest.approx(float(statistics.mean(reference.tolist())))
    assert summary.current.std == pytest.approx(float(statistics.stdev(current.tolist())))
    assert summary.histogram is not None
    assert all(math.isfinite(e) for e in summary.histogram.edges or [])
    assert sum(summary.histogram.current) == 4
    # strict JSON: no Infinity or NaN anywhere
    json.dumps(summary.__dict__, default=lambda o: o.__dict__, allow_nan=False)


def test_a_constant_or_empty_numeric_reference():
    constant = _numeric(np.full(50, 3.0), np.array([3.0, 3.0, 4.0, np.nan]))
    assert constant.reference.std == 0.0 and constant.current.out_of_range == 1
    assert constant.histogram is not None
    edges = np.array(constant.histogram.edges)
    assert edges[0] < 3.0 < edges[-1]  # numpy's unit range around a single value
    assert sum(constant.histogram.reference) == 50 and sum(constant.histogram.current) == 3

    empty = _numeric(np.array([np.nan, np.inf]), np.array([1.0, 2.0]))
    assert empty.histogram is None  # no finite reference value to fix bins on
    assert empty.reference.mean is None and empty.reference.std is None
    assert empty.current.mean == 1.5 and empty.current.out_of_range == 0


def test_categorical_top_categories_other_unseen_and_missing():
    rng = np.random.default_rng(5)
    names = [f"c{i:02d}" for i in range(25)]
    weights = np.arange(25, 0, -1) / np.arange(25, 0, -1).sum()
    reference = rng.choice(names, size=4000, p=weights).astype(object)
    reference[:10] = None
    current = rng.choice([*names[:22], "new-a", "new-b"], size=900).astype(object)
    current[:15] = None
    summary = summarize(
        "colour",
        "categorical",
        "feature",
        describe_reference(reference, "categorical"),
        current,
    )
    ref_counts = Counter(v for v in reference if v is not None)
    cur_counts = Counter(v for v in current if v is not None)
    ranked = sorted(ref_counts, key=lambda c: (-ref_counts[c], c))
    top = ranked[:TOP_CATEGORIES]
    histogram = summary.histogram
    assert histogram is not None and histogram.edges is None
    assert histogram.categories == [*top, OTHER, UNSEEN]
    assert histogram.reference == [
        *(ref_counts[c] for c in top),
        sum(ref_counts[c] for c in ranked[TOP_CATEGORIES:]),
        0,
    ]
    unseen = cur_counts["new-a"] + cur_counts["new-b"]
    assert histogram.current == [
        *(cur_counts[c] for c in top),
        sum(n for c, n in cur_counts.items() if c in ranked[TOP_CATEGORIES:]),
        unseen,
    ]
    ref, cur = summary.reference, summary.current
    assert (ref.rows, ref.missing, ref.unseen, ref.distinct) == (4000, 10, 0, len(ref_counts))
    assert (cur.rows, cur.missing, cur.unseen, cur.distinct) == (900, 15, unseen, len(cur_counts))
    assert cur.out_of_range == 0 and cur.infinite == 0
    assert ref.mean is None and cur.max is None


def test_a_reports_dict_is_a_deep_copy_equal_to_dataclasses_asdict():
    point = namedtuple("point", "x y")
    details = {
        "ecdf": {"x": [0.5, 1.5], "reference": [0.25, 1.0]},
        "edges": (0.0, 1.0),
        "at": point(1.0, [2.0]),
        "numpy": np.float64(0.5),
        "array": np.arange(3.0),
        7: {"nested": [[1, None, "a", True]]},
    }
    report = make_report({"age": True, "income": False})
    report.results[0].details = details
    report.features = [_numeric(np.arange(100.0), np.arange(50.0, 150.0))]
    expected = dataclasses.asdict(report)
    data = report.to_dict()
    expected.update(drifted=True, created_at=report.created_at.isoformat())
    expected["window"].update(
        start=report.window.start.isoformat(), end=report.window.end.isoformat()
    )
    got = data["results"][0]["details"]
    np.testing.assert_array_equal(got.pop("array"), expected["results"][0]["details"].pop("array"))
    assert data == expected
    assert type(got["edges"]) is tuple and type(got["at"]) is point
    assert type(got["numpy"]) is np.float64
    # nothing in the dict is the report's own: changing it changes nothing in the report
    got["ecdf"]["x"].append(9.0)
    got["at"].y.append(9.0)
    got[7]["nested"][0][0] = 99
    data["features"][0]["histogram"]["current"][0] = -1
    assert details["ecdf"]["x"] == [0.5, 1.5] and details["at"].y == [2.0]
    assert details[7]["nested"] == [[1, None, "a", True]]
    assert report.features[0].histogram is not None
    assert report.features[0].histogram.current[0] != -1
    assert report.to_dict()["results"][0]["details"]["array"] is not details["array"]


def test_a_report_round_trips_its_summaries_and_reads_old_reports_without_them():
    summary = _numeric(np.arange(100.0), np.arange(50.0, 150.0))
    report = make_report({"age": True})
    report.features = [summary]
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["features"][0]["histogram"]["categories"] is None
    assert data["features"][0]["current"]["out_of_range"] == 50
    assert Report.from_dict(data) == report
    del data["features"]  # a report saved before summaries existed
    assert Report.from_dict(data).features == []


# -- in the engine -------------------------------------------------------------------------------


def _runtime(tmp_path, url: str, **kwargs) -> Runtime:
    plugins = create_plugin_manager(entry_points=False)
    return Runtime(load_config(write_config(tmp_path, url, **kwargs), plugins), plugins)


def test_the_engine_summarises_every_column_from_what_its_detectors_saw(tmp_path, sqlite_url):
    rt = _runtime(tmp_path, sqlite_url)
    try:
        demo = demo_model(tmp_path)
        log_traffic(rt.store, rt.models["cancer"], demo, drift=True)
        report = rt.engine.run("cancer-drift")
        names = [s.name for s in report.features]
        assert names == [*demo.feature_names, "prediction", "probability:1"]
        by_name = {s.name: s for s in report.features}
        prediction = by_name["prediction"]
        assert prediction.kind == "categorical" and prediction.result_kind == "prediction"
        assert by_name["probability:1"].kind == "numeric"
        assert not any(s.sampled for s in report.features)

        # the reference side, against pandas on the reference CSV
        frame = pd.read_csv(demo.reference_path)
        radius = by_name["mean radius"]
        assert radius.reference.rows == len(frame)
        assert radius.reference.mean == pytest.approx(frame["mean radius"].mean(), rel=1e-12)
        assert radius.reference.std == pytest.approx(frame["mean radius"].std(), rel=1e-12)
        # the current side counts what the detectors counted
        ks = next(r for r in report.results if r.detector == "ks" and r.feature == "mean radius")
        assert radius.current.rows == report.window.rows
        assert radius.current.missing == ks.details["current_missing"]
        assert radius.current.rows - radius.current.missing == ks.details["current_size"]
        assert radius.current.mean > radius.reference.mean  # the drift shifts it up

        saved = rt.store.get_report(report.id)
        assert saved is not None and saved.features == report.features
    finally:
        rt.close()


def test_a_sampled_window_is_summarised_from_its_sample_and_says_so(tmp_path, sqlite_url):
    rt = _runtime(
        tmp_path,
        sqlite_url,
        detectors=[{"type": "psi", "prediction": False}],
        monitor={"window": {"last": "1h", "min_samples": 50, "max_rows": 1000}},
    )
    try:
        rows = pd.read_csv(demo_model(tmp_path).reference_path)
        rows = pd.concat([rows] * math.ceil(2500 / len(rows)), ignore_index=True)
        start = datetime.now(UTC) - timedelta(minutes=50)
        rt.store.write_predictions(
            traffic(rt.models["cancer"], rows, start=start, spacing=timedelta(seconds=1))
        )
        report = rt.engine.run("cancer-drift")
        assert report.window.sampled_rows == 1000 and report.window.rows == len(rows)
        assert report.features and all(s.sampled for s in report.features)
        assert all(s.current.rows == 1000 for s in report.features)
    finally:
        rt.close()


def test_the_reference_side_is_described_once_and_cached(tmp_path, sqlite_url, monkeypatch):
    from driftscope.core.monitoring import engine as engine_module

    rt = _runtime(tmp_path, sqlite_url)
    try:
        log_traffic(rt.store, rt.models["cancer"], demo_model(tmp_path), drift=False)
        described: list[str] = []
        real = engine_module.describe_reference

        def counting(values, kind):  # type: ignore[no-untyped-def]
            described.append(kind)
            return real(values, kind)

        monkeypatch.setattr(engine_module, "describe_reference", counting)
        first = rt.engine.run("cancer-drift")
        assert len(described) == len(first.features)
        second = rt.engine.run("cancer-drift")
        assert len(described) == len(first.features)  # nothing described again
        assert [s.reference for s in second.features] == [s.reference for s in first.features]
    finally:
        rt.close()
