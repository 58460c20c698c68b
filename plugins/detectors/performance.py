"""Model performance detector (``type: performance``): has the measured metric degraded?

``fit`` computes the metric on the labelled reference (the model's own predictions on its
reference rows); ``score`` computes it on the labelled rows of the window. The model has
degraded when the metric falls by more than ``max_drop`` relative to the reference (the
"15% rule"), or, for the error metrics ``mae`` and ``rmse``, rises by more than ``max_drop``.

* ``accuracy``; ``f1``: binary F1 of the positive class (the second of the model's classes),
  macro-averaged F1 over the reference classes when there are more than two; ``roc_auc``:
  needs class probabilities (binary: the positive class column; multiclass: one-vs-rest,
  macro average).
* ``mae``, ``rmse`` for regressors.

Below ``min_samples`` labelled rows the result is ``insufficient_data`` (never drifted):
labels arrive late, and a metric on a handful of rows is noise.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator
from sklearn import metrics

from driftscope import (
    DetectorRecord,
    DetectorResult,
    DetectorSettings,
    LabelledSample,
    PerformanceDetector,
    hookimpl,
)

Metric = Literal["accuracy", "f1", "roc_auc", "mae", "rmse"]
CLASSIFICATION_METRICS: frozenset[str] = frozenset({"accuracy", "f1", "roc_auc"})
ERROR_METRICS: frozenset[str] = frozenset({"mae", "rmse"})


class PerformanceSettings(DetectorSettings):
    """Settings of the ``performance`` detector."""

    metric: Metric = Field(
        default="accuracy",
        description=(
            "accuracy, f1 or roc_auc for classifiers (higher is better); mae or rmse for "
            "regressors (lower is better)."
        ),
    )
    max_drop: float = Field(
        default=0.15,
        gt=0.0,
        description=(
            "Largest tolerated relative degradation against the reference: 0.15 flags "
            "accuracy below 85% of its reference value, or an error above 115% of it."
        ),
    )
    min_samples: int = Field(
        default=50,
        ge=1,
        description="Fewest labelled rows in the window for the metric to be judged.",
    )

    @model_validator(mode="after")
    def _drop_below_one(self) -> PerformanceSettings:
        if self.metric in CLASSIFICATION_METRICS and self.max_drop >= 1.0:
            raise ValueError(
                f"max_drop must be below 1 for {self.metric} (a relative drop of 1 is a "
                f"metric of zero), got {self.max_drop}"
            )
        return self


@dataclass(frozen=True)
class PerformanceProfile:
    """The metric on the labelled reference, or why it could not be computed."""

    metric: str
    value: float | None
    rows: int
    classes: tuple[str, ...] | None
    error: str | None = None


class MetricUnavailable(Exception):
    """The metric cannot be computed from this data (described, not a bug)."""

    def __init__(self, message: str, status: Literal["failed", "insufficient_data"]) -> None:
        super().__init__(message)
        self.status = status


class PerformanceDropDetector(PerformanceDetector[PerformanceSettings, PerformanceProfile]):
    """Flags a relative drop of the model's measured metric against its reference value."""

    Settings: ClassVar[type[DetectorSettings]] = PerformanceSettings

    @property
    def threshold(self) -> float:
        """The largest tolerated relative degradation, ``settings.max_drop``: the threshold of
        a result the engine records when scoring raised. A scored result carries the metric
        limit it was compared with (:meth:`acceptable_limit`)."""
        return self.settings.max_drop

    @property
    def lower_is_better(self) -> bool:
        return self.settings.metric in ERROR_METRICS

    @property
    def drifts_when(self) -> Literal["below", "above"]:
        """Below the lowest acceptable accuracy, F1 or ROC AUC; above the highest acceptable
        MAE or RMSE."""
        return "above" if self.lower_is_better else "below"

    def fit(self, reference: LabelledSample) -> PerformanceProfile:
        """Compute the metric on the labelled reference."""
        classes = _classes(reference)
        try:
            value = compute_metric(self.settings.metric, reference, classes)
        except MetricUnavailable as exc:
            return PerformanceProfile(self.settings.metric, None, reference.size, classes, str(exc))
        return PerformanceProfile(self.settings.metric, value, reference.size, classes)

    def score(self, profile: PerformanceProfile, current: LabelledSample) -> DetectorResult:
        """Compute the metric on the window's labelled rows and compare it with the reference."""
        metric = self.settings.metric
        rows = current.size
        details: dict[str, Any] = {
            "metric": metric,
            "reference_value": profile.value,
            "current_value": None,
            "relative_change": None,
            "max_drop": self.settings.max_drop,
            "labelled_rows": rows,
            "min_samples": self.settings.min_samples,
            "reference_size": profile.rows,
            "current_size": rows,
        }
        if profile.value is None:
            return self._unscored(
                "failed", f"reference {metric} unavailable: {profile.error}", 0.0, details
            )
        threshold = self.acceptable_limit(profile.value)
        if rows < self.settings.min_samples:
            message = f"not enough labels: {rows} of min_samples {self.settings.min_samples}"
            return self._unscored("insufficient_data", message, threshold, details)
        try:
            value = compute_metric(metric, current, profile.classes)
        except MetricUnavailable as exc:
            return self._unscored(exc.status, str(exc), threshold, details)
        change = relative_change(profile.value, value)
        details["current_value"] = value
        details["relative_change"] = change
        drifted = value > threshold if self.lower_is_better else value < threshold
        return DetectorResult(
            statistic=value, p_value=None, threshold=threshold, drifted=drifted, details=details
        )

    def acceptable_limit(self, reference_value: float) -> float:
        """The lowest acceptable metric (or the highest acceptable error)."""
        if self.lower_is_better:
            return reference_value * (1.0 + self.settings.max_drop)
        return reference_value * (1.0 - self.settings.max_drop)

    @staticmethod
    def _unscored(
        status: Literal["failed", "insufficient_data"],
        message: str,
        threshold: float,
        details: dict[str, Any],
    ) -> DetectorResult:
        details["reason"] = message
        return DetectorResult(
            statistic=None,
            p_value=None,
            threshold=threshold,
            drifted=False,
            status=status,
            error=message,
            details=details,
        )


