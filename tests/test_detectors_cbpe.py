"""Estimated performance without labels: ``cbpe`` (classifiers) and ``dle`` (regressors).

The oracles are independent of the estimators: population values integrated with scipy for a
calibrated synthetic classifier (``p ~ Beta``, ``y ~ Bernoulli(p)``) and a heteroscedastic
regressor whose error spread is known at every input, and scikit-learn's metrics on a large,
separately drawn labelled sample where no closed form is at hand.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import integrate, stats
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from driftscope import WindowSample
from driftscope.plugins.detectors.cbpe import CBPEDetector, CBPESettings
from driftscope.plugins.detectors.dle import DLEDetector, DLESettings

ALL = ["roc_auc", "accuracy", "f1", "precision", "recall"]


def _binary(
    p: np.ndarray, y: np.ndarray | None, reported: np.ndarray | None = None
) -> WindowSample:
    """A binary classifier's sample: it reports ``reported`` (default: the true ``p``) and
    predicts class "1" when that is above 0.5."""
    shown = p if reported is None else reported
    rows = len(p)
    labels = (
        np.array([None] * rows, dtype=object)
        if y is None
        else np.array([str(int(v)) for v in y], dtype=object)
    )
    return WindowSample(
        features={"x": shown.copy()},
        kinds={"x": "numeric"},
        task="classification",
        predictions=np.where(shown > 0.5, "1", "0").astype(object),
        labels=labels,
        probabilities=np.column_stack([1 - shown, shown]),
        classes=("0", "1"),
    )


def _draw(rng: np.random.Generator, a: float, b: float, rows: int) -> tuple[np.ndarray, np.ndarray]:
    p = rng.beta(a, b, size=rows)
    return p, (rng.random(rows) < p).astype(int)


def _population_accuracy(a: float, b: float) -> float:
    """E[max(p, 1 - p)] for p ~ Beta(a, b): the accuracy of predicting p > 0.5."""
    return integrate.quad(lambda p: max(p, 1 - p) * stats.beta.pdf(p, a, b), 0, 1)[0]


def _population_auc(a: float, b: float) -> float:
    """P(p of a positive > p of a negative) for p ~ Beta(a, b), y ~ Bernoulli(p)."""
    mean = a / (a + b)
    pos = lambda p: p * stats.beta.pdf(p, a, b) / mean  # noqa: E731
    neg = lambda p: (1 - p) * stats.beta.pdf(p, a, b) / (1 - mean)  # noqa: E731
    neg_cdf = lambda t: integrate.quad(neg, 0, t)[0]  # noqa: E731
    return integrate.quad(lambda t: pos(t) * neg_cdf(t), 0, 1, limit=200)[0]


@pytest.fixture(scope="module")
def binary_profile() -> tuple[CBPEDetector, Any, WindowSample]:
    detector = CBPEDetector(CBPESettings(type="cbpe", metrics=ALL))
    reference = _binary(*_draw(np.random.default_rng(0), 1, 1, 50_000))
    return detector, detector.fit(reference), reference


def test_the_reference_value_is_the_realized_metric(binary_profile) -> None:
    _, profile, reference = binary_profile
    y = reference.labels.astype(str) == "1"
    p = reference.probabilities[:, 1]
    pred = p > 0.5
    assert profile.reference_values["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert profile.reference_values["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert profile.reference_values["f1"] == pytest.approx(f1_score(y, pred))
    assert not profile.calibrated, "calibrated probabilities must be used as given"


def test_estimates_of_a_calibrated_classifier_meet_the_population_values(binary_profile) -> None:
    detector, profile, _ = binary_profile
    p, _ = _draw(np.random.default_rng(1), 2, 2, 20_000)
    results = {r.feature: r for r in detector.score(profile, _binary(p, None))}
    population = {"accuracy": _population_accuracy(2, 2), "roc_auc": _population_auc(2, 2)}
    assert population["accuracy"] == pytest.approx(0.6875)  # 1/2 + 3/16, by hand
    for metric, value in population.items():
        result = results[metric]
        se = result.details["standard_error"]
        assert abs(result.statistic - value) < 3 * se + 1e-3, (metric, result.statistic, value)
        assert result.details["lower"] <= value <= result.details["upper"]
        assert result.kind == "performance" and "realized" not in result.details


def test_the_band_holds_the_realized_value_when_labels_arrive(binary_profile) -> None:
    detector, profile, _ = binary_profile
    p, y = _draw(np.random.default_rng(2), 2, 2, 5_000)
    results = {r.feature: r for r in detector.score(profile, _binary(p, y))}
    truth = y == 1
    pred = p > 0.5
    realized = {
        "accuracy": accuracy_score(truth, pred),
        "roc_auc": roc_auc_score(truth, p),
        "f1": f1_score(truth, pred),
        "precision": precision_score(truth, pred),
        "recall": recall_score(truth, pred),
    }
    for metric, value in realized.items():
        result = results[metric]
        assert result.details["realized"] == pytest.approx(value), metric
        assert result.details["realized_rows"] == 5_000
        assert result.details["lower"] <= value <= result.details["upper"], metric


def test_a_drop_beyond_max_drop_is_drift_and_a_held_out_window_is_not(binary_profile) -> None:
    detector, profile, _ = binary_profile
    held_out = {
        r.feature: r
        for r in detector.score(profile, _binary(*_draw(np.random.default_rng(3), 1, 1, 5_000)))
    }
    assert not any(r.drifted for r in held_out.values())
    unsure = {
        r.feature: r
        for r in detector.score(profile, _binary(*_draw(np.random.default_rng(4), 8, 8, 5_000)))
    }
    accuracy = unsure["accuracy"]
    assert accuracy.threshold == pytest.approx(profile.reference_values["accuracy"] * 0.85)
    assert accuracy.statistic < accuracy.threshold and accuracy.drifted
    assert accuracy.statistic == pytest.approx(_population_accuracy(8, 8), abs=0.02)


def test_miscalibrated_probabilities_are_calibrated_first() -> None:
    rng = np.random.default_rng(5)
    p, y = _draw(rng, 1, 1, 50_000)
    detector = CBPEDetector(CBPESettings(type="cbpe", metrics=["accuracy", "roc_auc"]))
    profile = detector.fit(_binary(p, y, reported=p**2))  # overconfident towards class 0
    assert profile.calibrated and profile.ece_after < profile.ece_before
    q, yq = _draw(rng, 2, 2, 20_000)
    window = _binary(q, yq, reported=q**2)
    results = {r.feature: r for r in detector.score(profile, window)}
    for metric, result in results.items():
        assert result.details["lower"] <= result.details["realized"] <= result.details["upper"], (
            metric
        )
    uncalibrated = CBPEDetector(CBPESettings(type="cbpe", metrics=["accuracy"], calibration="none"))
    (naive,) = uncalibrated.score(uncalibrated.fit(_binary(p, y, reported=p**2)), window)
    assert abs(naive.statistic - naive.details["realized"]) > 5 * naive.details["standard_error"]


def test_coarse_miscalibrated_probabilities_are_calibrated() -> None:
    """Probabilities given to two decimals (as many models and CSV exports give them) tie in
    groups of hundreds of rows, and an isotonic map's output ties more. The calibration check
    must see that these probabilities are off (too sure at 0 and 1, too unsure between: the
    shape of NannyML's car-loan model) however tied rows happen to be ordered, and then
    estimate within the band."""
    rng = np.random.default_rng(7)

    def draw(rows: int) -> WindowSample:
        reported = np.round(rng.beta(0.3, 0.3, rows), 2)
        p = np.clip(0.5 + 1.2 * (reported - 0.5), 0.02, 0.98)  # the true probability
        return _binary(p, (rng.random(rows) < p).astype(int), reported=reported)

    detector = CBPEDetector(CBPESettings(type="cbpe", metrics=["accuracy", "roc_auc"]))
    profile = detector.fit(draw(50_000))
    assert profile.calibrated and profile.ece_after < profile.ece_before / 2
    for metric, result in {r.feature: r for r in detector.score(profile, draw(5_000))}.items():
        details = result.details
        assert details["lower"] <= details["realized"] <= details["upper"], (metric, details)


def test_multiclass_macro_estimates_meet_a_large_labelled_sample() -> None:
    rng = np.random.default_rng(6)
    classes = ("a", "b", "c")

    def draw(
        alpha: float, rows: int, labelled: bool
    ) -> tuple[WindowSample, np.ndarray, np.ndarray]:
        proba = rng.dirichlet([alpha] * 3, size=rows)
        y = (rng.random(rows)[:, None] > np.cumsum(proba, axis=1)).sum(axis=1)
        pred = proba.argmax(axis=1)
        sample = WindowSample(
            features={"x": proba[:, 0].copy()},
            kinds={"x": "numeric"},
            task="classification",
            predictions=np.array(classes, dtype=object)[pred],
            labels=np.array(classes, dtype=object)[y]
            if labelled
            else np.array([None] * rows, dtype=object),
            probabilities=proba,
            classes=classes,
        )
        return sample, y, proba

    detector = CBPEDetector(CBPESettings(type="cbpe", metrics=ALL))
    profile = detector.fit(draw(1.0, 30_000, True)[0])
    window, _, _ = draw(3.0, 10_000, False)
    results = {r.feature: r for r in detector.score(profile, window)}
    # the oracle: the same process, 400,000 labelled rows, scored by scikit-learn
    _, y, proba = draw(3.0, 400_000, True)
    pred = proba.argmax(axis=1)
    truth = {
        "accuracy": accuracy_score(y, pred),
        "roc_auc": roc_auc_score(y, proba, multi_class="ovr", average="macro"),
        "f1": f1_score(y, pred, average="macro"),
        "precision": precision_score(y, pred, average="macro"),
        "recall": recall_score(y, pred, average="macro"),
    }
    for metric, value in truth.items():
        result = results[metric]
        assert result.details["lower"] <= value <= result.details["upper"], (
            metric,
            result.statistic,
            value,
        )
        assert abs(result.statistic - value) < 0.02, metric


def test_rows_without_probabilities_are_left_out_and_counted(binary_profile) -> None:
    detector, profile, _ = binary_profile
    p, _ = _draw(np.random.default_rng(7), 1, 1, 1_000)
    window = _binary(p, None)
    window.probabilities[:100] = np.nan
    results = detector.score(profile, window)
    assert {r.details["rows"] for r in results} == {900}
    assert {r.details["rows_without_probabilities"] for r in results} == {100}
    few = _binary(p[:50], None)
    assert {r.status for r in detector.score(profile, few)} == {"insufficient_data"}


@pytest.mark.parametrize("calibration", ["none", "isotonic"])
@pytest.mark.parametrize("given", ["none at all", "every row NaN"])
def test_a_window_without_probabilities_is_insufficient_data_not_an_error(
    calibration: str, given: str
) -> None:
    # records sent without probabilities: a store gives rows of NaN, or none at all. That is
    # a fact about the data, which the results say, not a failure of the detector (and the
    # isotonic maps of a calibrated profile must not be asked to map zero rows)
    detector = CBPEDetector(CBPESettings(type="cbpe", metrics=ALL, calibration=calibration))
    profile = detector.fit(_binary(*_draw(np.random.default_rng(10), 1, 1, 2_000)))
    assert profile.calibrated == (calibration == "isotonic")
    p, y = _draw(np.random.default_rng(9), 1, 1, 300)
    window = _binary(p, y)
    if given == "none at all":
        window = WindowSample(**{**window.__dict__, "probabilities": None})
    else:
        window.probabilities[:] = np.nan
    results = detector.score(profile, window)
    assert [r.feature for r in results] == ALL
    for result in results:
        assert result.status == "insufficient_data"
        assert (result.statistic, result.drifted) == (None, False)
        assert result.error is not None
        assert "none of the window's 300 rows has probabilities" in result.error
        assert result.details["rows_without_probabilities"] == 300


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"probabilities": None}, "needs the model's probabilities"),
        ({"task": "regression"}, "use dle for regressors"),
        ({"labels": np.array(["1"] * 100, dtype=object)}, "at least two classes"),
    ],
)
def test_a_reference_cbpe_cannot_use_is_refused_clearly(
    change: dict[str, Any], message: str
) -> None:
    p, y = _draw(np.random.default_rng(8), 1, 1, 100)
    base = _binary(p, y)
    fields = {**base.__dict__, **change}
    with pytest.raises(ValueError, match=message):
        CBPEDetector(CBPESettings(type="cbpe")).fit(WindowSample(**fields))


# -- dle ---------------------------------------------------------------------------------------
def _regression(
    rng: np.random.Generator, mean: float, rows: int, labelled: bool = True
) -> WindowSample:
    """y = 2x + σ(x)·ε with σ(x) = 0.5 + |x|; the model predicts 2x exactly, so its error at
    x is σ(x)·ε, and it is harder far from 0."""
    x = rng.normal(mean, 1.0, size=rows)
    y = 2 * x + (0.5 + np.abs(x)) * rng.normal(size=rows)
    return WindowSample(
        features={"x": x, "noise": rng.normal(size=rows)},
        kinds={"x": "numeric", "noise": "numeric"},
        task="regression",
        predictions=2 * x,
        labels=y if labelled else np.full(rows, np.nan),
    )


def _population_errors(mean: float) -> tuple[float, float]:
    """MAE = sqrt(2/π)·E[σ(x)] and RMSE = sqrt(E[σ(x)²]) for x ~ N(mean, 1)."""
    sigma = lambda x: 0.5 + abs(x)  # noqa: E731
    density = lambda x: stats.norm.pdf(x, mean, 1.0)  # noqa: E731
    lo, hi = mean - 12, mean + 12
    e_sigma = integrate.quad(lambda x: sigma(x) * density(x), lo, hi, limit=200)[0]
    e_sigma2 = integrate.quad(lambda x: sigma(x) ** 2 * density(x), lo, hi, limit=200)[0]
    return math.sqrt(2 / math.pi) * e_sigma, math.sqrt(e_sigma2)


@pytest.fixture(scope="module")
def dle_profile() -> tuple[DLEDetector, Any]:
    detector = DLEDetector(DLESettings(type="dle"))
    return detector, detector.fit(_regression(np.random.default_rng(10), 0.0, 40_000))


def test_dle_estimates_meet_the_population_errors_of_a_shifted_window(dle_profile) -> None:
    detector, profile = dle_profile
    window = _regression(np.random.default_rng(11), 1.0, 20_000, labelled=False)
    results = {r.feature: r for r in detector.score(profile, window)}
    mae, rmse = _population_errors(1.0)
    assert results["mae"].statistic == pytest.approx(mae, rel=0.05)
    assert results["rmse"].statistic == pytest.approx(rmse, rel=0.05)
    reference_mae, _ = _population_errors(0.0)
    assert profile.reference_values["mae"] == pytest.approx(reference_mae, rel=0.03)
    # the error rose by (1.46 - 1.04) / 1.04 = 40%: beyond max_drop, drift
    assert results["mae"].drifted and results["mae"].threshold == pytest.approx(
        profile.reference_values["mae"] * 1.15
    )


def test_dle_held_out_window_is_not_drift_and_its_band_holds_the_realized(dle_profile) -> None:
    detector, profile = dle_profile
    window = _regression(np.random.default_rng(12), 0.0, 5_000)
    results = {r.feature: r for r in detector.score(profile, window)}
    error = window.labels - window.predictions
    realized = {"mae": float(np.abs(error).mean()), "rmse": math.sqrt(float((error**2).mean()))}
    for metric, value in realized.items():
        result = results[metric]
        assert not result.drifted, metric
        assert result.details["realized"] == pytest.approx(value)
        assert result.details["lower"] <= value <= result.details["upper"], metric


def test_dle_refuses_a_classifier() -> None:
    p, y = _draw(np.random.default_rng(13), 1, 1, 100)
    with pytest.raises(ValueError, match="use cbpe for classifiers"):
        DLEDetector(DLESettings(type="dle")).fit(_binary(p, y))


def test_tied_scores_count_half_as_scikit_learns_auc_does(binary_profile) -> None:
    """A model with coarse scores (nine distinct values) ties many rows; the estimate must
    treat a tie as half a win, as the realized AUC does."""
    detector, profile, _ = binary_profile
    rng = np.random.default_rng(9)
    levels = np.linspace(0.1, 0.9, 9)
    p = rng.choice(levels, size=10_000)
    (auc,) = [r for r in detector.score(profile, _binary(p, None)) if r.feature == "roc_auc"]
    big = rng.choice(levels, size=1_000_000)
    truth = roc_auc_score(rng.random(big.size) < big, big)
    assert auc.statistic == pytest.approx(truth, abs=0.005)
