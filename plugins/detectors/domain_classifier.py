"""Multivariate drift by a domain classifier (``type: domain_classifier``), and where it is.

Train a classifier to tell the window's rows from the reference's, on every feature at once,
and measure how well it does out of sample: the cross-validated ROC AUC. 0.5 means the two
are indistinguishable; the further above, the more the joint distribution moved. Unlike one
test per feature, this sees a change spread thinly over many features, or one that no single
feature shows at all (a correlation that flips while every marginal stays put).

How, concretely:

* both sides are sampled uniformly (seeded) to the same size ``n = min(reference rows, window
  rows, max_rows)``, so the AUC of windows of different sizes stays comparable;
* numeric features go in as they are (infinities as missing); categorical ones as codes of the
  reference's categories (the most frequent 254, the rest and unseen ones in one more code),
  missing values as missing, which the classifier handles natively;
* the classifier is scikit-learn's ``HistGradientBoostingClassifier`` (``max_iter`` trees),
  scored by ``folds``-fold stratified cross-validation; ``statistic`` is the mean fold AUC;
* the threshold, unless ``threshold`` is configured, is learned from the reference alone:
  ``calibration_splits`` random halves of the reference against each other give the AUCs of
  "no drift"; the threshold is their mean plus ``z`` standard deviations, the deviation
  scaled to the window's sample size (the AUC's spread shrinks as 1/sqrt(n)) and never taken
  below the Hanley-McNeil standard error of an AUC of 0.5 at that size, so that a lucky,
  tight calibration cannot make the detector jumpy;
* ``details["ranking"]`` says where the change is: each feature's permutation importance on
  the last fold (how much the AUC falls when that feature's values are shuffled), as shares
  of the total, most important first.

It is a :class:`driftscope.WindowDetector` and uses only the public ``driftscope`` surface.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
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

#: how many features ``details["ranking"]`` lists
MAX_RANKED = 50


class DomainClassifierSettings(DetectorSettings):
    """Settings of the ``domain_classifier`` detector."""

    threshold: float | None = Field(
        default=None,
        gt=0.5,
        lt=1.0,
        allow_inf_nan=False,
        description=(
            "ROC AUC at or above which the window drifted. Default: learned from the "
            "reference (random halves against each other)."
        ),
    )
    z: float = Field(
        default=3.0,
        gt=0.0,
        le=10.0,
        allow_inf_nan=False,
        description="Standard deviations of the no-drift AUC above its mean (learned threshold).",
    )
    max_rows: int = Field(
        default=5_000, ge=100, le=1_000_000, description="Rows sampled from each side at most."
    )
    min_rows: int = Field(
        default=100, ge=20, description="Fewer window rows than this: insufficient data."
    )
    folds: int = Field(default=5, ge=2, le=20, description="Cross-validation folds.")
    max_iter: int = Field(
        default=25, ge=1, le=1_000, description="Boosting iterations of the classifier."
    )
    calibration_splits: int = Field(
        default=3,
        ge=2,
        le=50,
        description="Reference-against-reference splits that set the threshold.",
    )
    seed: int = Field(default=0, ge=0, description="Seed of the sampling and the folds.")
    threads: int = Field(
        default=1,
        ge=1,
        le=64,
        description=(
            "OpenMP threads the classifier may use. More than 1 helps only on an idle "
            "machine: on a busy one, threads waiting for each other cost many times the work."
        ),
    )


@dataclass(frozen=True)
class DomainProfile:
    """The reference as the classifier sees it, and the AUCs of no drift."""

    encoding: FeatureEncoder
    matrix: np.ndarray
    null_aucs: tuple[float, ...]
    null_rows: int  # the per-side sample size the null AUCs were measured at


class DomainClassifierDetector(WindowDetector[DomainClassifierSettings, DomainProfile]):
    """Drift when a classifier tells the window from the reference better than chance
    allows (cross-validated ROC AUC above the threshold); ranks the features it used."""

    Settings = DomainClassifierSettings

    @property
    def threshold(self) -> float:
        """The configured AUC threshold, or 0.5 until one is learned from the reference."""
        return self.settings.threshold if self.settings.threshold is not None else 0.5

    def _features(self, sample: WindowSample) -> list[str]:
        wanted = self.settings.features
        return [name for name in sample.features if wanted is None or name in wanted]

    def fit(self, reference: WindowSample) -> DomainProfile:
        with threadpool_limits(self.settings.threads, user_api="openmp"):
            return self._fit(reference)

    def score(self, profile: DomainProfile, current: WindowSample) -> list[WindowResult]:
        with threadpool_limits(self.settings.threads, user_api="openmp"):
            return self._score(profile, current)

    def _fit(self, reference: WindowSample) -> DomainProfile:
        names = self._features(reference)
        if not names:
            raise ValueError("no feature to classify on (check `features`)")
        encoding = FeatureEncoder.fit(reference, names)
        matrix = encoding.matrix(reference)
        rng = np.random.default_rng(self.settings.seed)
        half = min(len(matrix) // 2, self.settings.max_rows)
        null_aucs: list[float] = []
        if self.settings.threshold is None:
            if half < self.settings.min_rows:
                raise ValueError(
                    f"the reference has {len(matrix)} rows; learning a threshold needs at least "
                    f"{2 * self.settings.min_rows} (or configure `threshold`)"
                )
            for _ in range(self.settings.calibration_splits):
                order = rng.permutation(len(matrix))
                a, b = matrix[order[:half]], matrix[order[half : 2 * half]]
                aucs, _ = self._cross_validate(a, b, encoding, rng)
                null_aucs.append(float(np.mean(aucs)))
        return DomainProfile(encoding, matrix, tuple(null_aucs), half)

    def _score(self, profile: DomainProfile, current: WindowSample) -> list[WindowResult]:
        rows = current.rows
        if rows < self.settings.min_rows:
            return [
                WindowResult(
                    None,
                    None,
                    self.threshold,
                    False,
                    status="insufficient_data",
                    error=f"{rows} window rows, at least {self.settings.min_rows} needed",
                    details={"current_rows": rows},
                )
            ]
        rng = np.random.default_rng(self.settings.seed + 1)
        n = min(len(profile.matrix), rows, self.settings.max_rows)
        reference = profile.matrix[rng.choice(len(profile.matrix), n, replace=False)]
        window = profile.encoding.matrix(current, rng.choice(rows, n, replace=False))
        fold_aucs, last_fold = self._cross_validate(reference, window, profile.encoding, rng)
        auc = float(np.mean(fold_aucs))
        ranking = _permutation_ranking(profile.encoding.names, last_fold, fold_aucs[-1], rng)
        threshold, source, null = self._threshold(profile, n)
        details: dict[str, Any] = {
            "auc_folds": [round(a, 6) for a in fold_aucs],
            "sample_rows": n,
            "current_rows": rows,
            "reference_rows": len(profile.matrix),
            "threshold_from": source,
            "ranking": ranking[:MAX_RANKED],
        }
        if null:
            details["no_drift_auc"] = null
        return [WindowResult(auc, None, threshold, auc >= threshold, details=details)]

    def _threshold(self, profile: DomainProfile, n: int) -> tuple[float, str, dict[str, Any]]:
        if self.settings.threshold is not None:
            return self.settings.threshold, "configured", {}
        aucs = np.array(profile.null_aucs)
        mean = float(aucs.mean())
        spread = float(aucs.std(ddof=1)) * math.sqrt(profile.null_rows / n)
        floor = _hanley_mcneil_se(n, n)
        deviation = max(spread, floor)
        threshold = min(mean + self.settings.z * deviation, 0.999)
        null = {
            "mean": round(mean, 6),
            "std_at_sample_size": round(deviation, 6),
            "splits": [round(a, 6) for a in profile.null_aucs],
        }
        return max(threshold, 0.5 + 1e-6), "reference splits", null

    def _cross_validate(
        self,
        reference: np.ndarray,
        window: np.ndarray,
        encoding: FeatureEncoder,
        rng: np.random.Generator,
    ) -> tuple[list[float], Fold]:
        """The AUC of each fold (reference rows labelled 0, window rows 1), and the last
        fold's classifier with its held-out rows."""
        x = np.vstack([reference, window])
        y = np.concatenate([np.zeros(len(reference)), np.ones(len(window))])
        seed = int(rng.integers(2**31 - 1))
        folds = StratifiedKFold(self.settings.folds, shuffle=True, random_state=seed)
        aucs: list[float] = []
        fold: Fold | None = None
        for train, test in folds.split(x, y):
            classifier = HistGradientBoostingClassifier(
                max_iter=self.settings.max_iter,
                categorical_features=encoding.categorical_mask,
                early_stopping=False,
                random_state=seed,
            )
            classifier.fit(x[train], y[train])
            aucs.append(float(roc_auc_score(y[test], classifier.predict_proba(x[test])[:, 1])))
            fold = Fold(classifier, x[test], y[test])
        if fold is None:  # StratifiedKFold always yields at least two folds
            raise RuntimeError("cross-validation made no fold")
        return aucs, fold


