"""driftscope.testing: the contract checks pass every built-in plugin and reject broken ones.

Each broken plugin below differs from a correct one (``GoodDetector``, ``GoodNotifier``,
which pass) in one deliberate flaw, and the test asserts that the check names that flaw.
So every check is shown able to fail, for the reason it claims.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import httpx
import numpy as np
import pytest
from pydantic import ConfigDict, Field, SecretStr, field_validator

import driftscope.testing
from driftscope import (
    BinCounts,
    CategoryCounts,
    DeliveryOutcome,
    DeliveryResult,
    Detector,
    DetectorResult,
    DetectorSettings,
    FeatureSample,
    LabelledSample,
    Notification,
    Notifier,
    NotifierSettings,
    PerformanceDetector,
    WindowDetector,
    WindowResult,
    WindowSample,
    protect_secrets,
)
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.testing import (
    CheckReport,
    LocalReceiver,
    check_detector,
    check_notifier,
    json_problems,
    sample_notification,
    secret_forms,
)

# -- every built-in ---------------------------------------------------------------------------
ALL_CBPE_METRICS = ["roc_auc", "accuracy", "f1", "precision", "recall"]
# window detectors that train models get small ones (few rows, folds and iterations): the
# check fits and scores each many times, and what it checks does not depend on their size
DETECTOR_SETTINGS: dict[str, list[dict[str, Any]]] = {
    "ks": [{}, {"min_statistic": 0.1, "p_value": 0.01}],
    "psi": [{}, {"binning": "uniform", "bins": 20}],
    "chi2": [{}],
    "performance": [{"metric": m} for m in ("accuracy", "f1", "roc_auc", "mae", "rmse")],
    "cbpe": [
        {"min_samples": 20, "calibration_splits": 2},
        # calibrated, and tiny windows scored (one row too)
        {
            "metrics": ALL_CBPE_METRICS,
            "calibration": "isotonic",
            "min_samples": 1,
            "calibration_splits": 2,
        },
    ],
    "dle": [
        {"min_samples": 20, "max_iter": 10},
        {"metrics": ["rmse"], "min_samples": 1, "max_iter": 10},
    ],
    "domain_classifier": [
        {"max_rows": 100, "min_rows": 20, "folds": 2, "max_iter": 5, "calibration_splits": 2},
        {
            "max_rows": 100,
            "threshold": 0.7,
            "folds": 2,
            "max_iter": 5,
            "features": ["age", "colour"],
        },
    ],
    "quality": [{}, {"checks": ["missing", "out_of_range"], "bounds": {"age": [0.0, 120.0]}}],
}
#: the tasks each window detector scores; it declines the others (with a reason)
WINDOW_TASKS: dict[str, set[str]] = {
    "cbpe": {"classification"},
    "dle": {"regression"},
    "domain_classifier": {"classification", "regression"},
    "quality": {"classification", "regression"},
}


def _builtin(kind: str, name: str) -> Any:
    return create_plugin_manager(entry_points=False).get(kind, name)


def test_every_builtin_detector_has_settings_to_check() -> None:
    names = set(create_plugin_manager(entry_points=False).names("detector"))
    assert names == set(DETECTOR_SETTINGS)


@pytest.mark.parametrize(
    ("name", "settings"),
    [(name, s) for name, variants in DETECTOR_SETTINGS.items() for s in variants],
    ids=lambda v: v if isinstance(v, str) else json.dumps(v, sort_keys=True),
)
def test_builtin_detectors_keep_the_contract(name: str, settings: dict[str, Any]) -> None:
    detector_cls = _builtin("detector", name)
    report = check_detector(detector_cls, {"type": name, **settings})
    assert isinstance(report, CheckReport)
    assert any(p.startswith("thread safety") for p in report.passed)
    if getattr(detector_cls, "scores_counts", False):
        assert "score_counts equals score on the same values" in report.passed
    if name in WINDOW_TASKS:  # the tasks it scores were checked, the others declined
        checked = {p.split(":")[0] for p in report.passed if p.endswith("inputs unchanged")}
        assert checked == WINDOW_TASKS[name]
        declined = {s.split(":")[0] for s in report.skipped if ": declined: " in s}
        assert declined == set(driftscope.testing.TASKS) - WINDOW_TASKS[name]


def _token() -> str:
    return secrets.token_urlsafe(48)


def _discord(url: str, token: str, webhook_id: str) -> dict[str, Any]:
    return {"webhook_url": f"{url}/api/webhooks/{webhook_id}/{token}"}


def _webhook(url: str, token: str, _webhook_id: str) -> dict[str, Any]:
    return {
        "url": f"{url}/hooks/{token}?key={token[:24]}",
        "secret": "hmac-" + token[::-1],
        "headers": {"Authorization": f"Bearer {token[5:40]}"},
    }


NOTIFIER_SETTINGS: dict[str, Callable[[str, str, str], Mapping[str, Any]] | None] = {
    "log": None,  # writes to the log: checked through send(), no receiver
    "discord": _discord,
    "webhook": _webhook,
}


def test_every_builtin_notifier_has_settings_to_check() -> None:
    names = set(create_plugin_manager(entry_points=False).names("notifier"))
    assert names == set(NOTIFIER_SETTINGS)


@pytest.mark.parametrize("name", sorted(NOTIFIER_SETTINGS))
def test_builtin_notifiers_keep_the_contract(name: str) -> None:
    factory = NOTIFIER_SETTINGS[name]
    notifier_cls = _builtin("notifier", name)
    if factory is None:
        report = check_notifier(notifier_cls, {"type": name})
        assert report.skipped  # no receiver: says so
        return
    token = _token()
    # a fresh webhook id: Discord's rate-limit state is shared per webhook in the process
    webhook_id = str(10**17 + secrets.randbelow(9 * 10**17))
    report = check_notifier(notifier_cls, lambda url: factory(url, token, webhook_id))
    assert any(p.startswith("HTTP answers") for p in report.passed)


def test_the_webhook_notifier_redacts_a_path_the_receiver_echoes() -> None:
    # the leak check_notifier found: a receiver repeating "/hooks/<token>" in its error
    token = _token()
    notifier_cls = _builtin("notifier", "webhook")
    with LocalReceiver() as receiver:
        receiver.respond(404, lambda request: {"message": f"no route {request.path}"})
        settings = notifier_cls.Settings(name="w", url=f"{receiver.url}/hooks/{token}")
        notifier = notifier_cls(settings)
        try:
            result = notifier.send(sample_notification())
        finally:
            notifier.close()
    assert result.outcome is DeliveryOutcome.GONE and result.error is not None
    assert token not in result.error and "/hooks/" not in result.error
    assert "no route ***" in result.error


# -- a correct detector, and detectors broken on purpose --------------------------------------
class GoodSettings(DetectorSettings):
    """Settings of the reference detector."""

    threshold: float = Field(default=0.5, gt=0)


class GoodDetector(Detector):
    """Mean shift in reference standard deviations, careful with constants."""

    Settings = GoodSettings
    applies_to = frozenset({"numeric"})

    @property
    def threshold(self) -> float:
        return self.settings.threshold

    def fit(self, reference: FeatureSample) -> tuple[float, float]:
        std = float(np.std(reference.values))
        return float(np.mean(reference.values)), std if std > 0 else 1.0

    def shift(self, profile: tuple[float, float], values: np.ndarray) -> float:
        mean, std = profile
        return abs(float(np.mean(values)) - mean) / std

    def score(self, profile: tuple[float, float], current: FeatureSample) -> DetectorResult:
        shift = self.shift(profile, current.values)
        threshold = self.settings.threshold
        return DetectorResult(
            shift,
            None,
            threshold,
            shift > threshold,
            details={"current_mean": float(np.mean(current.values)), "rows": len(current.values)},
        )


class GoodPValueDetector(GoodDetector):
    """A z-test on the mean: p-value from the standard normal."""

    uses_p_value = True

    @property
    def threshold(self) -> float:
        return 0.05

    def score(self, profile: tuple[float, float], current: FeatureSample) -> DetectorResult:
        shift = self.shift(profile, current.values)
        p_value = math.erfc(shift * math.sqrt(len(current.values)) / math.sqrt(2))
        result = DetectorResult(shift, p_value, 0.05, False, details={})
        result.drifted = self.decide(result, p_value)
        return result

    def decide(self, result: DetectorResult, p_value: float) -> bool:
        return p_value < 0.05


class NaNOnConstantReference(GoodDetector):
    def fit(self, reference: FeatureSample) -> tuple[float, float]:
        return float(np.mean(reference.values)), float(np.std(reference.values))

    def shift(self, profile: tuple[float, float], values: np.ndarray) -> float:
        mean, std = profile
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.abs(np.mean(values) - mean) / np.float64(std))


class NumpyIntegerInDetails(GoodDetector):
    def score(self, profile: tuple[float, float], current: FeatureSample) -> DetectorResult:
        result = super().score(profile, current)
        result.details["rows"] = np.int64(len(current.values))
        return result


class NaNInDetails(GoodDetector):
    def score(self, profile: tuple[float, float], current: FeatureSample) -> DetectorResult:
        result = super().score(profile, current)
        values = current.values
        result.details["spread"] = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
        return result


class PValueAboveOne(GoodPValueDetector):
    def score(self, profile: tuple[float, float], current: FeatureSample) -> DetectorResult:
        result = super().score(profile, current)
        result.p_value = 1.0 + result.statistic  # a statistic passed off as a p-value
        return result


class PValueMissing(GoodPValueDetector):
    def score(self, profile: tuple[float, float], current: FeatureSample) -> DetectorResult:
        result = super().score(profile, current)
        result.p_value = None
        return result


class DecideAlwaysDrifts(GoodPValueDetector):
    def decide(self, result: DetectorResult, p_value: float) -> bool:
        return True

    def score(self, profile: tuple[float, float], current: FeatureSample) -> DetectorResult:
        result = super().score(profile, current)
        result.drifted = bool(result.p_value < 0.05)
        return result


class Unseeded(GoodDetector):
    def shift(self, profile: tuple[float, float], values: np.ndarray) -> float:
        jitter = np.random.default_rng().normal(0.0, 1e-9)  # no seed: a new value each call
        return super().shift(profile, values) + abs(jitter)


class StateOnSelf(GoodDetector):
    def score(self, profile: tuple[float, float], current: FeatureSample) -> DetectorResult:
        self._current = current  # shared by every thread scoring with this instance
        total = 0
        for i in range(200):  # some Python work: another thread runs in between
            total += i
        return super().score(profile, self._current)


class SortsInPlace(GoodDetector):
    def score(self, profile: tuple[float, float], current: FeatureSample) -> DetectorResult:
        current.values.sort()  # the engine shares this array
        return super().score(profile, current)


class RaisesOnConstantReference(GoodDetector):
    def fit(self, reference: FeatureSample) -> tuple[float, float]:
        std = float(np.std(reference.values))
        if std == 0:
            raise ZeroDivisionError("the reference has no spread")
        return float(np.mean(reference.values)), std


class ReturnsADict(GoodDetector):
    def score(self, profile: tuple[float, float], current: FeatureSample) -> Any:
        return {"statistic": self.shift(profile, current.values), "drifted": False}


class LooseSettings(DetectorSettings):
    """A float without a constraint: NaN gets through."""

    threshold: float = 0.5


class AcceptsNaNThreshold(GoodDetector):
    Settings = LooseSettings


class TypoTolerantSettings(GoodSettings):
    """``extra="allow"``: a misspelled key is silently ignored."""

    model_config = ConfigDict(extra="allow", frozen=True)


class AcceptsUnknownKeys(GoodDetector):
    Settings = TypoTolerantSettings


class DriftsOnIdentical(GoodDetector):
    def score(self, profile: tuple[float, float], current: FeatureSample) -> DetectorResult:
        result = super().score(profile, current)
        result.drifted = result.statistic >= 0.0  # >= instead of >: a shift of 0 drifts
        return result


class SilentInsufficient(GoodDetector):
    def score(self, profile: tuple[float, float], current: FeatureSample) -> DetectorResult:
        if len(current.values) < 2:
            return DetectorResult(None, None, self.settings.threshold, False, "insufficient_data")
        return super().score(profile, current)


class DriftedWhileFailed(GoodDetector):
    def score(self, profile: tuple[float, float], current: FeatureSample) -> DetectorResult:
        result = super().score(profile, current)
        if len(current.values) < 2:
            result.status, result.error, result.drifted = "failed", "one value", True
        return result


class NeverOk(GoodDetector):
    def score(self, profile: tuple[float, float], current: FeatureSample) -> DetectorResult:
        return DetectorResult(None, None, 0.5, False, "insufficient_data", "always short")


class CountsDisagree(GoodDetector):
    scores_counts = True

    def bin_edges(self, profile: tuple[float, float]) -> np.ndarray:
        mean, std = profile
        return np.array([mean - std, mean, mean + std])

    def score_counts(
        self, profile: tuple[float, float], counts: BinCounts | CategoryCounts
    ) -> DetectorResult:
        # the centre of each bin stands in for its values: not what score() computes
        mean, std = profile
        centres = np.array([mean - 1.5 * std, mean - 0.5 * std, mean + 0.5 * std, mean + 1.5 * std])
        weights = np.asarray(counts.counts, dtype=np.float64)  # type: ignore[union-attr]
        estimate = float(np.dot(centres, weights) / weights.sum())
        shift = abs(estimate - mean) / std
        return DetectorResult(shift, None, self.settings.threshold, shift > self.settings.threshold)


BROKEN_DETECTORS: list[tuple[type[Detector], str]] = [
    (NaNOnConstantReference, "'constant reference': statistic inf is not a finite number"),
    (NumpyIntegerInDetails, "details['rows'] is a numpy.int64, not a JSON value"),
    (NaNInDetails, "'single-value window': details['spread'] is nan"),
    (PValueAboveOne, "is outside [0, 1]"),
    (PValueMissing, "uses_p_value is set, yet an 'ok' result has no p_value"),
    (DecideAlwaysDrifts, "decide(result, p_value=1.0) says drifted"),
    (Unseeded, "scoring the same inputs twice gave different results"),
    (StateOnSelf, "thread safety: scoring from 8 threads at once gave a different result"),
    (SortsInPlace, "changed its input arrays"),
    (
        RaisesOnConstantReference,
        "'constant reference': fit() raised ZeroDivisionError: the reference has no spread",
    ),
    (ReturnsADict, "returned dict, not a DetectorResult"),
    (AcceptsNaNThreshold, "accepts threshold=NaN"),
    (AcceptsUnknownKeys, "accepts an unknown key"),
    (DriftsOnIdentical, "a window equal to the reference is flagged as drifted"),
    (SilentInsufficient, "status 'insufficient_data' without an error saying why"),
    (DriftedWhileFailed, "status 'failed' but drifted is true"),
    (NeverOk, "'same distribution': ordinary data scored 'insufficient_data'"),
    (CountsDisagree, "score_counts(): differs from score() on the same values"),
]


@pytest.mark.parametrize("detector_cls", [GoodDetector, GoodPValueDetector])
def test_a_correct_detector_passes(detector_cls: type[Detector]) -> None:
    report = check_detector(detector_cls)
    assert report.subject == detector_cls.__name__
    assert "score_counts: the detector does not set scores_counts" in report.skipped


@pytest.mark.parametrize(
    ("detector_cls", "complaint"), BROKEN_DETECTORS, ids=[c.__name__ for c, _ in BROKEN_DETECTORS]
)
def test_check_detector_names_what_broke(detector_cls: type[Detector], complaint: str) -> None:
    with pytest.raises(AssertionError) as raised:
        check_detector(detector_cls)
    message = str(raised.value)
    assert message.startswith(f"{detector_cls.__name__} breaks the detector contract:")
    assert complaint in message


def test_a_detector_that_is_not_thread_safe_may_say_so() -> None:
    class DeclaredUnsafe(StateOnSelf):
        thread_safe = False

    report = check_detector(DeclaredUnsafe)
    assert "thread safety: the detector sets thread_safe = False" in report.skipped


class Accuracy(PerformanceDetector):
    """Accuracy against the reference's, for classifiers only."""

    Settings = GoodSettings

    @property
    def threshold(self) -> float:
        return self.settings.threshold

    def fit(self, reference: LabelledSample) -> float | None:
        if reference.task != "classification":
            return None
        return float(np.mean(reference.y_true == reference.y_pred))

    def score(self, profile: float | None, current: LabelledSample) -> DetectorResult:
        if profile is None:
            return DetectorResult(None, None, 0.0, False, "failed", "accuracy needs a classifier")
        value = float(np.mean(current.y_true == current.y_pred))
        limit = profile * (1 - self.settings.threshold)
        return DetectorResult(value, None, limit, value < limit, details={"reference": profile})


