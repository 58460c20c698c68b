"""The ``performance`` detector: metrics against sklearn, the relative-drop rule, edge cases."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn import metrics

from driftscope import LabelledSample
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.plugins.detectors.performance import PerformanceDropDetector, PerformanceSettings

BINARY = ("benign", "malignant")


def _detector(**settings: object) -> PerformanceDropDetector:
    return PerformanceDropDetector(PerformanceSettings(type="performance", **settings))


def _classified(
    rng: np.random.Generator,
    n: int,
    accuracy: float,
    classes: tuple[str, ...] = BINARY,
    proba: bool = True,
) -> LabelledSample:
    """Labels, predictions right with probability ``accuracy``, and matching probabilities."""
    k = len(classes)
    truth = rng.integers(0, k, n)
    right = rng.random(n) < accuracy
    pred = np.where(right, truth, (truth + rng.integers(1, k, n)) % k)
    scores = rng.random((n, k)) * 0.5
    scores[np.arange(n), pred] += 1.0
    scores /= scores.sum(axis=1, keepdims=True)
    names = np.array(classes, dtype=object)
    return LabelledSample(
        "classification", names[truth], names[pred], scores if proba else None, classes
    )


def _regressed(rng: np.random.Generator, n: int, noise: float) -> LabelledSample:
    y = rng.normal(10.0, 3.0, n)
    return LabelledSample("regression", y, y + rng.normal(0.0, noise, n))


@pytest.mark.parametrize("metric", ["accuracy", "f1", "roc_auc"])
def test_binary_metrics_match_sklearn(metric: str) -> None:
    rng = np.random.default_rng(0)
    ref, cur = _classified(rng, 2_000, 0.9), _classified(rng, 500, 0.8)
    detector = _detector(metric=metric)
    result = detector.score(detector.fit(ref), cur)
    if metric == "accuracy":
        expected = metrics.accuracy_score(cur.y_true, cur.y_pred)
    elif metric == "f1":
        expected = metrics.f1_score(cur.y_true, cur.y_pred, pos_label="malignant")
    else:
        expected = metrics.roc_auc_score(cur.y_true == "malignant", cur.proba[:, 1])
    assert result.statistic == pytest.approx(expected, rel=1e-12)
    assert result.status == "ok"


@pytest.mark.parametrize("metric", ["f1", "roc_auc"])
def test_multiclass_metrics_are_macro_averaged(metric: str) -> None:
    rng = np.random.default_rng(1)
    classes = ("a", "b", "c")
    ref, cur = _classified(rng, 1_500, 0.85, classes), _classified(rng, 600, 0.7, classes)
    detector = _detector(metric=metric)
    result = detector.score(detector.fit(ref), cur)
    if metric == "f1":
        expected = metrics.f1_score(cur.y_true, cur.y_pred, average="macro")
    else:
        expected = metrics.roc_auc_score(
            cur.y_true, cur.proba, multi_class="ovr", average="macro", labels=list(classes)
        )
    assert result.statistic == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("metric", ["mae", "rmse"])
def test_regression_metrics_match_sklearn(metric: str) -> None:
    rng = np.random.default_rng(2)
    ref, cur = _regressed(rng, 1_000, 1.0), _regressed(rng, 300, 1.05)
    detector = _detector(metric=metric)
    profile = detector.fit(ref)
    result = detector.score(profile, cur)
    fn = metrics.mean_absolute_error if metric == "mae" else metrics.root_mean_squared_error
    assert profile.value == pytest.approx(fn(ref.y_true, ref.y_pred), rel=1e-12)
    assert result.statistic == pytest.approx(fn(cur.y_true, cur.y_pred), rel=1e-12)
    assert result.threshold == pytest.approx(profile.value * 1.15)
    assert not result.drifted


def test_fifteen_percent_rule_on_accuracy() -> None:
    rng = np.random.default_rng(3)
    detector = _detector(metric="accuracy", max_drop=0.15)
    profile = detector.fit(_classified(rng, 5_000, 0.9))
    stable = detector.score(profile, _classified(rng, 2_000, 0.85))
    degraded = detector.score(profile, _classified(rng, 2_000, 0.65))
    assert stable.threshold == pytest.approx(profile.value * 0.85)
    assert not stable.drifted
    assert degraded.drifted
    details = degraded.details
    assert details["metric"] == "accuracy"
    assert details["reference_value"] == profile.value
    assert details["current_value"] == degraded.statistic
    assert details["relative_change"] == pytest.approx(
        (degraded.statistic - profile.value) / profile.value
    )
    assert details["relative_change"] < -0.15
    assert details["labelled_rows"] == 2_000
    json.dumps(details, allow_nan=False)


def test_error_metrics_degrade_when_they_rise() -> None:
    rng = np.random.default_rng(4)
    detector = _detector(metric="rmse", max_drop=0.15)
    profile = detector.fit(_regressed(rng, 5_000, 1.0))
    assert not detector.score(profile, _regressed(rng, 2_000, 1.05)).drifted
    worse = detector.score(profile, _regressed(rng, 2_000, 1.5))
    assert worse.drifted and worse.details["relative_change"] > 0.15
    better = detector.score(profile, _regressed(rng, 2_000, 0.5))
    assert not better.drifted  # a smaller error is never degradation


def test_below_min_samples_is_insufficient_data() -> None:
    rng = np.random.default_rng(5)
    detector = _detector(min_samples=50)
    result = detector.score(detector.fit(_classified(rng, 500, 0.9)), _classified(rng, 12, 0.1))
    assert result.status == "insufficient_data"
    assert result.statistic is None and not result.drifted
    assert result.error == "not enough labels: 12 of min_samples 50"
    assert result.details["labelled_rows"] == 12


def test_roc_auc_without_probabilities_fails_clearly() -> None:
    rng = np.random.default_rng(6)
    detector = _detector(metric="roc_auc")
    profile = detector.fit(_classified(rng, 500, 0.9, proba=False))
    result = detector.score(profile, _classified(rng, 200, 0.9, proba=False))
    assert result.status == "failed" and not result.drifted
    assert "probabilities" in (result.error or "")
    # probabilities in the reference but not in the window
    profile = detector.fit(_classified(rng, 500, 0.9))
    result = detector.score(profile, _classified(rng, 200, 0.9, proba=False))
    assert result.status == "failed" and "probabilities" in (result.error or "")


def test_roc_auc_on_a_window_with_one_class_is_insufficient_data() -> None:
    rng = np.random.default_rng(7)
    detector = _detector(metric="roc_auc")
    profile = detector.fit(_classified(rng, 500, 0.9))
    n = 100
    window = LabelledSample(
        "classification",
        np.full(n, "benign", dtype=object),
        np.full(n, "benign", dtype=object),
        np.tile([0.9, 0.1], (n, 1)),
        BINARY,
    )
    result = detector.score(profile, window)
    assert result.status == "insufficient_data"
    assert "malignant" in (result.error or "")


def test_metric_that_does_not_fit_the_task_fails() -> None:
    rng = np.random.default_rng(8)
    detector = _detector(metric="mae")
    result = detector.score(detector.fit(_classified(rng, 200, 0.9)), _classified(rng, 100, 0.9))
    assert result.status == "failed" and "regressor" in (result.error or "")


def test_f1_uses_the_second_class_as_positive() -> None:
    y_true = np.array(["no", "no", "yes", "yes", "yes"], dtype=object)
    y_pred = np.array(["no", "yes", "yes", "no", "yes"], dtype=object)
    sample = LabelledSample("classification", y_true, y_pred, None, ("no", "yes"))
    detector = _detector(metric="f1", min_samples=1)
    result = detector.score(detector.fit(sample), sample)
    assert result.statistic == pytest.approx(2 / 3)  # precision 2/3, recall 2/3


@pytest.mark.parametrize(
    "settings",
    [
        {"metric": "auc"},
        {"max_drop": 0.0},
        {"max_drop": 1.0},
        {"metric": "mae", "max_drop": -0.5},
        {"min_samples": 0},
        {"threshold": 0.1},
    ],
)
def test_settings_reject_bad_values(settings: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PerformanceSettings(type="performance", **settings)


def test_error_metric_may_tolerate_more_than_doubling() -> None:
    assert PerformanceSettings(type="performance", metric="rmse", max_drop=1.5).max_drop == 1.5


def test_plugin_manager_finds_performance() -> None:
    found = create_plugin_manager(entry_points=False).get("detector", "performance")
    assert found is PerformanceDropDetector