@dataclass(frozen=True)
class Fold:
    """One cross-validation fold's classifier and the rows it was tested on."""

    classifier: HistGradientBoostingClassifier
    x: np.ndarray
    y: np.ndarray


def _permutation_ranking(
    names: tuple[str, ...], fold: Fold, auc: float, rng: np.random.Generator
) -> list[dict[str, Any]]:
    """Each feature's fall in AUC when its column is shuffled, as shares of the total."""
    classifier, x, y = fold.classifier, fold.x, fold.y
    drops = []
    for column in range(x.shape[1]):
        shuffled = x.copy()
        shuffled[:, column] = shuffled[rng.permutation(len(x)), column]
        drop = auc - float(roc_auc_score(y, classifier.predict_proba(shuffled)[:, 1]))
        drops.append(max(drop, 0.0))
    total = sum(drops)
    ranked = sorted(zip(names, drops, strict=True), key=lambda item: -item[1])
    return [
        {
            "feature": name,
            "importance": round(drop / total, 6) if total > 0 else 0.0,
            "auc_drop": round(drop, 6),
        }
        for name, drop in ranked
    ]


def _hanley_mcneil_se(n_reference: int, n_window: int) -> float:
    """The standard error of an ROC AUC of 0.5 (Hanley & McNeil 1982) for these sizes."""
    return math.sqrt((n_reference + n_window + 1) / (12 * n_reference * n_window))


@hookimpl
def driftscope_detectors() -> Any:
    """Register the ``domain_classifier`` detector."""
    yield DetectorRecord("domain_classifier", DomainClassifierDetector)