class ErrorRatio(Accuracy):
    """For regressors too: current MAE over the reference's (0/0 when both are perfect)."""

    def fit(self, reference: LabelledSample) -> float | None:
        if reference.task == "classification":
            return super().fit(reference)
        return float(np.mean(np.abs(reference.y_true - reference.y_pred)))

    def score(self, profile: float | None, current: LabelledSample) -> DetectorResult:
        if current.task == "classification":
            return super().score(profile, current)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = float(np.mean(np.abs(current.y_true - current.y_pred)) / np.float64(profile))
        return DetectorResult(ratio, None, 1.5, ratio > 1.5)


def test_a_performance_detector_may_decline_a_task_with_a_reason() -> None:
    report = check_detector(Accuracy)
    assert "regression: result fields, JSON details, determinism, inputs unchanged" in report.passed


def test_a_performance_detector_must_not_return_nan() -> None:
    with pytest.raises(AssertionError) as raised:
        check_detector(ErrorRatio, kinds=["regression"])
    assert "regression case 'perfect reference': statistic inf is not a finite number" in str(
        raised.value
    )


def test_a_check_of_kinds_the_detector_does_not_declare_is_refused() -> None:
    with pytest.raises(ValueError, match="categorical"):
        check_detector(GoodDetector, kinds=["categorical"])
    with pytest.raises(ValueError, match="do not validate"):
        check_detector(GoodDetector, {"threshold": -1})


