"""The ``psi`` detector: bins fixed on the reference, hand-computed values, categories."""

from __future__ import annotations

import itertools
import json
import math
from fractions import Fraction

import numpy as np
import pytest
from pydantic import ValidationError

from driftscope import FeatureSample
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.plugins.detectors.psi import (
    UNSEEN,
    CategoricalPSIProfile,
    NumericPSIProfile,
    PSIDetector,
    PSISettings,
)


def _detector(**settings: object) -> PSIDetector:
    return PSIDetector(PSISettings(type="psi", **settings))


def _numeric(values: object) -> FeatureSample:
    return FeatureSample("x", "numeric", np.asarray(values, dtype=np.float64))


def _categorical(values: list[str]) -> FeatureSample:
    return FeatureSample("c", "categorical", np.array(values, dtype=object))


def plain_psi(ref: np.ndarray, cur: np.ndarray, edges: np.ndarray, eps: float = 1e-4) -> float:
    """A textbook PSI over right-closed bins around ``edges`` with open outer bins."""
    bounds = list(itertools.pairwise(np.concatenate(([-np.inf], edges, [np.inf]))))
    p = np.array([np.mean((ref > lo) & (ref <= hi)) for lo, hi in bounds])
    q = np.array([np.mean((cur > lo) & (cur <= hi)) for lo, hi in bounds])
    p, q = np.where(p == 0, eps, p), np.where(q == 0, eps, q)  # only empty bins
    return float(np.sum((q - p) * np.log(q / p)))


def test_hand_computed_two_bins() -> None:
    detector = _detector(bins=2)
    profile = detector.fit(_numeric(np.arange(1, 11)))
    assert isinstance(profile, NumericPSIProfile)
    assert profile.edges.tolist() == [5.0]  # the median, a reference value
    result = detector.score(profile, _numeric([1, 1, 1, 1, 1, 1, 1, 1, 9, 10]))
    expected = 0.3 * math.log(0.8 / 0.5) + (-0.3) * math.log(0.2 / 0.5)
    assert result.statistic == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.415888, abs=1e-6)
    bins = result.details["bins"]
    assert bins["reference"] == [0.5, 0.5]
    assert bins["current"] == [0.8, 0.2]
    assert bins["labels"] == ["<= 5", "> 5"]
    assert result.drifted and result.details["severity"] == "drift"


def test_hand_computed_empty_bin_uses_the_documented_epsilon() -> None:
    detector = _detector(bins=4)
    profile = detector.fit(_numeric([1, 2, 3, 4, 5, 6, 7, 8]))
    assert profile.edges.tolist() == [2.0, 4.0, 6.0]
    result = detector.score(profile, _numeric([1, 2, 3, 4, 5, 6]))  # last bin empty
    p, q, eps = 0.25, 1 / 3, 1e-4
    expected = 3 * (q - p) * math.log(q / p) + (eps - p) * math.log(eps / p)
    assert result.statistic == pytest.approx(expected, rel=1e-12)
    assert result.details["epsilon"] == 1e-4
    assert "0.0001" in result.details["epsilon_note"]
    assert math.isfinite(result.statistic) and result.statistic < 10


def test_a_bin_below_epsilon_keeps_its_true_proportion() -> None:
    # over 10,000 rows one value is a proportion below 1e-4: it is not raised to epsilon
    detector = _detector(bins=2)
    profile = detector.fit(_numeric(np.arange(1, 11)))
    assert profile.edges.tolist() == [5.0]
    window = np.concatenate([np.full(19_999, 1.0), [9.0]])
    result = detector.score(profile, _numeric(window))
    q_low, q_high = 19_999 / 20_000, 1 / 20_000  # 5e-5 < epsilon
    expected = (q_low - 0.5) * math.log(q_low / 0.5) + (q_high - 0.5) * math.log(q_high / 0.5)
    floored = (q_low - 0.5) * math.log(q_low / 0.5) + (1e-4 - 0.5) * math.log(1e-4 / 0.5)
    assert result.statistic == pytest.approx(expected, rel=1e-12)
    assert abs(expected - floored) > 0.3  # what flooring every bin would have said instead
    # and an independent numpy PSI over the same bins, on both sides past 10,000 rows
    rng = np.random.default_rng(11)
    ref = np.concatenate([rng.normal(size=30_000), [8.0]])  # one reference value far out
    cur = np.concatenate([rng.normal(0.1, 1, 40_000), [8.5, 9.0]])
    wide = _detector(bins=20, binning="uniform")
    fitted = wide.fit(_numeric(ref))
    shares = fitted.counts / fitted.size
    assert 0 < shares[shares > 0].min() < 1e-4 and (shares == 0).any()  # tiny and empty bins
    scored = wide.score(fitted, _numeric(cur))
    assert scored.statistic == pytest.approx(plain_psi(ref, cur, fitted.edges), rel=1e-12)


