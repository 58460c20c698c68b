"""Estimated performance of a regressor before labels arrive: direct loss estimation
(``type: dle``).

A regressor gives no probabilities to sum, but its errors are often predictable from its
inputs: some regions of the feature space are harder than others. So:

1. **fit** on the labelled reference: learn, with scikit-learn's
   ``HistGradientBoostingRegressor`` on the features and the model's prediction, the absolute
   error ``|y - ŷ|`` (for MAE) and the squared error ``(y - ŷ)²`` (for RMSE). The loss models
   are trained on half the reference and their bias corrected on the other half (the
   estimate's mean against the realized mean there), so the estimate does not inherit the
   optimism of predicting its own training rows. The reference's realized MAE and RMSE are
   the bar: ``threshold = reference_value * (1 + max_drop)``, an error up by ``max_drop``.
2. **score** a window from its features and predictions alone: the estimated MAE is the mean
   predicted absolute error, the estimated RMSE the square root of the mean predicted squared
   error; ``drifted`` when the estimate is above the threshold. The band (``details.lower``,
   ``details.upper``) is the estimate ± ``band_sigmas`` (3) standard errors of the realized
   metric at the window's size, from the spread of the reference's errors (for RMSE through
   the delta method). With labels in the window, ``details.realized`` is the metric on them.

It is a :class:`driftscope.WindowDetector` and uses only the public ``driftscope`` surface.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from driftscope import (
    DetectorRecord,
    DetectorSettings,
    FeatureEncoder,
    WindowDetector,
    WindowResult,
    WindowSample,
    hookimpl,
)

Metric = Literal["mae", "rmse"]


class DLESettings(DetectorSettings):
    """Settings of the ``dle`` detector."""

    metrics: list[Metric] = Field(
        default=["mae", "rmse"], min_length=1, description="Metrics to estimate: mae, rmse."
    )
    max_drop: float = Field(
        default=0.15,
        gt=0.0,
        le=10.0,
        allow_inf_nan=False,
        description="Relative rise of the error over the reference's own that counts as drift.",
    )
    min_samples: int = Field(
        default=100, ge=1, description="Fewer window rows with a prediction: insufficient data."
    )
    band_sigmas: float = Field(
        default=3.0,
        gt=0.0,
        le=10.0,
        allow_inf_nan=False,
        description="Half-width of the confidence band, in standard errors.",
    )
    max_iter: int = Field(
        default=100, ge=1, le=1_000, description="Boosting iterations of the loss models."
    )
    threads: int = Field(
        default=1, ge=1, le=64, description="OpenMP threads the loss models may use."
    )
    seed: int = Field(default=0, ge=0, description="Seed of the reference split and the models.")


@dataclass(frozen=True)
class LossModel:
    """A model of one loss, with the bias its held-out half showed."""

    model: HistGradientBoostingRegressor
    bias: float  # realized mean minus estimated mean on the held-out half

    def mean(self, x: np.ndarray) -> float:
        return max(float(self.model.predict(x).mean()) + self.bias, 0.0)


@dataclass(frozen=True)
class DLEProfile:
    """The loss models, the encoder of their inputs, and the reference's errors."""

    encoder: FeatureEncoder
    absolute: LossModel
    squared: LossModel
    reference_values: dict[str, float]
    absolute_std: float  # spread of |y - ŷ| on the reference
    squared_std: float  # spread of (y - ŷ)² on the reference
    reference_rows: int