def test_json_problems_name_the_place() -> None:
    assert json_problems({"a": [1, 2.5, "x", None, True, {"b": (1, 2)}]}) == []
    assert json_problems({"a": [1, float("inf")]}) == [
        "details['a'][1] is inf (JSON has no NaN or inf)"
    ]
    assert json_problems({1: "x"}) == [
        "details has the key 1 of type int (JSON keys are str: it would come back changed)"
    ]
    assert json_problems(np.zeros(2), "d") == ["d is a numpy.ndarray, not a JSON value"]


# -- a correct window detector, and window detectors broken on purpose ------------------------
class GoodWindowSettings(DetectorSettings):
    """Settings of the reference window detector."""

    threshold: float = Field(default=0.5, gt=0, allow_inf_nan=False)
    min_rows: int = Field(default=10, ge=1)


MeanProfile = dict[str, tuple[float, float]]


class GoodWindowDetector(WindowDetector[GoodWindowSettings, MeanProfile]):
    """Per numeric feature, how far the mean of the window's finite values moved, in
    reference standard deviations; and the largest of those moves for the whole window."""

    Settings = GoodWindowSettings

    @property
    def threshold(self) -> float:
        return self.settings.threshold

    @property
    def drifts_when(self) -> Literal["above"]:
        return "above"

    def fit(self, reference: WindowSample) -> MeanProfile:
        profile = {}
        wanted = self.settings.features
        for name, values in reference.features.items():
            if reference.kinds[name] == "numeric" and (wanted is None or name in wanted):
                finite = values[np.isfinite(values)]
                std = float(finite.std()) if finite.size else 0.0
                mean = float(finite.mean()) if finite.size else 0.0
                profile[name] = (mean, std if std > 0 else 1.0)
        return profile

    def shift(self, profile: MeanProfile, name: str, finite: np.ndarray) -> float:
        mean, std = profile[name]
        return abs(float(finite.mean()) - mean) / std

    def feature_result(self, profile: MeanProfile, name: str, values: np.ndarray) -> WindowResult:
        threshold = self.settings.threshold
        finite = values[np.isfinite(values)]
        if finite.size < self.settings.min_rows:
            why = f"{finite.size} finite values, {self.settings.min_rows} needed"
            return WindowResult(
                None, None, threshold, False, "insufficient_data", why, kind="feature", feature=name
            )
        shift = self.shift(profile, name, finite)
        details = {"current_mean": float(finite.mean()), "finite": int(finite.size)}
        return WindowResult(
            shift, None, threshold, shift > threshold, details=details, kind="feature", feature=name
        )

    def score(self, profile: MeanProfile, current: WindowSample) -> list[WindowResult]:
        results = [self.feature_result(profile, n, current.features[n]) for n in profile]
        shifts = [r.statistic for r in results if r.statistic is not None]
        threshold = self.settings.threshold
        if not shifts:
            why = "no feature had enough finite values"
            results.append(WindowResult(None, None, threshold, False, "insufficient_data", why))
        else:
            largest = max(shifts)
            results.append(WindowResult(largest, None, threshold, largest > threshold))
        return results


