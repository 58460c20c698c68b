"""Estimated performance before labels arrive: confidence-based performance estimation
(``type: cbpe``) for classifiers, binary and multiclass.

If a classifier's probabilities are calibrated, a row predicted as class ``k`` with
probability ``p`` of being ``k`` is right with probability ``p``. Summed over a window, the
probabilities give the *expected* confusion matrix, and from it every metric, with no label
at all. So:

1. **fit** on the labelled reference: check whether the model's probabilities are
   calibrated. Isotonic regression (one per class, one-vs-rest) is fitted on 90% of the
   reference and the expected calibration error (ECE; 10 bins at the deciles of the
   probabilities, each holding whole groups of tied values) of the held-out 10% compared
   before and after, over ``calibration_splits`` stratified splits; when calibrating lowers
   the ECE in every split, the detector calibrates (isotonic on the whole reference),
   otherwise it uses the probabilities as given (the rule NannyML documents; its 0.13 code
   compares the ECE of all held-out rows pooled instead): maps fitted to probabilities that
   are calibrated already only add noise. The reference's own realized value of each metric
   is the bar: ``threshold = reference_value * (1 - max_drop)``.
2. **score** a window from its probabilities alone:

   * binary, with ``p_i`` the calibrated probability of the positive class and ``ŷ_i`` the
     model's prediction: ``E[TP] = Σ p_i [ŷ_i = 1]``, ``E[FP] = Σ (1 - p_i) [ŷ_i = 1]``,
     ``E[FN] = Σ p_i [ŷ_i = 0]``, ``E[TN] = Σ (1 - p_i) [ŷ_i = 0]``; accuracy, precision,
     recall and F1 follow. ROC AUC is the AUC of the scores with each row counted as a
     positive of weight ``p_i`` and a negative of weight ``1 - p_i``;
   * multiclass: the same one-vs-rest for each class (calibrated probabilities renormalised
     to sum to 1), macro-averaged; accuracy is the mean probability of the predicted class.

   ``drifted`` when the estimate is below the threshold. The band (``details.lower``,
   ``details.upper``) is the estimate ± ``band_sigmas`` (3) standard errors of the realized
   metric at the window's size: binomial bounds for accuracy, precision, recall and F1
   (over the rows, predicted positives, expected positives, and their mean), Hanley &
   McNeil's for ROC AUC; a macro average's variance is the classes' variances summed over
   the number of classes squared. When the window has labels, ``details.realized`` is the metric on
   those rows (``realized_rows`` of them).

Rows without probabilities (records sent without them) are left out and counted; with fewer
than ``min_samples`` left (none at all, say), every metric is ``insufficient_data``. It is a
:class:`driftscope.WindowDetector` and uses only the public ``driftscope`` surface.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from driftscope import (
    DetectorRecord,
    DetectorSettings,
    WindowDetector,
    WindowResult,
    WindowSample,
    hookimpl,
)

Metric = Literal["roc_auc", "accuracy", "f1", "precision", "recall"]
ECE_BINS = 10
#: the calibration check runs on a uniform sample of this many reference rows at most: its
#: ECE comparison is settled long before, and each split refits isotonic maps
CHECK_ROWS = 20_000


class CBPESettings(DetectorSettings):
    """Settings of the ``cbpe`` detector."""

    metrics: list[Metric] = Field(
        default=["roc_auc", "accuracy"],
        min_length=1,
        description="Metrics to estimate: roc_auc, accuracy, f1, precision, recall "
        "(multiclass: macro averages).",
    )
    max_drop: float = Field(
        default=0.15,
        gt=0.0,
        lt=1.0,
        allow_inf_nan=False,
        description="Relative drop from the reference's own value that counts as drift.",
    )
    min_samples: int = Field(
        default=100, ge=1, description="Fewer window rows with probabilities: insufficient data."
    )
    band_sigmas: float = Field(
        default=3.0,
        gt=0.0,
        le=10.0,
        allow_inf_nan=False,
        description="Half-width of the confidence band, in standard errors.",
    )
    calibration: Literal["auto", "isotonic", "none"] = Field(
        default="auto",
        description="auto: calibrate when it lowers the held-out calibration error in every "
        "split; "
        "isotonic: always; none: use the probabilities as given.",
    )
    calibration_splits: int = Field(
        default=10, ge=2, le=100, description="Held-out splits of the calibration check."
    )


@dataclass(frozen=True)
class Calibration:
    """Isotonic maps of the classes scored one-vs-rest (see :func:`_scored`), or none."""

    maps: tuple[IsotonicRegression, ...] | None

    def apply(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, rows summing to 1 (none for no rows: scikit-learn's
        isotonic maps refuse an empty array)."""
        if self.maps is None or len(proba) == 0:
            return proba
        if proba.shape[1] == 2:  # binary: calibrate the positive class, the negative follows
            positive = self.maps[0].predict(proba[:, 1])
            return np.column_stack([1 - positive, positive])
        out = np.column_stack([m.predict(proba[:, k]) for k, m in enumerate(self.maps)])
        totals = out.sum(axis=1, keepdims=True)
        # a row every map sends to 0 keeps its original probabilities
        fallback = totals[:, 0] <= 0
        out[fallback] = proba[fallback]
        totals[fallback] = out[fallback].sum(axis=1, keepdims=True)
        return out / totals