class DLEDetector(WindowDetector[DLESettings, DLEProfile]):
    """Estimates a regressor's MAE and RMSE from its inputs and predictions alone, and flags
    a rise beyond ``max_drop`` over the reference's values."""

    Settings = DLESettings

    @property
    def drifts_when(self) -> Literal["below", "above"]:
        """A value above the threshold is drift."""
        return "above"

    @property
    def threshold(self) -> float:
        """The largest tolerated relative rise of the error, ``settings.max_drop``."""
        return self.settings.max_drop

    def fit(self, reference: WindowSample) -> DLEProfile:
        if reference.task != "regression":
            raise ValueError("dle estimates regressors' errors; use cbpe for classifiers")
        labelled = reference.labelled() & np.isfinite(
            np.asarray(reference.predictions, dtype=np.float64)
        )
        rows = int(labelled.sum())
        if rows < 20:
            raise ValueError(f"the reference has {rows} labelled rows; dle needs at least 20")
        encoder = FeatureEncoder.fit(reference)
        x = _inputs(encoder, reference)[labelled]
        error = (
            np.asarray(reference.labels, np.float64)[labelled]
            - np.asarray(reference.predictions, np.float64)[labelled]
        )
        absolute, squared = np.abs(error), error**2
        with threadpool_limits(self.settings.threads, user_api="openmp"):
            half = np.random.default_rng(self.settings.seed).permutation(rows)
            train, hold = half[: rows // 2], half[rows // 2 :]
            categorical = np.append(encoder.categorical_mask, False)
            models = [
                self._loss_model(x, target, train, hold, categorical)
                for target in (absolute, squared)
            ]
        values = {"mae": float(absolute.mean()), "rmse": math.sqrt(float(squared.mean()))}
        return DLEProfile(
            encoder,
            models[0],
            models[1],
            values,
            float(absolute.std(ddof=1)),
            float(squared.std(ddof=1)),
            rows,
        )

    def _loss_model(
        self,
        x: np.ndarray,
        target: np.ndarray,
        train: np.ndarray,
        hold: np.ndarray,
        categorical: np.ndarray,
    ) -> LossModel:
        model = HistGradientBoostingRegressor(
            max_iter=self.settings.max_iter,
            categorical_features=categorical,
            early_stopping=False,
            random_state=self.settings.seed,
        )
        model.fit(x[train], target[train])
        bias = float(target[hold].mean() - model.predict(x[hold]).mean())
        return LossModel(model, bias)

    def score(self, profile: DLEProfile, current: WindowSample) -> list[WindowResult]:
        predictions = np.asarray(current.predictions, dtype=np.float64)
        usable = np.isfinite(predictions)
        rows = int(usable.sum())
        labels = np.asarray(current.labels, dtype=np.float64)
        labelled = usable & np.isfinite(labels)
        common = {
            "rows": rows,
            "reference_rows": profile.reference_rows,
            "realized_rows": int(labelled.sum()),
        }
        x = _inputs(profile.encoder, current)[usable] if rows else None
        realized_error = labels[labelled] - predictions[labelled]
        results = []
        for metric in self.settings.metrics:
            reference_value = profile.reference_values[metric]
            ceiling = reference_value * (1 + self.settings.max_drop)
            details: dict[str, Any] = dict(common, reference_value=reference_value)
            if rows < self.settings.min_samples or x is None:
                results.append(
                    WindowResult(
                        None,
                        None,
                        ceiling,
                        False,
                        status="insufficient_data",
                        error=f"{rows} rows with a prediction, at least "
                        f"{self.settings.min_samples} needed",
                        details=details,
                        kind="performance",
                        feature=metric,
                    )
                )
                continue
            with threadpool_limits(self.settings.threads, user_api="openmp"):
                if metric == "mae":
                    estimate = profile.absolute.mean(x)
                    se = profile.absolute_std / math.sqrt(rows)
                else:
                    mse = profile.squared.mean(x)
                    estimate = math.sqrt(mse)
                    # delta method: sd(sqrt(M)) = sd(M) / (2 sqrt(M))
                    se = profile.squared_std / math.sqrt(rows) / (2 * estimate) if mse > 0 else 0.0
            half = self.settings.band_sigmas * se
            details.update(
                lower=max(estimate - half, 0.0), upper=estimate + half, standard_error=se
            )
            if len(realized_error):
                details["realized"] = (
                    float(np.abs(realized_error).mean())
                    if metric == "mae"
                    else math.sqrt(float((realized_error**2).mean()))
                )
            results.append(
                WindowResult(
                    estimate,
                    None,
                    ceiling,
                    estimate > ceiling,
                    details=details,
                    kind="performance",
                    feature=metric,
                )
            )
        return results


def _inputs(encoder: FeatureEncoder, sample: WindowSample) -> np.ndarray:
    """The loss models' inputs: the encoded features and the model's prediction."""
    predictions = np.asarray(sample.predictions, dtype=np.float64)[:, None]
    return np.hstack([encoder.matrix(sample), predictions])


@hookimpl
def driftscope_detectors() -> Any:
    """Register the ``dle`` detector."""
    yield DetectorRecord("dle", DLEDetector)
