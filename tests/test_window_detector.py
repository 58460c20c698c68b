"""The window detector contract: a plugin that sees every column of a window at once.

Each test registers a small outside-style plugin through the public surface only and runs
the real engine on a real SQLite store with the demo model.
"""

from __future__ import annotations

import math
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import numpy as np
import pytest

from driftscope import (
    DetectorRecord,
    DetectorSettings,
    WindowDetector,
    WindowResult,
    WindowSample,
    hookimpl,
)
from driftscope.core.config.yaml_file import load_config
from driftscope.core.contracts.store import PredictionRecord
from driftscope.core.plugin_system.manager import contract_problems, create_plugin_manager
from driftscope.core.runtime import Runtime
from support.factories import demo_model, log_traffic, write_config


class MissingShareDetector(WindowDetector[DetectorSettings, dict[str, float]]):
    """The share of missing values per feature, reference against window (uncleaned data)."""

    fits: ClassVar[int] = 0
    seen: ClassVar[list[WindowSample]] = []

    @property
    def threshold(self) -> float:
        return 0.1

    def fit(self, reference: WindowSample) -> dict[str, float]:
        type(self).fits += 1
        return {name: float(np.isnan(v).mean()) for name, v in reference.features.items()}

    def score(self, profile: dict[str, float], current: WindowSample) -> list[WindowResult]:
        type(self).seen.append(current)
        out = []
        for name, values in current.features.items():
            share = float(np.isnan(values).mean())
            rise = share - profile[name]
            out.append(WindowResult(rise, None, 0.1, rise >= 0.1, kind="feature", feature=name))
        labelled = current.labelled()
        out.append(
            WindowResult(
                float(labelled.mean()),
                None,
                0.1,
                False,
                details={"rows": current.rows, "labelled": int(labelled.sum())},
            )
        )
        return out


class EmptyDetector(MissingShareDetector):
    def score(self, profile: dict[str, float], current: WindowSample) -> list[WindowResult]:
        return []


class RaisingDetector(MissingShareDetector):
    def fit(self, reference: WindowSample) -> dict[str, float]:
        raise ValueError("this reference has no probabilities")


class OneAtATime(MissingShareDetector):
    """Says it is not thread-safe; counts the calls inside score at once, and holds the
    first one until the test lets it go."""

    thread_safe = False
    guard = threading.Lock()
    inside: ClassVar[int] = 0
    most: ClassVar[int] = 0
    entered: ClassVar[threading.Event] = threading.Event()
    overlapped: ClassVar[threading.Event] = threading.Event()
    release: ClassVar[threading.Event] = threading.Event()

    def score(self, profile: dict[str, float], current: WindowSample) -> list[WindowResult]:
        cls = type(self)
        with cls.guard:
            cls.inside += 1
            cls.most = max(cls.most, cls.inside)
            if cls.inside > 1:
                cls.overlapped.set()
        cls.entered.set()
        try:
            cls.release.wait(timeout=120)
            return super().score(profile, current)
        finally:
            with cls.guard:
                cls.inside -= 1


class WindowPlugin:
    @hookimpl
    def driftscope_detectors(self) -> Any:
        yield DetectorRecord("missing_share", MissingShareDetector)
        yield DetectorRecord("one_at_a_time", OneAtATime)
        yield DetectorRecord("empty", EmptyDetector)
        yield DetectorRecord("raising", RaisingDetector)


def _runtime(tmp_path, sqlite_url, detectors: list[dict[str, Any]]) -> Runtime:
    plugins = create_plugin_manager(entry_points=False)
    plugins.register(WindowPlugin(), "window-plugin")
    path = write_config(tmp_path, sqlite_url, detectors=detectors)
    return Runtime(load_config(path, plugins), plugins)


@pytest.fixture(autouse=True)
def _reset() -> None:
    MissingShareDetector.fits = 0
    MissingShareDetector.seen = []