def relative_change(reference: float, current: float) -> float | None:
    """``(current - reference) / |reference|``, or None when the reference is 0."""
    if reference == 0.0:
        return None
    return (current - reference) / abs(reference)


def _classes(sample: LabelledSample) -> tuple[str, ...] | None:
    if sample.task != "classification":
        return None
    if sample.classes:
        return tuple(str(c) for c in sample.classes)
    seen = np.union1d(sample.y_true.astype(str), sample.y_pred.astype(str))
    return tuple(str(c) for c in seen)


def compute_metric(metric: str, sample: LabelledSample, classes: tuple[str, ...] | None) -> float:
    """The metric on a labelled sample; :class:`MetricUnavailable` when it cannot be computed."""
    if sample.size == 0:
        raise MetricUnavailable("no labelled rows", "insufficient_data")
    if metric in CLASSIFICATION_METRICS and sample.task != "classification":
        raise MetricUnavailable(
            f"metric {metric} needs a classifier; the model is a regressor", "failed"
        )
    if metric in ERROR_METRICS and sample.task != "regression":
        raise MetricUnavailable(
            f"metric {metric} needs a regressor; the model is a classifier", "failed"
        )
    if metric == "mae":
        return float(metrics.mean_absolute_error(sample.y_true, sample.y_pred))
    if metric == "rmse":
        return float(metrics.root_mean_squared_error(sample.y_true, sample.y_pred))
    assert classes is not None
    y_true = sample.y_true.astype(str)
    y_pred = sample.y_pred.astype(str)
    if metric == "accuracy":
        return float(metrics.accuracy_score(y_true, y_pred))
    if metric == "f1":
        if len(classes) == 2:
            return float(
                metrics.f1_score(
                    y_true, y_pred, pos_label=classes[1], average="binary", zero_division=0.0
                )
            )
        return float(
            metrics.f1_score(
                y_true, y_pred, labels=list(classes), average="macro", zero_division=0.0
            )
        )
    return _roc_auc(sample, y_true, classes)


def _roc_auc(sample: LabelledSample, y_true: np.ndarray, classes: tuple[str, ...]) -> float:
    proba = sample.proba
    if proba is None:
        raise MetricUnavailable(
            "roc_auc needs class probabilities, and the model gave none (no predict_proba?)",
            "failed",
        )
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape != (sample.size, len(classes)):
        raise MetricUnavailable(
            f"roc_auc needs one probability column per class ({len(classes)}), "
            f"got shape {proba.shape}",
            "failed",
        )
    present = set(np.unique(y_true).tolist())
    missing = [c for c in classes if c not in present]
    if len(classes) < 2 or missing:
        raise MetricUnavailable(
            "roc_auc needs every class among the labels; missing: " + ", ".join(missing or classes),
            "insufficient_data",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if len(classes) == 2:
                value = metrics.roc_auc_score(y_true == classes[1], proba[:, 1])
            else:
                value = metrics.roc_auc_score(
                    y_true, proba, multi_class="ovr", average="macro", labels=list(classes)
                )
    except ValueError as exc:  # e.g. multiclass scores that do not sum to 1
        raise MetricUnavailable(f"roc_auc: {exc}", "failed") from exc
    if not math.isfinite(value):
        raise MetricUnavailable("roc_auc is undefined on these labels", "insufficient_data")
    return float(value)


@hookimpl
def driftscope_detectors() -> Any:
    """Register the ``performance`` detector."""
    yield DetectorRecord("performance", PerformanceDropDetector)