def test_quantile_edges_are_reference_deciles_and_match_a_plain_psi() -> None:
    rng = np.random.default_rng(0)
    ref, cur = rng.normal(size=10_000), rng.normal(0.2, 1.2, 3_000)
    detector = _detector()
    profile = detector.fit(_numeric(ref))
    expected_edges = np.quantile(ref, np.arange(1, 10) / 10, method="inverted_cdf")
    assert np.array_equal(profile.edges, expected_edges)
    assert profile.counts.tolist() == [1_000] * 10
    result = detector.score(profile, _numeric(cur))
    assert result.statistic == pytest.approx(plain_psi(ref, cur, profile.edges), rel=1e-12)
    assert len(result.details["bins"]["edges"]) == 9
    assert len(result.details["bins"]["labels"]) == 10


def test_uniform_binning_uses_equal_widths_over_the_reference_range() -> None:
    detector = _detector(bins=4, binning="uniform")
    profile = detector.fit(_numeric([0.0, 1.0, 2.0, 3.0, 8.0]))
    assert profile.edges.tolist() == [2.0, 4.0, 6.0]
    assert profile.counts.tolist() == [3, 1, 0, 1]


def test_uniform_edges_over_a_range_wider_than_float64_are_finite() -> None:
    # max - min = 3e308 overflows: np.linspace gave inf edges, one bin, and PSI 0.0 for a
    # window piled at the top of the range
    rng = np.random.default_rng(3)
    ref = np.concatenate([[-1.5e308, 1.5e308], rng.uniform(-1.5, 1.5, 2_000) * 1e308])
    detector = _detector(bins=10, binning="uniform")
    profile = detector.fit(_numeric(ref))
    # the edges of the plain formula lo + i * (hi - lo) / bins, in exact rational arithmetic
    lo, hi = Fraction(-1.5e308), Fraction(1.5e308)
    exact = [float(lo + (hi - lo) * Fraction(i, 10)) for i in range(1, 10)]
    assert profile.edges.tolist() == pytest.approx(exact, rel=1e-15, abs=1e293)
    assert np.all(np.isfinite(profile.edges)) and np.all(np.diff(profile.edges) > 0)
    assert profile.counts.sum() == ref.size and profile.counts.max() < 0.2 * ref.size

    top = detector.score(profile, _numeric(np.full(500, 1.45e308)))
    assert top.drifted and top.details["bins"]["current_counts"][-1] == 500
    assert top.statistic == pytest.approx(plain_psi(ref, np.full(500, 1.45e308), profile.edges))
    held_out = rng.uniform(-1.5, 1.5, 2_000) * 1e308  # the same distribution
    stable = detector.score(profile, _numeric(held_out))
    assert stable.details["severity"] == "ok" and not stable.drifted


def test_values_outside_the_reference_range_fall_in_the_outer_bins() -> None:
    detector = _detector(bins=5)
    profile = detector.fit(_numeric(np.linspace(0, 1, 1_000)))
    result = detector.score(profile, _numeric([-100.0, -5.0, 0.5, 7.0, 1e9]))
    counts = result.details["bins"]["current_counts"]
    assert counts[0] == 2 and counts[-1] == 2 and sum(counts) == 5
    assert result.details["bins"]["labels"][0].startswith("<=")
    assert result.details["bins"]["labels"][-1].startswith(">")


def test_edges_are_fixed_on_the_reference_whatever_the_window() -> None:
    rng = np.random.default_rng(1)
    detector = _detector()
    profile = detector.fit(_numeric(rng.normal(size=5_000)))
    a = detector.score(profile, _numeric(rng.normal(size=2_000)))
    b = detector.score(profile, _numeric(rng.normal(50.0, 10.0, 2_000)))
    assert a.details["bins"]["edges"] == b.details["bins"]["edges"]
    assert a.details["bins"]["edges"] == profile.edges.tolist()
    assert a.details["bins"]["reference"] == b.details["bins"]["reference"]
    assert b.details["bins"]["current_counts"][-1] == 2_000  # all beyond the reference


def test_one_window_against_two_references_from_one_distribution_is_comparable() -> None:
    rng = np.random.default_rng(2)
    window = _numeric(rng.normal(0.5, 1.0, 5_000))
    detector = _detector()
    first = detector.score(detector.fit(_numeric(rng.normal(size=20_000))), window)
    second = detector.score(detector.fit(_numeric(rng.normal(size=20_000))), window)
    assert first.statistic == pytest.approx(second.statistic, rel=0.1)
    assert first.details["severity"] == second.details["severity"]


def test_reference_with_many_ties_gets_deduplicated_edges() -> None:
    rng = np.random.default_rng(3)
    ref = np.concatenate((np.zeros(6_000), rng.integers(1, 4, 4_000))).astype(np.float64)
    detector = _detector()
    profile = detector.fit(_numeric(ref))
    assert profile.edges.tolist() == [0.0, 1.0, 2.0, 3.0]  # one bin per value, none repeated
    assert np.all(np.diff(profile.edges) > 0)
    # inner bins all hold reference mass; only the open bin above the maximum is empty
    assert profile.counts[:-1].min() > 0 and profile.counts[-1] == 0
    same = detector.score(profile, _numeric(ref[rng.permutation(ref.size)][:3_000]))
    assert same.statistic < 0.01 and not same.drifted