class GoodPValueWindowDetector(GoodWindowDetector):
    """A z-test per numeric feature, decided on its p-value."""

    @property
    def compared(self) -> Literal["p_value"]:
        return "p_value"

    @property
    def threshold(self) -> float:
        return 0.05

    def feature_result(self, profile: MeanProfile, name: str, values: np.ndarray) -> WindowResult:
        result = super().feature_result(profile, name, values)
        if result.statistic is not None:
            rows = int(np.isfinite(values).sum())
            result.p_value = math.erfc(result.statistic * math.sqrt(rows) / math.sqrt(2))
            result.threshold = 0.05
            result.drifted = self.decide(result.p_value)
        return result

    def decide(self, p_value: float) -> bool:
        return p_value < 0.05

    def score(self, profile: MeanProfile, current: WindowSample) -> list[WindowResult]:
        return [self.feature_result(profile, n, current.features[n]) for n in profile]


class ClassifiersOnly(GoodWindowDetector):
    """Declines regressors with a failed result that says why: allowed."""

    def score(self, profile: MeanProfile, current: WindowSample) -> list[WindowResult]:
        if current.task != "classification":
            why = "this detector watches classifiers"
            return [WindowResult(None, None, self.threshold, False, "failed", why)]
        return super().score(profile, current)


class RegressorsOnly(GoodWindowDetector):
    """Refuses a classifier's reference with a ValueError that says why: allowed."""

    def fit(self, reference: WindowSample) -> MeanProfile:
        if reference.task != "regression":
            raise ValueError("this detector watches regressors")
        return super().fit(reference)


class ReturnsNothing(GoodWindowDetector):
    def score(self, profile: MeanProfile, current: WindowSample) -> list[WindowResult]:
        return [r for r in super().score(profile, current) if r.drifted]


class ReturnsOneResult(GoodWindowDetector):
    def score(self, profile: MeanProfile, current: WindowSample) -> Any:
        return super().score(profile, current)[-1]


class ReturnsDetectorResults(GoodWindowDetector):
    def score(self, profile: MeanProfile, current: WindowSample) -> Any:
        return [
            DetectorResult(r.statistic, None, r.threshold, r.drifted, r.status, r.error)
            for r in super().score(profile, current)
        ]


class NaNOnConstantColumns(GoodWindowDetector):
    def fit(self, reference: WindowSample) -> MeanProfile:
        return {
            name: (float(np.mean(values)), float(np.std(values)))
            for name, values in reference.features.items()
            if reference.kinds[name] == "numeric"
        }

    def shift(self, profile: MeanProfile, name: str, finite: np.ndarray) -> float:
        mean, std = profile[name]
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.abs(finite.mean() - mean) / np.float64(std))


class ArrayInDetails(GoodWindowDetector):
    def feature_result(self, profile: MeanProfile, name: str, values: np.ndarray) -> WindowResult:
        result = super().feature_result(profile, name, values)
        result.details["quartiles"] = np.nanpercentile(values, [25, 75])
        return result


class ImputesInPlace(GoodWindowDetector):
    def score(self, profile: MeanProfile, current: WindowSample) -> list[WindowResult]:
        for name in profile:
            values = current.features[name]
            values[~np.isfinite(values)] = profile[name][0]  # the engine shares this array
        return super().score(profile, current)


class CentresTheReference(GoodWindowDetector):
    def fit(self, reference: WindowSample) -> MeanProfile:
        profile = super().fit(reference)
        reference.features["age"] -= profile["age"][0]  # in place: the engine caches it
        return profile


class UnseededWindow(GoodWindowDetector):
    def shift(self, profile: MeanProfile, name: str, finite: np.ndarray) -> float:
        jitter = abs(np.random.default_rng().normal(0.0, 1e-9))  # a new value each call
        return super().shift(profile, name, finite) + jitter


class SeededByInstance(GoodWindowDetector):
    def shift(self, profile: MeanProfile, name: str, finite: np.ndarray) -> float:
        jitter = np.random.default_rng(id(self)).normal(0.0, 1e-9)  # differs per instance
        return super().shift(profile, name, finite) + abs(jitter)


class WindowStateOnSelf(GoodWindowDetector):
    def score(self, profile: MeanProfile, current: WindowSample) -> list[WindowResult]:
        self._current = current  # shared by every thread scoring with this instance
        total = 0
        for i in range(2000):  # some Python work: another thread runs in between
            total += i
        return super().score(profile, self._current)


class DriftsOnTheReference(GoodWindowDetector):
    """A threshold of 0 on a move that is 0 on the reference, with ">=": it drifts."""

    @property
    def drifts_when(self) -> Literal["at_or_above"]:
        return "at_or_above"

    def score(self, profile: MeanProfile, current: WindowSample) -> list[WindowResult]:
        results = super().score(profile, current)
        for result in results:
            if result.statistic is not None:
                result.threshold, result.drifted = 0.0, result.statistic >= 0.0
        return results


class WrongSideOfTheThreshold(GoodWindowDetector):
    @property
    def drifts_when(self) -> Literal["below"]:
        return "below"  # an estimate that drifts when low: not a move that drifts when large


class PValueDecidedBackwards(GoodPValueWindowDetector):
    def decide(self, p_value: float) -> bool:
        return p_value > 0.05


class RaisesOnTinyWindows(GoodWindowDetector):
    def score(self, profile: MeanProfile, current: WindowSample) -> list[WindowResult]:
        if current.rows < self.settings.min_rows:
            raise ValueError(f"only {current.rows} rows")
        return super().score(profile, current)


class NeedsProbabilities(GoodWindowDetector):
    def fit(self, reference: WindowSample) -> MeanProfile:
        # as if every model had probabilities: a regressor's are None
        if not np.isfinite(reference.probabilities).all():  # type: ignore[arg-type]
            raise ValueError("the reference has rows without probabilities")
        return super().fit(reference)


class RefusesWithoutSaying(GoodWindowDetector):
    def fit(self, reference: WindowSample) -> MeanProfile:
        if reference.task == "regression":
            raise ValueError()
        return super().fit(reference)


class RefusesEverything(GoodWindowDetector):
    def fit(self, reference: WindowSample) -> MeanProfile:
        raise ValueError("not configured for this model")


class NeverScores(GoodWindowDetector):
    def score(self, profile: MeanProfile, current: WindowSample) -> list[WindowResult]:
        why = "waiting for more rows"
        return [WindowResult(None, None, 0.5, False, "insufficient_data", why)]


class FailsOnOneFeature(GoodWindowDetector):
    def feature_result(self, profile: MeanProfile, name: str, values: np.ndarray) -> WindowResult:
        if name == "income":  # a skewed feature its method cannot handle
            why = "skewed"
            return WindowResult(None, None, 0.5, False, "failed", why, kind="feature", feature=name)
        return super().feature_result(profile, name, values)


class SilentInsufficientWindow(GoodWindowDetector):
    def score(self, profile: MeanProfile, current: WindowSample) -> list[WindowResult]:
        results = super().score(profile, current)
        for result in results:
            if result.status != "ok":
                result.error = None
        return results


class MisnamesAFeature(GoodWindowDetector):
    def feature_result(self, profile: MeanProfile, name: str, values: np.ndarray) -> WindowResult:
        result = super().feature_result(profile, name, values)
        result.feature = name.title()  # "Age": not the model's feature "age"
        return result


