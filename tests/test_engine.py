"""The engine on a real store with the real demo model: drift told apart from stability."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from driftscope import Detector, DetectorRecord, DetectorResult, FeatureSample, hookimpl
from driftscope.core.config.yaml_file import load_config
from driftscope.core.contracts.store import PredictionRecord
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.core.runtime import Runtime
from support.factories import demo_model, held_out_rows, log_traffic, traffic, write_config

DRIFTED = ["mean radius", "mean texture", "mean perimeter", "radius error", "texture error"]


def make_runtime(tmp_path, store_url, *, plugins=None, **config_kwargs) -> Runtime:
    manager = plugins or create_plugin_manager(entry_points=False)
    path = write_config(tmp_path, store_url, **config_kwargs)
    return Runtime(load_config(path, manager), manager)


@pytest.fixture
def runtime(tmp_path, sqlite_url):
    rt = make_runtime(tmp_path, sqlite_url)
    yield rt
    rt.close()


def _by(report, detector: str) -> dict[str, object]:
    return {r.feature: r for r in report.results if r.detector == detector}


def test_stable_traffic_shows_no_drift(runtime, tmp_path):
    """Held-out rows of the reference's population, at the documented thresholds (ks and
    chi2 at p 0.05 with the default Bonferroni correction, psi 0.25, a 15% accuracy drop).

    The margins are part of the test: no PSI comes near 0.25 and no corrected p-value near
    0.05. One raw KS p-value is below 0.05 (worst symmetry, 0.046): with 31 KS tests about
    one stable feature in a run clears alpha by chance, which is what the correction is for.
    """
    demo = demo_model(tmp_path)
    log_traffic(runtime.store, runtime.models["cancer"], demo, drift=False)
    report = runtime.engine.run("cancer-drift")
    assert report.status == "ok"
    assert not report.drifted, [(r.detector, r.feature) for r in report.results if r.drifted]
    assert (report.window.rows, report.window.labelled_rows) == (398, 114)
    assert all(r.status == "ok" for r in report.results)
    # not the reference compared with itself: every statistic is scipy's on these rows
    reference, rows = pd.read_csv(demo.reference_path), held_out_rows(demo)
    ks, psi = _by(report, "ks"), _by(report, "psi")
    for name in demo.feature_names:
        expected = stats.ks_2samp(reference[name], rows[name])
        assert ks[name].statistic == pytest.approx(expected.statistic, rel=1e-12)
        assert ks[name].p_value == pytest.approx(expected.pvalue, rel=1e-6)
        assert ks[name].statistic > 0 and psi[name].statistic > 0
    features = [r for r in report.results if r.kind == "feature"]
    assert max(r.statistic for r in features if r.detector == "psi") < 0.2
    assert min(r.details["p_value_adjusted"] for r in features if r.detector == "ks") > 0.5
    assert [n for n in demo.feature_names if ks[n].p_value < 0.05] == ["worst symmetry"]
    performance = _by(report, "performance")[None]
    assert performance.statistic > performance.threshold + 0.1
    saved = runtime.store.get_report(report.id)
    assert saved is not None and saved.to_dict() == report.to_dict()


#: Features shifted by these many standard deviations, chosen so the KS p-values of the
#: held-out rows against the reference straddle 0.05 under each correction (below).
SHIFTS = {"mean radius": 0.35, "worst perimeter": 0.17, "mean area": 0.13}
#: The monitor's features: the shifted ones, worst symmetry (raw p 0.046 unshifted: a chance
#: flag of held-out data) and two that stay clearly stable.
STRADDLING = [*SHIFTS, "worst symmetry", "mean perimeter", "worst radius"]
#: Raw p-values about 9e-6, 0.005, 0.019, 0.046, 0.90, 0.87 (m = 6, alpha 0.05).
#: Bonferroni (p * 6): 5e-5, 0.030, 0.116, 0.278, 1, 1 -> the first two drift.
#: Benjamini–Hochberg (p * 6 / rank, then the step-up): 5e-5, 0.015, 0.039, 0.070, 0.90,
#: 0.90 -> the first three drift. None: the first four.
DRIFTING = {
    "none": {"mean radius", "worst perimeter", "mean area", "worst symmetry"},
    "fdr": {"mean radius", "worst perimeter", "mean area"},
    "bonferroni": {"mean radius", "worst perimeter"},
}


@pytest.mark.parametrize("correction", ["none", "bonferroni", "fdr"])
def test_each_feature_is_decided_on_its_corrected_p_value(tmp_path, sqlite_url, correction):
    """The decisions of a whole monitor, checked against scipy's KS p-values corrected by
    statsmodels: a decision taken on the raw p-value differs for bonferroni and fdr."""
    rt = make_runtime(
        tmp_path,
        sqlite_url,
        detectors=[{"type": "ks", "p_value": 0.05, "prediction": False}],
        monitor={"features": STRADDLING, "correction": correction},
    )
    try:
        demo = demo_model(tmp_path)
        rows = held_out_rows(demo)
        for name, shift in SHIFTS.items():
            rows[name] = rows[name] + shift * rows[name].std()
        start = datetime.now(UTC) - timedelta(minutes=50)
        rt.store.write_predictions(
            traffic(rt.models["cancer"], rows, start=start, spacing=timedelta(seconds=5))
        )
        report = rt.engine.run("cancer-drift")
    finally:
        rt.close()
    reference = pd.read_csv(demo.reference_path)
    raw = np.array([stats.ks_2samp(reference[n], rows[n]).pvalue for n in STRADDLING])
    if correction == "none":
        adjusted, reject = raw, raw < 0.05
    else:
        method = {"bonferroni": "bonferroni", "fdr": "fdr_bh"}[correction]
        reject, adjusted, _, _ = multipletests(raw, alpha=0.05, method=method)
    ks = _by(report, "ks")
    assert set(ks) == set(STRADDLING) and report.status == "ok"
    for name, p, p_adjusted, drifted in zip(STRADDLING, raw, adjusted, reject, strict=True):
        row = ks[name]
        assert row.p_value == pytest.approx(p, rel=1e-6), name
        assert row.details["correction"] == correction
        assert row.details["p_value_adjusted"] == pytest.approx(p_adjusted, rel=1e-6), name
        assert row.drifted is bool(drifted), (name, p, p_adjusted)
    assert {n for n in STRADDLING if ks[n].drifted} == DRIFTING[correction]
    # the test bites only if the raw p-values straddle alpha where the corrections differ
    assert {n for n, p in zip(STRADDLING, raw, strict=True) if p < 0.05} == DRIFTING["none"]
    assert report.drifted


def test_drifted_features_are_told_apart_from_stable_ones(runtime, tmp_path):
    log_traffic(runtime.store, runtime.models["cancer"], demo_model(tmp_path), drift=True)
    report = runtime.engine.run("cancer-drift")
    ks, psi = _by(report, "ks"), _by(report, "psi")
    for name in DRIFTED:
        assert ks[name].drifted and psi[name].drifted, name
        assert ks[name].details["p_value_adjusted"] >= ks[name].p_value
    for name in ("worst symmetry", "mean fractal dimension", "smoothness error"):
        assert not ks[name].drifted and not psi[name].drifted, name
    performance = _by(report, "performance")[None]
    assert performance.kind == "performance" and performance.drifted
    assert performance.statistic < performance.threshold
    kinds = {r.kind for r in report.results}
    assert kinds == {"feature", "prediction", "performance"}
    assert any(r.feature == "prediction" and r.detector == "chi2" for r in report.results)


def test_missing_and_infinite_values_are_counted(runtime, tmp_path):
    demo = demo_model(tmp_path)
    model = runtime.models["cancer"]
    records = log_traffic(runtime.store, model, demo, drift=False)
    now = datetime.now(UTC) - timedelta(minutes=1)
    bad = []
    for i, value in enumerate([math.nan, math.nan, math.inf, -math.inf]):
        features = dict(records[i].features)
        features["mean radius"] = value
        bad.append(PredictionRecord(uuid.uuid4().hex, "cancer", now, features, "1"))
    runtime.store.write_predictions(bad)
    row = _by(runtime.engine.run("cancer-drift"), "ks")["mean radius"]
    assert row.status == "ok"
    assert row.details["current_missing"] == 2
    assert row.details["current_infinite"] == 2
    assert row.details["current_size"] == len(records)


def test_an_empty_window_waits_for_the_first_predictions_then_is_insufficient_data(
    runtime, tmp_path
):
    report = runtime.engine.run("cancer-drift")
    assert report.status == "waiting_for_predictions"  # the model never had one
    assert report.results == [] and not report.drifted
    records = log_traffic(
        runtime.store, runtime.models["cancer"], demo_model(tmp_path), drift=False
    )
    later = max(r.timestamp for r in records) + timedelta(hours=2)  # past the 1h window
    report = runtime.engine.run("cancer-drift", now=later)
    assert report.status == "insufficient_data" and report.window.rows == 0


class CountingDetector(Detector):
    """Counts fits, to prove profiles are cached; raises on one feature."""

    thread_safe = False  # it counts in a class attribute
    fits = 0
    threshold = 1e9

    def fit(self, reference: FeatureSample) -> float:
        type(self).fits += 1
        return float(np.median(reference.values))

    def score(self, profile: float, current: FeatureSample) -> DetectorResult:
        if current.name == "mean area":
            raise ValueError("cannot score mean area")
        return DetectorResult(abs(float(np.median(current.values)) - profile), None, 1e9, False)


class CountingPlugin:
    @hookimpl
    def driftscope_detectors(self):
        yield DetectorRecord("counting", CountingDetector)


def test_a_raising_detector_fails_its_part_only_and_profiles_are_cached(
    tmp_path, sqlite_url, caplog
):
    plugins = create_plugin_manager(entry_points=False)
    plugins.register(CountingPlugin(), "counting-plugin")
    rt = make_runtime(
        tmp_path,
        sqlite_url,
        plugins=plugins,
        detectors=[{"type": "counting", "prediction": False}, {"type": "ks"}],
    )
    try:
        log_traffic(rt.store, rt.models["cancer"], demo_model(tmp_path), drift=False)
        first = rt.engine.run("cancer-drift")
        fits = CountingDetector.fits
        assert fits == 30
        failed = [r for r in first.results if r.status == "failed"]
        assert [(r.detector, r.feature) for r in failed] == [("counting", "mean area")]
        assert "ValueError: cannot score mean area" in failed[0].error
        assert sum(r.detector == "ks" and r.status == "ok" for r in first.results) == 31
        assert plugins.errors[("counting-plugin", "detector:counting")] == 1
        assert "counting-plugin" in caplog.text
        # a plugin's results carry the sample sizes too, though it never reports them
        counted = next(r for r in first.results if r.detector == "counting" and r.status == "ok")
        assert counted.details["reference_size"] == len(rt.models["cancer"].reference.predictions)
        assert counted.details["current_size"] == first.window.rows
        rt.engine.run("cancer-drift")
        assert CountingDetector.fits == fits, "the second run re-fitted the reference"
        assert rt.profile_cache.hits >= 30
    finally:
        rt.close()


@pytest.mark.postgres
def test_the_engine_runs_on_postgresql(tmp_path, postgres_url):
    rt = make_runtime(tmp_path, postgres_url)
    try:
        log_traffic(rt.store, rt.models["cancer"], demo_model(tmp_path), drift=True)
        report = rt.engine.run("cancer-drift")
        assert _by(report, "ks")["mean radius"].drifted
        assert not _by(report, "ks")["worst symmetry"].drifted
    finally:
        rt.close()


def test_parallel_scoring_gives_the_same_report_as_sequential(tmp_path, sqlite_url, monkeypatch):
    monkeypatch.setattr(
        "driftscope.core.monitoring.engine.PARALLEL_MIN_ROWS", 0
    )  # the demo window is small
    rt = make_runtime(tmp_path, sqlite_url, extra={"threads": 1})
    try:
        log_traffic(rt.store, rt.models["cancer"], demo_model(tmp_path), drift=True)
        sequential = rt.engine.run("cancer-drift")
        rt.engine.threads = 4
        parallel = rt.engine.run("cancer-drift")
        assert rt.engine._pool is not None
    finally:
        rt.close()
    assert rt.engine._pool is None  # closed with the runtime
    assert [r.__dict__ for r in parallel.results] == [r.__dict__ for r in sequential.results]