def test_constant_reference_gets_below_equal_above_bins() -> None:
    detector = _detector()
    profile = detector.fit(_numeric(np.full(100, 3.0)))
    assert profile.counts.tolist() == [0, 100, 0]
    assert profile.labels == ("< 3", "= 3", "> 3")
    result = detector.score(profile, _numeric([2.0, 3.0, 3.0, 4.0]))
    assert result.details["bins"]["current_counts"] == [1, 2, 1]
    assert result.drifted


def test_severity_levels() -> None:
    detector = _detector(warn=0.1, threshold=0.25)
    assert detector.severity(0.05) == "ok"
    assert detector.severity(0.1) == "warn"
    assert detector.severity(0.2) == "warn"
    assert detector.severity(0.25) == "drift"
    rng = np.random.default_rng(4)
    profile = detector.fit(_numeric(rng.normal(size=50_000)))
    stable = detector.score(profile, _numeric(rng.normal(size=50_000)))
    moderate = detector.score(profile, _numeric(rng.normal(0.4, 1.0, 50_000)))
    drifted = detector.score(profile, _numeric(rng.normal(1.0, 1.0, 50_000)))
    assert stable.details["severity"] == "ok" and not stable.drifted
    assert moderate.details["severity"] == "warn" and not moderate.drifted
    assert drifted.details["severity"] == "drift" and drifted.drifted
    assert drifted.threshold == 0.25 and drifted.p_value is None


def test_categorical_psi_with_unseen_categories() -> None:
    detector = _detector()
    profile = detector.fit(_categorical(["a"] * 50 + ["b"] * 30 + ["c"] * 20))
    assert isinstance(profile, CategoricalPSIProfile)
    assert profile.labels == ("a", "b", "c", UNSEEN)
    window = ["a"] * 40 + ["b"] * 30 + ["d"] * 20 + ["e"] * 10  # c gone; d, e new
    result = detector.score(profile, _categorical(window))
    bins = result.details["bins"]
    assert bins["labels"] == ["a", "b", "c", UNSEEN]
    assert bins["edges"] == []
    assert bins["current_counts"] == [40, 30, 0, 30]
    assert result.details["unseen_categories"] == {"d": 20, "e": 10}
    eps = 1e-4
    expected = (
        (0.4 - 0.5) * math.log(0.4 / 0.5)
        + (eps - 0.2) * math.log(eps / 0.2)
        + (0.3 - eps) * math.log(0.3 / eps)
    )
    assert result.statistic == pytest.approx(expected, rel=1e-12)
    assert result.drifted
    assert result.details["binning"] == "categories"


def test_details_are_json_ready() -> None:
    rng = np.random.default_rng(5)
    detector = _detector()
    result = detector.score(
        detector.fit(_numeric(rng.normal(size=1_000))), _numeric(rng.normal(size=10))
    )
    details = json.loads(json.dumps(result.details, allow_nan=False))
    assert details["reference_size"] == 1_000 and details["current_size"] == 10
    bins = details["bins"]
    assert sum(bins["reference"]) == pytest.approx(1.0)
    assert sum(bins["current"]) == pytest.approx(1.0)
    assert sum(bins["contributions"]) == pytest.approx(result.statistic)


@pytest.mark.parametrize(
    "settings",
    [
        {"threshold": 0.0},
        {"warn": -1.0},
        {"warn": 0.3, "threshold": 0.2},
        {"bins": 1},
        {"binning": "kmeans"},
        {"epsilon": 0.0},
        {"n_bins": 10},
    ],
)
def test_settings_reject_bad_values(settings: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PSISettings(type="psi", **settings)


def test_applies_to_numeric_and_categorical() -> None:
    assert PSIDetector.applies_to == frozenset({"numeric", "categorical"})
    assert not PSIDetector.uses_p_value


def test_plugin_manager_finds_psi() -> None:
    assert create_plugin_manager(entry_points=False).get("detector", "psi") is PSIDetector


@pytest.mark.parametrize("binning", ["quantile", "uniform"])
def test_score_counts_over_bin_edges_equals_score(binning: str) -> None:
    """Counting with core.count_bins over bin_edges() puts edge values where score() does."""
    from driftscope import count_bins, count_categories

    rng = np.random.default_rng(5)
    det = _detector(bins=6, binning=binning)
    for ref in (np.round(rng.normal(0, 1, 300), 1), np.full(20, 2.0)):
        profile = det.fit(_numeric(ref))
        edges = det.bin_edges(profile)
        cur = np.concatenate([edges, np.nextafter(edges, np.inf), rng.normal(0.3, 1, 200), ref])
        raw = det.score(profile, _numeric(cur))
        counted = det.score_counts(profile, count_bins(cur, edges))
        assert counted.statistic == raw.statistic and counted.details == raw.details
    cats = det.fit(_categorical(["a", "b", "b"]))
    window = ["b", "z", "y", "z", "a", "x"]
    raw = det.score(cats, _categorical(window))
    counted = det.score_counts(cats, count_categories(np.array(window, dtype=object)))
    assert counted.details == raw.details
    assert list(raw.details["unseen_categories"]) == ["z", "x", "y"]  # ties by name