class NamesTheWholeWindow(GoodWindowDetector):
    def score(self, profile: MeanProfile, current: WindowSample) -> list[WindowResult]:
        results = super().score(profile, current)
        results[-1].feature = "all features"  # a multivariate result is about none
        return results


class UnnamedMetric(GoodWindowDetector):
    def score(self, profile: MeanProfile, current: WindowSample) -> list[WindowResult]:
        results = super().score(profile, current)
        results[-1].kind = "performance"  # a metric, but which?
        return results


class UnknownKind(GoodWindowDetector):
    def score(self, profile: MeanProfile, current: WindowSample) -> list[WindowResult]:
        results = super().score(profile, current)
        results[-1].kind = "window"  # type: ignore[assignment]
        return results


class TwoResultsOneKey(GoodWindowDetector):
    def score(self, profile: MeanProfile, current: WindowSample) -> list[WindowResult]:
        results = super().score(profile, current)
        return [*results, dataclasses.replace(results[-1], details={"again": True})]


class NaNThresholdWindow(GoodWindowDetector):
    @property
    def threshold(self) -> float:
        return math.nan


class ComparesRows(GoodWindowDetector):
    @property
    def compared(self) -> Any:
        return "rows"  # the monitor's own comparison, not a detector's


BROKEN_WINDOW_DETECTORS: list[tuple[type[WindowDetector[Any, Any]], str]] = [
    (
        ReturnsNothing,
        "binary classifier case 'same distribution': score() returned an empty list, not a "
        "non-empty list of WindowResult",
    ),
    (ReturnsOneResult, "score() returned WindowResult, not a non-empty list of WindowResult"),
    (ReturnsDetectorResults, "score() returned a DetectorResult in its list, not a WindowResult"),
    (
        NaNOnConstantColumns,
        "binary classifier case 'constant columns', feature result 'score': statistic nan is "
        "not a finite number",
    ),
    (ArrayInDetails, "details['quartiles'] is a numpy.ndarray, not a JSON value"),
    (
        ImputesInPlace,
        "binary classifier case 'missing values, infinities, unseen categories': score() "
        "changed its inputs (features['age'], features['income']): the engine shares them",
    ),
    (CentresTheReference, "fit() changed its inputs (the reference's features['age'])"),
    (UnseededWindow, "scoring the same inputs twice gave different results"),
    (SeededByInstance, "a new instance with the same settings gave different results"),
    (
        WindowStateOnSelf,
        "thread safety: scoring from 8 threads at once gave a different result",
    ),
    (
        DriftsOnTheReference,
        "binary classifier case 'window equal to the reference', feature result 'age': a "
        "window equal to the reference is flagged as drifted",
    ),
    (
        WrongSideOfTheThreshold,
        "drifted is True, but its alert would read 'statistic 1.",
    ),
    (PValueDecidedBackwards, "drifted is True, but its alert would read 'p-value 0."),
    (
        RaisesOnTinyWindows,
        "binary classifier case 'five rows': score() raised ValueError: only 5 rows (a window "
        "it cannot score gets a 'failed' or 'insufficient_data' result saying why",
    ),
    (
        NeedsProbabilities,
        "regressor case 'same distribution': fit() raised TypeError",
    ),
    (RefusesWithoutSaying, "fit() raised ValueError: without a message"),
    (
        RefusesEverything,
        "no ordinary window of classification, regression scored 'ok' (a detector may decline "
        "a task, not every one): fit() refused the reference: not configured for this model",
    ),
    (NeverScores, "no ordinary window of classification, regression scored 'ok'"),
    (
        FailsOnOneFeature,
        "binary classifier case 'same distribution', feature result 'income': ordinary data "
        "scored 'failed' (skewed) while the detector's other results scored 'ok'",
    ),
    (
        SilentInsufficientWindow,
        "status 'insufficient_data' without an error saying why",
    ),
    (MisnamesAFeature, "a feature result must name a feature of the window"),
    (NamesTheWholeWindow, "a multivariate result is about no one feature, yet names"),
    (UnnamedMetric, "a performance result must name its metric in feature, got None"),
    (UnknownKind, "kind 'window' is not one of ['feature', 'multivariate', 'performance']"),
    (TwoResultsOneKey, "two results share the alert key 'multivariate'"),
    (NaNThresholdWindow, "declarations: threshold nan is not a finite number"),
    (ComparesRows, "declarations: compared 'rows' is not one of ['p_value', 'statistic']"),
]


@pytest.mark.parametrize(
    "detector_cls", [GoodWindowDetector, GoodPValueWindowDetector, ClassifiersOnly, RegressorsOnly]
)
def test_a_correct_window_detector_passes(detector_cls: type[WindowDetector[Any, Any]]) -> None:
    report = check_detector(detector_cls)
    assert report.subject == detector_cls.__name__
    assert "thread safety: 8 threads, 0.5 s" in report.passed


def test_a_window_detector_may_decline_a_task_saying_why() -> None:
    report = check_detector(ClassifiersOnly)
    assert report.skipped == [
        "regression: declined: failed: this detector watches classifiers "
        "(regressor 'same distribution', regressor 'same distribution, no labels yet')"
    ]
    report = check_detector(RegressorsOnly)
    (skipped,) = report.skipped
    assert skipped.startswith(
        "classification: declined: fit() refused the reference: this detector watches "
        "regressors (binary classifier 'same distribution',"
    )
    assert "regression: result fields, JSON details, decisions, determinism, inputs unchanged" in (
        report.passed
    )


@pytest.mark.parametrize(
    ("detector_cls", "complaint"),
    BROKEN_WINDOW_DETECTORS,
    ids=[c.__name__ for c, _ in BROKEN_WINDOW_DETECTORS],
)
def test_check_detector_names_what_broke_in_a_window_detector(
    detector_cls: type[WindowDetector[Any, Any]], complaint: str
) -> None:
    with pytest.raises(AssertionError) as raised:
        check_detector(detector_cls)
    message = str(raised.value)
    assert message.startswith(f"{detector_cls.__name__} breaks the detector contract:")
    assert complaint in message


def test_a_window_detector_keeps_to_the_features_its_settings_choose() -> None:
    # the engine hands a window detector every feature: `features` is its own to honour
    report = check_detector(GoodWindowDetector, {"features": ["age", "income"]})
    assert report.passed

    class IgnoresTheFeaturesSetting(GoodWindowDetector):
        def fit(self, reference: WindowSample) -> MeanProfile:
            everything = self.settings.model_copy(update={"features": None})
            return GoodWindowDetector(everything).fit(reference)

    with pytest.raises(AssertionError) as raised:
        check_detector(IgnoresTheFeaturesSetting, {"features": ["age", "income"]})
    assert (
        "binary classifier case 'same distribution', feature result 'score': feature 'score' "
        "is not among the settings' ['age', 'income']"
    ) in str(raised.value)


def test_a_window_detector_that_is_not_thread_safe_may_say_so() -> None:
    class DeclaredUnsafe(WindowStateOnSelf):
        thread_safe = False

    report = check_detector(DeclaredUnsafe)
    assert "thread safety: the detector sets thread_safe = False" in report.skipped