@dataclass(frozen=True)
class CBPEProfile:
    """The calibration, the classes and the reference's realized metrics."""

    classes: tuple[str, ...]
    calibration: Calibration
    calibrated: bool
    ece_before: float
    ece_after: float
    reference_values: dict[Metric, float]
    reference_rows: int


class CBPEDetector(WindowDetector[CBPESettings, CBPEProfile]):
    """Estimates a classifier's ROC AUC, accuracy, F1, precision and recall from its
    probabilities alone, and flags a drop beyond ``max_drop`` of the reference's values."""

    Settings = CBPESettings

    @property
    def drifts_when(self) -> Literal["below", "above"]:
        """An estimate below the lowest acceptable value is drift."""
        return "below"

    @property
    def threshold(self) -> float:
        """The largest tolerated relative drop, ``settings.max_drop``."""
        return self.settings.max_drop

    def fit(self, reference: WindowSample) -> CBPEProfile:
        if reference.task != "classification" or not reference.classes:
            raise ValueError("cbpe estimates classifiers' performance; use dle for regressors")
        if reference.probabilities is None:
            raise ValueError(
                "cbpe needs the model's probabilities on the reference: a model file with "
                "predict_proba, or probability_columns in the model's config"
            )
        classes = tuple(reference.classes)
        keep = reference.labelled() & _has_probabilities(reference.probabilities)
        labels = reference.labels[keep].astype(str)
        proba = reference.probabilities[keep]
        if len(np.unique(labels)) < 2:
            raise ValueError("the reference needs labelled rows of at least two classes")
        onehot = _one_hot(labels, classes)
        ece_before, ece_after, helps = _calibration_check(
            proba, onehot, self.settings.calibration_splits
        )
        mode = self.settings.calibration
        calibrate = mode == "isotonic" or (mode == "auto" and helps)
        calibration = Calibration(_fit_maps(proba, onehot) if calibrate else None)
        y_true = _codes(labels, classes)
        y_pred = _codes(reference.predictions[keep], classes)
        values = {
            metric: _realized(metric, y_true, y_pred, proba, classes)
            for metric in self.settings.metrics
        }
        return CBPEProfile(
            classes, calibration, calibrate, ece_before, ece_after, values, int(keep.sum())
        )

    def score(self, profile: CBPEProfile, current: WindowSample) -> list[WindowResult]:
        probabilities = current.probabilities
        if probabilities is None:  # a store that holds none: no row of the window has them
            probabilities = np.full((current.rows, len(profile.classes)), np.nan)
        usable = _has_probabilities(probabilities)
        rows = int(usable.sum())
        given = probabilities[usable]
        calibrated = profile.calibration.apply(given)
        predicted = current.predictions[usable]
        labelled = current.labelled()[usable]
        y_true = _codes(current.labels[usable][labelled], profile.classes)
        y_pred = _codes(predicted[labelled], profile.classes)
        common = {
            "rows": rows,
            "rows_without_probabilities": int(current.rows - rows),
            "calibrated": profile.calibrated,
            "ece_before": round(profile.ece_before, 6),
            "ece_after": round(profile.ece_after, 6),
            "reference_rows": profile.reference_rows,
            "realized_rows": int(labelled.sum()),
        }
        results = []
        for metric in self.settings.metrics:
            reference_value = profile.reference_values[metric]
            floor = reference_value * (1 - self.settings.max_drop)
            details: dict[str, Any] = dict(common, reference_value=reference_value)
            if rows < self.settings.min_samples:
                results.append(
                    WindowResult(
                        None,
                        None,
                        floor,
                        False,
                        status="insufficient_data",
                        error=_too_few(rows, current.rows, self.settings.min_samples),
                        details=details,
                        kind="performance",
                        feature=metric,
                    )
                )
                continue
            estimate, se = _estimate(metric, given, calibrated, predicted, profile.classes)
            half = self.settings.band_sigmas * se
            details["lower"] = max(estimate - half, 0.0)
            details["upper"] = min(estimate + half, 1.0)
            details["standard_error"] = se
            if labelled.any():
                try:
                    details["realized"] = _realized(
                        metric, y_true, y_pred, given[labelled], profile.classes
                    )
                except ValueError as exc:  # e.g. one class only among the labelled rows
                    details["realized_error"] = str(exc)
            results.append(
                WindowResult(
                    estimate,
                    None,
                    floor,
                    estimate < floor,
                    details=details,
                    kind="performance",
                    feature=metric,
                )
            )
        return results