def test_a_window_detector_sees_raw_values_and_its_results_reach_the_report(
    tmp_path, sqlite_url
) -> None:
    rt = _runtime(tmp_path, sqlite_url, [{"type": "missing_share"}])
    try:
        records = log_traffic(rt.store, rt.models["cancer"], demo_model(tmp_path), drift=False)
        # the same rows again, a quarter of them with "mean radius" missing
        broken = []
        for i, record in enumerate(records):
            features = dict(record.features)
            if i % 4 == 0:
                features["mean radius"] = math.nan
            when = datetime.now(UTC) - timedelta(minutes=5)
            broken.append(PredictionRecord(uuid.uuid4().hex, "cancer", when, features, "1"))
        rt.store.write_predictions(broken)
        report = rt.engine.run("cancer-drift")
        rows = {r.feature: r for r in report.results if r.detector == "missing_share"}
        n = len(records)
        expected = math.ceil(n / 4) / (2 * n)
        assert rows["mean radius"].kind == "feature"
        assert rows["mean radius"].statistic == pytest.approx(expected)
        assert rows["mean radius"].drifted
        assert [f for f, r in rows.items() if r.drifted] == ["mean radius"]
        whole = rows[None]
        assert whole.kind == "multivariate"
        labelled = sum(r.label is not None for r in records)
        assert whole.details == {"rows": 2 * n, "labelled": labelled}
        (sample,) = MissingShareDetector.seen
        assert list(sample.features) == rt.models["cancer"].schema.feature_names
        assert sample.task == "classification" and sample.classes == ("0", "1")
        assert sample.probabilities is not None and sample.probabilities.shape == (2 * n, 2)
        rt.engine.run("cancer-drift")
        assert MissingShareDetector.fits == 1, "the second run re-fitted the reference"
        saved = rt.store.get_report(report.id)
        assert saved is not None and saved.to_dict() == report.to_dict()
    finally:
        rt.close()


@pytest.mark.parametrize(
    ("detector", "error"),
    [
        ("empty", "non-empty list of WindowResult"),
        ("raising", "ValueError: this reference has no probabilities"),
    ],
)
def test_a_broken_window_detector_fails_its_own_result_only(
    tmp_path, sqlite_url, detector: str, error: str
) -> None:
    rt = _runtime(tmp_path, sqlite_url, [{"type": detector}, {"type": "ks"}])
    try:
        log_traffic(rt.store, rt.models["cancer"], demo_model(tmp_path), drift=False)
        report = rt.engine.run("cancer-drift")
        (failed,) = [r for r in report.results if r.detector == detector]
        assert failed.status == "failed" and failed.kind == "multivariate"
        assert error in (failed.error or "")
        assert failed.threshold == 0.1
        assert sum(r.detector == "ks" and r.status == "ok" for r in report.results) == 31
        assert rt.plugins.errors[("window-plugin", f"detector:{detector}")] == 1
    finally:
        rt.close()


def test_a_window_detector_that_is_not_thread_safe_is_called_one_run_at_a_time(
    tmp_path, sqlite_url
) -> None:
    # runs overlap (the scheduler, POST /run, backfills) and share the monitor's instance:
    # a detector that sets thread_safe = False must never be inside score twice at once
    OneAtATime.inside = OneAtATime.most = 0
    for event in (OneAtATime.entered, OneAtATime.overlapped, OneAtATime.release):
        event.clear()
    rt = _runtime(tmp_path, sqlite_url, [{"type": "one_at_a_time"}])
    try:
        log_traffic(rt.store, rt.models["cancer"], demo_model(tmp_path), drift=False)
        read_window = rt.store.read_window
        reads: list[int] = []
        second_has_its_window = threading.Event()

        def counted(*args: Any, **kwargs: Any) -> Any:
            data = read_window(*args, **kwargs)
            reads.append(1)
            if len(reads) == 2:
                second_has_its_window.set()
            return data

        rt.store.read_window = counted  # type: ignore[method-assign]
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(rt.engine.run, "cancer-drift")
            assert OneAtATime.entered.wait(60), "the first run never reached score"
            second = pool.submit(rt.engine.run, "cancer-drift")
            assert second_has_its_window.wait(60), "the second run never read its window"
            # from here the second run only computes: held back by the engine, it cannot
            # enter score within this deadline; unheld, it does in milliseconds
            overlapped = OneAtATime.overlapped.wait(timeout=3)
            OneAtATime.release.set()
            reports = [first.result(120), second.result(120)]
    finally:
        OneAtATime.release.set()
        rt.close()
    assert not overlapped and OneAtATime.most == 1
    for report in reports:
        rows = [r for r in report.results if r.detector == "one_at_a_time"]
        assert rows and all(r.status == "ok" for r in rows)


def test_the_plugin_manager_names_what_a_window_detector_misses() -> None:
    class Incomplete(WindowDetector[DetectorSettings, None]):
        @property
        def threshold(self) -> float:
            return 0.5

        def fit(self, reference: WindowSample) -> None:
            return None

    assert contract_problems("detector", Incomplete) == ["does not implement score"]
    assert contract_problems("detector", MissingShareDetector) == []


def test_a_window_detector_sees_every_missing_category_as_none(tmp_path) -> None:
    """The empty string is a missing category everywhere (one rule): a window detector gets
    it as None, like a JSON null, not as a category of its own."""
    from driftscope.core.monitoring.engine import _with_none_missing

    values = np.array(["red", "", None, float("nan"), "blue"], dtype=object)
    assert _with_none_missing(values, "categorical").tolist() == ["red", None, None, None, "blue"]
    numbers = np.array([1.0, np.nan])
    assert _with_none_missing(numbers, "numeric") is numbers