def test_window_detectors_are_checked_on_the_tasks_asked_for() -> None:
    report = check_detector(GoodWindowDetector, kinds=["regression"])
    checked = [p for p in report.passed if p.endswith("inputs unchanged")]
    assert checked == [
        "regression: result fields, JSON details, decisions, determinism, inputs unchanged"
    ]
    with pytest.raises(ValueError, match="choose from"):
        check_detector(GoodWindowDetector, kinds=["numeric"])
    with pytest.raises(AssertionError, match="no ordinary window of regression scored 'ok'"):
        check_detector(ClassifiersOnly, kinds=["regression"])


def test_the_generated_windows_are_what_the_window_contract_promises() -> None:
    # the harness's own data must be valid input, or it would blame a detector for its bug
    rng = np.random.default_rng(0)
    cases = [
        c
        for task in ("classification", "regression")
        for c in driftscope.testing._window_cases(task, rng)
    ]
    assert {c.kind for c in cases} == {
        "binary classifier",
        "multiclass classifier",
        "regressor",
    }
    for case in cases:
        for sample in (case.reference, case.current):
            assert list(sample.features) == list(driftscope.testing.WINDOW_FEATURES)
            for name, values in sample.features.items():
                assert len(values) == sample.rows
                if sample.kinds[name] == "numeric":
                    assert values.dtype == np.float64
                else:
                    assert values.dtype == object
                    assert all(v is None or type(v) is str for v in values)
            labelled = sample.labelled()
            if sample.task == "classification":
                assert sample.classes is not None
                assert all(v is None or v in sample.classes for v in sample.labels)
                assert set(sample.predictions) <= set(sample.classes)
                if sample.probabilities is not None:
                    assert sample.probabilities.shape == (sample.rows, len(sample.classes))
                    given = np.isfinite(sample.probabilities).all(axis=1)
                    assert np.allclose(sample.probabilities[given].sum(axis=1), 1.0)
            else:
                assert sample.classes is None and sample.probabilities is None
                assert (
                    sample.predictions.dtype == np.float64 and np.isfinite(sample.predictions).all()
                )
            if sample is case.reference and not case.name.endswith("reference without labels"):
                assert labelled.all()
        if case.name.endswith("no labels yet"):
            assert not case.current.labelled().any()
        if case.name.endswith("reference without labels"):
            assert not case.reference.labelled().any() and case.current.labelled().all()
    # the held-out windows come from the reference's distribution but are not its rows
    typical = [c for c in cases if c.typical]
    assert typical and all(c.current is not c.reference for c in typical)
    broken = next(
        c
        for c in cases
        if (c.kind, c.name)
        == ("binary classifier", "missing values, infinities, unseen categories")
    )
    age, income = broken.current.features["age"], broken.current.features["income"]
    assert 0.3 < np.isnan(age).mean() < 0.5 and np.isinf(income).any()
    assert "purple" in set(broken.current.features["colour"]) and None in set(
        broken.current.features["colour"]
    )


# -- a correct notifier, and notifiers broken on purpose ---------------------------------------
class GoodNotifierSettings(NotifierSettings):
    """Settings of the reference notifier."""

    model_config = ConfigDict(hide_input_in_errors=True)

    type: Literal["good"] = "good"
    url: SecretStr


class GoodNotifier(Notifier):
    """POSTs the notification as JSON and classifies the answer with core's from_status."""

    Settings = GoodNotifierSettings

    def __init__(self, settings: GoodNotifierSettings) -> None:
        super().__init__(settings)
        self.url = settings.url.get_secret_value()
        protect_secrets([self.url])  # httpx logs every request's URL at INFO
        self.client = httpx.Client(timeout=10)

    def post(self, notification: Notification) -> httpx.Response:
        return self.client.post(self.url, json=notification.to_dict())

    def send(self, notification: Notification) -> DeliveryResult:
        try:
            response = self.post(notification)
        except httpx.HTTPError as exc:
            return self.unreachable(exc)
        return self.result(response)

    def unreachable(self, exc: httpx.HTTPError) -> DeliveryResult:
        return DeliveryResult(DeliveryOutcome.TRANSIENT, error=f"could not connect: {exc!r}")

    def retry_after(self, response: httpx.Response) -> float | None:
        after = response.headers.get("retry-after")
        return None if after is None else float(after)

    def result(self, response: httpx.Response) -> DeliveryResult:
        status = response.status_code
        # a 429 that says how long to wait is a rate limit; one that does not is a block
        after = self.retry_after(response) if status == 429 else None
        error = None if 200 <= status < 300 else f"HTTP {status}"
        return DeliveryResult.from_status(status, retry_after=after, error=error)

    def close(self) -> None:
        self.client.close()


def _failed(result: DeliveryResult, outcome: DeliveryOutcome) -> DeliveryResult:
    """The same answer reported as another (failed) outcome."""
    return DeliveryResult(
        outcome,
        retry_after=1.0 if outcome is DeliveryOutcome.RATE_LIMITED else None,
        status_code=result.status_code,
        error=result.error or f"HTTP {result.status_code}",
    )


class RaisesOnHTTPErrors(GoodNotifier):
    def result(self, response: httpx.Response) -> DeliveryResult:
        response.raise_for_status()
        return super().result(response)


class CopiesTheErrorBody(GoodNotifier):
    def result(self, response: httpx.Response) -> DeliveryResult:
        result = super().result(response)
        return result if result.delivered else dataclasses.replace(result, error=response.text)


class LogsTheURL(GoodNotifier):
    def post(self, notification: Notification) -> httpx.Response:
        logging.getLogger("broken.notifier").debug("posting to %s", self.url)
        return super().post(notification)


class ForgetsProtectSecrets(GoodNotifier):
    def __init__(self, settings: GoodNotifierSettings) -> None:
        Notifier.__init__(self, settings)
        self.url = settings.url.get_secret_value()  # httpx will log it at INFO
        self.client = httpx.Client(timeout=10)


class ShowsTheURLInItsRepr(GoodNotifier):
    def __repr__(self) -> str:
        return f"ShowsTheURLInItsRepr(url={self.url!r})"


class DeliveredWhatever(GoodNotifier):
    def result(self, response: httpx.Response) -> DeliveryResult:
        return DeliveryResult(DeliveryOutcome.DELIVERED, status_code=response.status_code)


class NeverDisables(GoodNotifier):
    def result(self, response: httpx.Response) -> DeliveryResult:
        result = super().result(response)
        if result.outcome is DeliveryOutcome.GONE:
            return _failed(result, DeliveryOutcome.REJECTED)
        return result


class OnlyKnows404(GoodNotifier):
    def result(self, response: httpx.Response) -> DeliveryResult:
        result = super().result(response)
        if response.status_code == 410:  # a plainer "gone" than 404, taken for a bad message
            return _failed(result, DeliveryOutcome.REJECTED)
        return result


class RefusedCredentialsTheOtherWay(GoodNotifier):
    """Classifies 401 and 403 against core: gone where core says rejected, or the reverse."""

    def result(self, response: httpx.Response) -> DeliveryResult:
        result = super().result(response)
        if response.status_code in (401, 403):
            other = (
                DeliveryOutcome.REJECTED
                if result.outcome is DeliveryOutcome.GONE
                else DeliveryOutcome.GONE
            )
            return _failed(result, other)
        return result