def _too_few(rows: int, window_rows: int, needed: int) -> str:
    if rows == 0 and window_rows > 0:
        return (
            f"none of the window's {window_rows} rows has probabilities (send them with each "
            f"record); at least {needed} needed"
        )
    return f"{rows} rows with probabilities, at least {needed} needed"


# -- estimation --------------------------------------------------------------------------------
def _estimate(
    metric: Metric,
    scores: np.ndarray,
    proba: np.ndarray,
    predicted: np.ndarray,
    classes: tuple[str, ...],
) -> tuple[float, float]:
    """The expected metric and its standard error under the calibrated probabilities
    ``proba``; ROC AUC ranks rows by the model's own ``scores``, as the realized AUC does."""
    n = len(proba)
    codes = _codes(predicted, classes)
    if metric == "accuracy":
        right = np.where(codes >= 0, proba[np.arange(n), np.maximum(codes, 0)], 0.0)
        value = float(right.mean())
        return value, _binomial_se(value, n)
    per_class = _scored(len(classes))
    values, errors = [], []
    for k in per_class:
        positive = codes == k
        value, se = _binary_estimate(metric, proba[:, k], positive, scores[:, k])
        values.append(value)
        errors.append(se)
    # a macro average of K classes' estimates: their variances summed over K², covariance left out
    return float(np.mean(values)), math.sqrt(float(np.sum(np.square(errors)))) / len(per_class)


def _binary_estimate(
    metric: Metric, p: np.ndarray, positive: np.ndarray, scores: np.ndarray
) -> tuple[float, float]:
    """One class against the rest: the expected metric and its standard error.

    The errors are binomial bounds on how far a realized value strays from its expectation
    with this many rows (rows for accuracy, predicted positives for precision, expected
    positives for recall, their mean for F1), not the narrower spread the calibrated
    probabilities alone imply: those come from a model, and an overconfident one would make
    a band that its own labels fall outside."""
    tp = float(p[positive].sum())
    fp = float((1 - p[positive]).sum())
    fn = float(p[~positive].sum())
    predicted_positive, expected_positive = tp + fp, tp + fn
    if metric == "precision":
        value = tp / predicted_positive if predicted_positive > 0 else 0.0
        return value, _binomial_se(value, predicted_positive)
    if metric == "recall":
        value = tp / expected_positive if expected_positive > 0 else 0.0
        return value, _binomial_se(value, expected_positive)
    if metric == "f1":
        both = predicted_positive + expected_positive
        value = 2 * tp / both if both > 0 else 0.0
        return value, _binomial_se(value, both / 2)
    # roc_auc: scores ranked, each row a positive of weight p and a negative of weight 1 - p
    n1, n0 = float(p.sum()), float(len(p) - p.sum())
    if n1 <= 0 or n0 <= 0:
        return 0.5, 0.0
    value = _weighted_auc(scores, p)
    return value, math.sqrt(_hanley_mcneil_variance(value, n1, n0))


def _binomial_se(value: float, rows: float) -> float:
    """The standard error of a proportion ``value`` over ``rows`` trials."""
    return math.sqrt(max(value * (1 - value), 0.0) / rows) if rows > 0 else 0.0


def _weighted_auc(scores: np.ndarray, p: np.ndarray) -> float:
    """The ROC AUC of ``scores`` when each row is a positive with weight ``p`` and a negative
    with weight ``1 - p``: the probability that a positive outranks a negative (ties half)."""
    order = np.argsort(scores, kind="stable")
    s, w_pos, w_neg = scores[order], p[order], 1 - p[order]
    # group tied scores: a positive beats the negatives below its group, ties count half
    boundaries = np.flatnonzero(np.diff(s)) + 1
    starts = np.concatenate([[0], boundaries])
    pos = np.add.reduceat(w_pos, starts)
    neg = np.add.reduceat(w_neg, starts)
    neg_below = np.cumsum(neg) - neg
    total = float(pos.sum() * neg.sum())
    return float((pos * (neg_below + neg / 2)).sum() / total)


def _hanley_mcneil_variance(auc: float, n1: float, n0: float) -> float:
    """The variance of an ROC AUC estimate (Hanley & McNeil 1982)."""
    q1 = auc / (2 - auc)
    q2 = 2 * auc**2 / (1 + auc)
    return max(
        (auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)) / (n1 * n0), 0.0
    )


def _realized(
    metric: Metric,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    proba: np.ndarray,
    classes: tuple[str, ...],
) -> float:
    """The metric on labelled rows (scikit-learn but for the binary ROC AUC, on class
    indices from :func:`_codes`), as
    the estimate has it: the positive class of a binary model, macro averages of a
    multiclass one."""
    if (y_true < 0).any():
        raise ValueError(f"labels outside the model's classes {list(classes)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if metric == "accuracy":
            return float(np.mean(y_true == y_pred))
        indices = list(range(len(classes)))
        binary = len(classes) == 2
        if metric == "roc_auc":
            if binary:
                # the Mann-Whitney AUC with ties counted half, as scikit-learn's (the tests
                # hold it to roc_auc_score), without its input checks on every window
                positive = (y_true == 1).astype(np.float64)
                if positive.all() or not positive.any():
                    raise ValueError("ROC AUC needs labelled rows of both classes")
                return _weighted_auc(proba[:, 1], positive)
            return float(
                roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=indices)
            )
        score = {"f1": f1_score, "precision": precision_score, "recall": recall_score}[metric]
        if binary:
            return float(score(y_true, y_pred, pos_label=1, zero_division=0))
        return float(score(y_true, y_pred, labels=indices, average="macro", zero_division=0))