class DisablesOnABadMessage(GoodNotifier):
    def result(self, response: httpx.Response) -> DeliveryResult:
        result = super().result(response)
        if result.outcome is DeliveryOutcome.REJECTED:
            return _failed(result, DeliveryOutcome.GONE)
        return result


class GivesUpOnServerErrors(GoodNotifier):
    def result(self, response: httpx.Response) -> DeliveryResult:
        result = super().result(response)
        if response.status_code >= 500:
            return _failed(result, DeliveryOutcome.REJECTED)
        return result


class GivesUpWhenUnreachable(GoodNotifier):
    def unreachable(self, exc: httpx.HTTPError) -> DeliveryResult:
        return DeliveryResult(DeliveryOutcome.GONE, error="no such host")


class IgnoresRetryAfter(GoodNotifier):
    def retry_after(self, response: httpx.Response) -> float | None:
        return None  # every 429 taken for a block


class TakesEvery429ForARateLimit(GoodNotifier):
    def retry_after(self, response: httpx.Response) -> float | None:
        after = super().retry_after(response)
        return 1.0 if after is None else after


class ReadsTheWaitInMilliseconds(GoodNotifier):
    def retry_after(self, response: httpx.Response) -> float | None:
        after = response.headers.get("x-ratelimit-reset-after")
        return None if after is None else float(after) / 1000