def _codes(values: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """Each value's index among ``classes`` (-1 for a value that is not a class).

    Values are class labels as text (the window sample's contract); one elementwise
    comparison per class costs far less than turning every value into a numpy string and
    sorting them."""
    values = np.asarray(values)
    if values.dtype.kind not in "OU":
        values = values.astype(str)
    codes = np.full(len(values), -1, dtype=np.int64)
    for k, label in enumerate(classes):
        codes[values == label] = k
    return codes


# -- calibration -------------------------------------------------------------------------------
def _calibration_check(
    proba: np.ndarray, onehot: np.ndarray, splits: int
) -> tuple[float, float, bool]:
    """Held-out expected calibration errors of the probabilities as given and as calibrated
    (means over ``splits`` stratified 90/10 splits of at most :data:`CHECK_ROWS` reference
    rows), and whether calibrating lowered it in every split: only then is it worth it, since
    isotonic maps fitted to probabilities that are calibrated already only add noise."""
    rng = np.random.default_rng(42)
    strata = onehot.argmax(axis=1)
    if len(strata) > CHECK_ROWS:
        kept = np.sort(rng.choice(len(strata), CHECK_ROWS, replace=False))
        proba, onehot, strata = proba[kept], onehot[kept], strata[kept]
    by_class = [np.flatnonzero(strata == k) for k in np.unique(strata)]
    before, after = [], []
    for _ in range(splits):
        test = np.concatenate(
            [rng.choice(rows, max(1, len(rows) // 10), replace=False) for rows in by_class]
        )
        train = np.ones(len(strata), dtype=bool)
        train[test] = False
        maps = _fit_maps(proba[train], onehot[train])
        before.append(_ece(proba[test], onehot[test]))
        after.append(_ece(Calibration(maps).apply(proba[test]), onehot[test]))
    helps = all(a < b for a, b in zip(after, before, strict=True))
    return float(np.mean(before)), float(np.mean(after)), helps


def _fit_maps(proba: np.ndarray, onehot: np.ndarray) -> tuple[IsotonicRegression, ...]:
    """One isotonic map per scored class, from its probability to its share of labels."""
    maps = []
    for k in _scored(proba.shape[1]):
        regression = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        regression.fit(proba[:, k], onehot[:, k])
        maps.append(regression)
    return tuple(maps)


def _ece(proba: np.ndarray, onehot: np.ndarray) -> float:
    """Expected calibration error over the classes one-vs-rest: bins of each class's
    probability at its deciles, weighted |mean probability - share of that class|, averaged.

    Bins hold whole groups of equal probabilities. Cutting the sorted rows into equal counts
    instead would split a tie group (probabilities given to two decimals tie by the
    thousand, an isotonic map's output more) by the rows' order, and the held-out rows of
    the calibration check come ordered by class: the error would then measure that order."""
    errors = []
    for k in _scored(proba.shape[1]):
        p, y = proba[:, k], onehot[:, k]
        inner = np.unique(np.quantile(p, np.arange(1, ECE_BINS) / ECE_BINS))
        bins = np.searchsorted(inner, p, side="right")
        gaps = np.bincount(bins, weights=p, minlength=len(inner) + 1) - np.bincount(
            bins, weights=y, minlength=len(inner) + 1
        )
        # Σ_b n_b/n |mean p_b - mean y_b| = Σ_b |Σ p - Σ y| / n
        errors.append(float(np.abs(gaps).sum() / len(p)))
    return float(np.mean(errors))


def _scored(classes: int) -> list[int]:
    """The classes scored one-vs-rest: the positive class (the second) of a binary model,
    every class of a multiclass one."""
    return [1] if classes == 2 else list(range(classes))


def _one_hot(labels: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    return (labels[:, None] == np.array(classes, dtype=str)[None, :]).astype(np.float64)


def _has_probabilities(proba: np.ndarray) -> np.ndarray:
    return np.isfinite(proba).all(axis=1)


@hookimpl
def driftscope_detectors() -> Any:
    """Register the ``cbpe`` detector."""
    yield DetectorRecord("cbpe", CBPEDetector)