class ReportsTheStatusClass(GoodNotifier):
    def result(self, response: httpx.Response) -> DeliveryResult:
        result = super().result(response)
        return dataclasses.replace(result, status_code=response.status_code // 100 * 100)


class NeverSends(GoodNotifier):
    def send(self, notification: Notification) -> DeliveryResult:
        return DeliveryResult(DeliveryOutcome.DELIVERED)


class FailsSilently(GoodNotifier):
    def result(self, response: httpx.Response) -> DeliveryResult:
        return dataclasses.replace(super().result(response), error=None)


class ReturnsTrue(GoodNotifier):
    def send(self, notification: Notification) -> Any:
        super().send(notification)
        return True


@dataclasses.dataclass(frozen=True)
class UncheckedResult(DeliveryResult):
    """A result that skips DeliveryResult's own validation, as a careless subclass could."""

    def __post_init__(self) -> None:
        pass


class RetryAfterOnAServerError(GoodNotifier):
    def result(self, response: httpx.Response) -> DeliveryResult:
        result = super().result(response)
        if result.outcome is DeliveryOutcome.TRANSIENT:
            return UncheckedResult(
                result.outcome, retry_after=30.0, status_code=result.status_code, error="later"
            )
        return result


class RateLimitedForever(GoodNotifier):
    def result(self, response: httpx.Response) -> DeliveryResult:
        result = super().result(response)
        if result.outcome is DeliveryOutcome.RATE_LIMITED:
            return UncheckedResult(result.outcome, retry_after=math.inf, error="rate limited")
        return result


class StatusZeroWhenUnreachable(GoodNotifier):
    def unreachable(self, exc: httpx.HTTPError) -> DeliveryResult:
        return DeliveryResult(DeliveryOutcome.TRANSIENT, status_code=0, error="no connection")


class OutcomeAsAWord(GoodNotifier):
    def result(self, response: httpx.Response) -> DeliveryResult:
        result = super().result(response)
        if result.delivered:
            return UncheckedResult("sent", status_code=result.status_code)  # type: ignore[arg-type]
        return result


class EchoingSettings(NotifierSettings):
    """Rejects a non-HTTP URL, and prints the rejected value in the error."""

    type: Literal["good"] = "good"
    url: SecretStr

    @field_validator("url")
    @classmethod
    def _http(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("http"):
            raise ValueError("url must be http(s)")
        return value


class EchoesRejectedSecrets(GoodNotifier):
    Settings = EchoingSettings


def _must_be(outcome: DeliveryOutcome) -> str:
    return f"so the outcome must be {outcome.value} ("


CORE_401 = DeliveryOutcome.from_status(401)
BROKEN_NOTIFIERS: list[tuple[type[Notifier], list[str]]] = [
    (RaisesOnHTTPErrors, ["send() raised HTTPStatusError"]),
    (
        CopiesTheErrorBody,
        ["receiver answers 404 echoing the request: a secret shows in the DeliveryResult"],
    ),
    (LogsTheURL, ["log line(s) written during the check show a secret"]),
    (ForgetsProtectSecrets, ["show a secret, e.g. 'httpx INFO HTTP Request: POST ***"]),
    (ShowsTheURLInItsRepr, ["a secret shows in the notifier's or its settings' repr"]),
    (
        DeliveredWhatever,
        [
            "receiver answers 500 echoing the request: the receiver answered 500, "
            + _must_be(DeliveryOutcome.TRANSIENT),
            "got delivered",
        ],
    ),
    (
        NeverDisables,
        [
            "receiver answers 404 echoing the request: the receiver answered 404, "
            + _must_be(DeliveryOutcome.GONE)
            + "the endpoint is gone or refuses us",
            "got rejected",
        ],
    ),
    (
        OnlyKnows404,
        [
            "receiver answers 410 without a body: the receiver answered 410, "
            + _must_be(DeliveryOutcome.GONE)
        ],
    ),
    (
        RefusedCredentialsTheOtherWay,
        ["receiver answers 401: the receiver answered 401, " + _must_be(CORE_401)],
    ),
    (
        DisablesOnABadMessage,
        [
            "receiver answers 400 echoing the request: the receiver answered 400, "
            + _must_be(DeliveryOutcome.REJECTED)
            + "the receiver refused this message",
            "got gone",
        ],
    ),
    (
        GivesUpOnServerErrors,
        [
            "receiver answers 503 without a body: the receiver answered 503, "
            + _must_be(DeliveryOutcome.TRANSIENT)
            + "the failure is temporary"
        ],
    ),
    (
        GivesUpWhenUnreachable,
        [
            "unreachable endpoint: the connection was refused, "
            + _must_be(DeliveryOutcome.TRANSIENT)
        ],
    ),
    (
        IgnoresRetryAfter,
        [
            "receiver answers 429 rate limit, retry after 7 s: the receiver answered 429, "
            + _must_be(DeliveryOutcome.RATE_LIMITED),
            "the receiver asked to retry after 7 s, the result says retry_after=None",
        ],
    ),
    (
        TakesEvery429ForARateLimit,
        [
            "receiver answers 429 without rate-limit headers: the receiver answered 429, "
            + _must_be(DeliveryOutcome.BLOCKED)
        ],
    ),
    (
        ReadsTheWaitInMilliseconds,
        ["the receiver asked to retry after 7 s, the result says retry_after=0.007"],
    ),
    (ReportsTheStatusClass, ["status_code 500 but the receiver answered 503"]),
    (NeverSends, ["receiver answers 200 with an id: no request reached the receiver"]),
    (FailsSilently, ["transient, not delivered, and no error saying why"]),
    (ReturnsTrue, ["send() returned bool, not a DeliveryResult"]),
    (
        RetryAfterOnAServerError,
        ["retry_after 30.0 belongs to a rate_limited result, not a transient one"],
    ),
    (OutcomeAsAWord, ["outcome 'sent' is not a driftscope.DeliveryOutcome"]),
    (
        RateLimitedForever,
        ["rate_limited with retry_after inf: it must be the number of seconds >= 0 to wait"],
    ),
    (StatusZeroWhenUnreachable, ["unreachable endpoint: status_code 0 is not an HTTP status"]),
    (EchoesRejectedSecrets, ["a rejected url is repeated in the validation error"]),
]


def _good_settings(token: str) -> Callable[[str], dict[str, Any]]:
    return lambda url: {"url": f"{url}/notify/{token}"}


def test_a_correct_notifier_passes() -> None:
    report = check_notifier(GoodNotifier, _good_settings(_token()))
    assert any(p.startswith("HTTP answers") for p in report.passed)
    assert report.skipped == []


def test_the_check_expects_what_the_delivery_worker_is_told() -> None:
    # the rules as the notifier contract states them, written out here, and core's own
    # classification: the check must agree with both, or a notifier it passes would be
    # misread by the delivery worker (401 and 403 follow core, whichever way it decides)
    stated = {
        200: DeliveryOutcome.DELIVERED,
        204: DeliveryOutcome.DELIVERED,
        400: DeliveryOutcome.REJECTED,
        422: DeliveryOutcome.REJECTED,
        404: DeliveryOutcome.GONE,
        410: DeliveryOutcome.GONE,
        500: DeliveryOutcome.TRANSIENT,
        503: DeliveryOutcome.TRANSIENT,
    }
    assert CORE_401 in (DeliveryOutcome.GONE, DeliveryOutcome.REJECTED)
    seen = set()
    for scenario in driftscope.testing._SCENARIOS:
        signalled = bool(scenario.headers)
        core = DeliveryOutcome.from_status(scenario.status, rate_limit_signalled=signalled)
        assert scenario.expect is core, scenario.name
        if scenario.status == 429:
            expected = DeliveryOutcome.RATE_LIMITED if signalled else DeliveryOutcome.BLOCKED
        else:
            expected = stated.get(scenario.status, core)
        assert scenario.expect is expected, scenario.name
        seen.add((scenario.status, signalled))
    assert seen >= {(s, False) for s in [*stated, 401, 403, 429]} | {(429, True)}


def test_the_plugin_guide_states_the_outcome_of_every_answer_the_check_gives() -> None:
    # docs/plugins.md's table of check_notifier's answers, read as data
    text = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text("utf-8")
    table = text.split("| the receiver answers | expected outcome |", 1)[1].split("\n\n", 1)[0]
    rows = []
    for line in table.splitlines()[2:]:
        answers, expected = line.strip("|").split("|")
        (outcome,) = re.findall(r"`([A-Z_]+)`", expected)
        statuses = {int(s) for s in re.findall(r"\b\d{3}\b", answers)}
        rows.append((statuses, answers, DeliveryOutcome[outcome]))
    for scenario in driftscope.testing._SCENARIOS:
        bare = not scenario.headers
        stated = [
            outcome
            for statuses, answers, outcome in rows
            if scenario.status in statuses
            and (scenario.status != 429 or ("without rate-limit" in answers) == bare)
        ]
        assert stated == [scenario.expect], scenario.name
    refused = [outcome for _, answers, outcome in rows if "connection is refused" in answers]
    assert refused == [DeliveryOutcome.TRANSIENT]


@pytest.mark.parametrize(
    ("notifier_cls", "complaints"), BROKEN_NOTIFIERS, ids=[c.__name__ for c, _ in BROKEN_NOTIFIERS]
)
def test_check_notifier_names_what_broke(
    notifier_cls: type[Notifier], complaints: list[str]
) -> None:
    token = _token()
    with pytest.raises(AssertionError) as raised:
        check_notifier(notifier_cls, _good_settings(token))
    message = str(raised.value)
    assert message.startswith(f"{notifier_cls.__name__} breaks the notifier contract:")
    for complaint in complaints:
        assert complaint in message
    assert token not in message  # the check's own message is redacted too


class TokenSettings(NotifierSettings):
    """A notifier without HTTP that still holds a secret."""

    model_config = ConfigDict(hide_input_in_errors=True)
    type: Literal["file-token"] = "file-token"
    token: SecretStr


class LogsItsToken(Notifier):
    """Direct mode: the secret leaks through the log, not HTTP."""

    Settings = TokenSettings

    def send(self, notification: Notification) -> DeliveryResult:
        token = self.settings.token.get_secret_value()  # type: ignore[attr-defined]
        logging.getLogger("broken.notifier").warning("sent with token %s", token)
        return DeliveryResult(DeliveryOutcome.DELIVERED)


def test_check_notifier_without_a_receiver_checks_send_and_logs() -> None:
    token = _token()
    with pytest.raises(AssertionError, match="log line"):
        check_notifier(LogsItsToken, {"token": token})

    class Quiet(LogsItsToken):
        def send(self, notification: Notification) -> DeliveryResult:
            return DeliveryResult(DeliveryOutcome.DELIVERED)

    assert check_notifier(Quiet, {"token": token}).skipped

    class DiskFull(Quiet):
        def send(self, notification: Notification) -> DeliveryResult:
            return DeliveryResult(DeliveryOutcome.TRANSIENT, error="disk full")

    with pytest.raises(AssertionError) as raised:
        check_notifier(DiskFull, {"token": token})
    assert "send: transient, not delivered: disk full" in str(raised.value)
    assert "send (test message): transient, not delivered: disk full" in str(raised.value)


def test_secret_forms_cover_a_url_token_but_not_its_host() -> None:
    token = "T" * 30
    forms = secret_forms([f"https://hooks.example.com/api/webhooks/123456789012345678/{token}?x=1"])
    assert token in forms and "/api/webhooks/123456789012345678/" + token + "?x=1" in forms
    assert not any(
        f in ("hooks.example.com", "123456789012345678", "api", "webhooks") for f in forms
    )


def test_the_local_receiver_records_requests_and_answers_as_told() -> None:
    with LocalReceiver() as receiver:
        receiver.respond(202, {"ok": True}, {"X-Test": "1"})
        answer = httpx.post(receiver.url + "/a?b=c", json={"n": 1}, timeout=10)
        chunks = httpx.post(receiver.url + "/chunked", content=iter([b"ab", b"cd"]), timeout=10)
        (first, second) = receiver.wait_for(2)
    assert answer.status_code == 202 and answer.json() == {"ok": True}
    assert answer.headers["x-test"] == "1" and chunks.status_code == 202
    assert (first.method, first.path, first.json()) == ("POST", "/a?b=c", {"n": 1})
    assert second.body == b"abcd"


def test_sample_notification_round_trips() -> None:
    notification = sample_notification(test=True)
    assert Notification.from_dict(notification.to_dict()) == notification
    assert notification.state == "firing" and notification.test


def test_checks_leave_the_thread_switch_interval_and_root_logger_as_they_were() -> None:
    import sys

    interval, level = sys.getswitchinterval(), logging.getLogger().level
    handlers = list(logging.getLogger().handlers)
    check_detector(GoodDetector, rounds=1)
    check_notifier(GoodNotifier, _good_settings(_token()))
    assert sys.getswitchinterval() == interval
    assert logging.getLogger().level == level and logging.getLogger().handlers == handlers
    assert threading.active_count() < 50
