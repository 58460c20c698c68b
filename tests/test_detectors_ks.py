"""The ``ks`` detector: statistic and p-value against scipy.stats.ks_2samp, and its contract."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import stats
from scipy.stats import _stats_py

from driftscope import FeatureSample
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.plugins.detectors.ks import (
    ECDF_POINTS,
    KSDetector,
    KSSettings,
    ks_p_value,
    ks_statistic,
    kstwo_sf,
    prob_outside_square,
)


def ks(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """driftscope's (statistic, p-value) for two unsorted samples."""
    ref, cur = np.sort(a), np.sort(b)
    statistic, p_value, _ = ks_p_value(ks_statistic(ref, cur).statistic, ref, cur)
    return statistic, p_value


def scipy_ks(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.ks_2samp(a, b)
    return float(res.statistic), float(res.pvalue)


def assert_matches_scipy(a: np.ndarray, b: np.ndarray) -> None:
    statistic, p_value = ks(a, b)
    expected_statistic, expected_p = scipy_ks(a, b)
    assert abs(statistic - expected_statistic) <= 1e-12, (len(a), len(b))
    assert abs(p_value - expected_p) <= 1e-10 or abs(p_value - expected_p) <= 1e-6 * expected_p, (
        len(a),
        len(b),
        statistic,
        p_value,
        expected_p,
    )


def _sample(rng: np.random.Generator, kind: int, n: int, shift: float) -> np.ndarray:
    if kind == 0:  # continuous
        return rng.normal(shift, 1.0, n)
    if kind == 1:  # discrete: heavy ties
        return rng.integers(0, 5 + int(3 * shift), n).astype(np.float64)
    if kind == 2:  # rounded: some ties
        return np.round(rng.normal(shift, 1.0, n), 1)
    return rng.exponential(1.0 + shift, n)


def test_matches_scipy_on_random_inputs() -> None:
    rng = np.random.default_rng(20240601)
    for _ in range(300):
        n1 = int(rng.integers(1, 3001))
        n2 = n1 if rng.random() < 0.3 else int(rng.integers(1, 3001))
        kind = int(rng.integers(0, 4))
        shift = float(rng.choice([0.0, 0.05, 0.3, 1.5]))
        assert_matches_scipy(_sample(rng, kind, n1, 0.0), _sample(rng, kind, n2, shift))


def test_matches_scipy_on_tiny_identical_and_degenerate_samples() -> None:
    rng = np.random.default_rng(7)
    cases = [
        (np.array([1.0]), np.array([1.0])),
        (np.array([1.0]), np.array([2.0])),
        (np.array([2.0]), np.array([1.0, 3.0])),
        (np.array([0.0, 0.0, 0.0]), np.array([0.0, 0.0])),
        (np.array([-0.0, 0.0]), np.array([0.0])),
        (np.arange(5.0), np.arange(5.0) + 10),
        (np.arange(7.0), np.arange(7.0)),
    ]
    for n in (1, 2, 3, 5, 10, 50):
        a = rng.normal(size=n)
        cases.append((a, a.copy()))  # identical samples
        cases.append((a, a[rng.integers(0, n, n)]))  # resampled: ties across samples
        cases.append((a, rng.normal(size=n + 1)))
    for a, b in cases:
        assert_matches_scipy(a, b)


def test_matches_scipy_on_large_samples_asymptotic_path() -> None:
    rng = np.random.default_rng(11)
    ref = rng.normal(size=30_000)
    for n2, shift in [(30_000, 0.0), (30_000, 0.03), (12_000, 0.1), (20_001, 0.6), (500, 0.2)]:
        assert_matches_scipy(ref, rng.normal(shift, 1.0, n2))
    # ties across large samples
    assert_matches_scipy(np.round(ref, 1), np.round(rng.normal(0.02, 1.0, 25_000), 1))
    # the window equal to the reference
    assert_matches_scipy(ref, ref.copy())


@pytest.mark.slow
def test_matches_scipy_on_many_large_samples() -> None:
    rng = np.random.default_rng(12)
    for _ in range(120):
        n1 = int(rng.integers(10_001, 120_000))
        n2 = int(rng.integers(1, 120_000))
        kind = int(rng.integers(0, 4))
        shift = float(rng.choice([0.0, 0.01, 0.02, 0.05, 0.2]))
        assert_matches_scipy(_sample(rng, kind, n1, 0.0), _sample(rng, kind, n2, shift))


def test_exact_equal_sizes_series_matches_scipy() -> None:
    for n in (1, 2, 7, 100, 999, 5000, 10_000):
        for h in sorted({1, 2, max(1, n // 50), max(1, n // 7), max(1, n // 2), n}):
            ours = prob_outside_square(n, h)
            theirs = _stats_py._compute_prob_outside_square(n, h)
            assert abs(ours - theirs) <= 1e-10 or abs(ours - theirs) <= 1e-6 * theirs, (n, h)


def test_asymptotic_p_value_matches_kstwo_in_every_branch() -> None:
    """N*D**2 spans PelzGood, 2*smirnov (full sum), the tail estimate and the zero branch."""
    rng = np.random.default_rng(3)
    for n in (1_001, 5_000, 20_001, 50_000):
        for z2 in (0.05, 0.5, 2.1, 2.2, 3.0, 6.0, 12.4, 12.5, 20.0, 80.0, 369.0, 371.0):
            d = math.sqrt(z2 / n)
            p, _ = kstwo_sf(d, n)
            expected = float(stats.kstwo.sf(d, n))
            assert abs(p - expected) <= 1e-10 or abs(p - expected) <= 1e-6 * expected, (n, z2)
        for d in (0.5, 0.7, rng.uniform(0.5, 0.99)):  # scipy's d >= 0.5 branch
            assert abs(kstwo_sf(d, n)[0] - float(stats.kstwo.sf(d, n))) <= 1e-10
    # scipy's Durbin-matrix branch (tiny D, 20,000 < N <= 100,000)
    for n in (20_001, 50_000, 100_000):
        for frac in (0.2, 0.6, 0.99):
            d = (1.4 / n) ** (2 / 3) * frac
            if n * d <= 1.0:
                continue
            p, method = kstwo_sf(d, n)
            assert method == "asymptotic-limit"
            assert abs(p - float(stats.kstwo.sf(d, n))) <= 1e-6


def test_tail_estimate_is_close_in_relative_terms_too() -> None:
    """Below 1e-10 any value within 1e-10 passes; the estimate is still accurate."""
    n = 50_000
    for z2 in (13.0, 30.0, 100.0, 300.0):
        d = math.sqrt(z2 / n)
        p, method = kstwo_sf(d, n)
        assert method == "asymptotic-tail-estimate"
        assert p == pytest.approx(float(stats.kstwo.sf(d, n)), rel=1e-6)


# -- the detector ------------------------------------------------------------------------------
def _detector(**settings: object) -> KSDetector:
    return KSDetector(KSSettings(type="ks", **settings))


def _numeric(values: np.ndarray, name: str = "x") -> FeatureSample:
    return FeatureSample(name, "numeric", np.asarray(values, dtype=np.float64))


def test_fit_sorts_once_and_score_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    ref, cur = rng.normal(size=2_000), rng.normal(0.3, 1.0, 1_500)
    detector = _detector()
    profile = detector.fit(_numeric(ref))
    assert np.array_equal(profile.sorted_values, np.sort(ref))
    assert not profile.sorted_values.flags.writeable
    result = detector.score(profile, _numeric(cur))
    expected = stats.ks_2samp(ref, cur)
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-6)
    assert result.threshold == 0.05
    assert result.drifted
    assert result.status == "ok"


def test_details_are_json_ready_and_hold_the_ecdf_chart() -> None:
    rng = np.random.default_rng(1)
    ref, cur = rng.normal(size=5_000), rng.normal(1.0, 1.0, 800)
    detector = _detector()
    result = detector.score(detector.fit(_numeric(ref)), _numeric(cur))
    details = json.loads(json.dumps(result.details, allow_nan=False))
    ecdf = details["ecdf"]
    assert len(ecdf["x"]) == len(ecdf["reference"]) == len(ecdf["current"])
    assert ECDF_POINTS <= len(ecdf["x"]) <= 2 * ECDF_POINTS + 3
    # both curves are drawn all the way: sampled at both samples' quantiles, no step between
    # two points hides more than one grid step of rows (the window sits right of the
    # reference, so its last rows lie where the reference's quantiles are sparse)
    for curve, size in ((ecdf["reference"], ref.size), (ecdf["current"], cur.size)):
        steps = np.diff([0.0, *curve])
        assert steps.max() <= 1 / (ECDF_POINTS - 1) + 1 / size + 1e-12
    assert ecdf["x"] == sorted(ecdf["x"])
    assert ecdf["x"][0] == min(ref.min(), cur.min())
    assert ecdf["x"][-1] == max(ref.max(), cur.max())
    assert ecdf["reference"][-1] == ecdf["current"][-1] == 1.0
    # the chart shows the largest gap, at the reported location
    loc = ecdf["x"].index(details["statistic_location"])
    gap = abs(ecdf["reference"][loc] - ecdf["current"][loc])
    assert gap == pytest.approx(result.statistic, abs=1e-12)
    assert details["statistic_sign"] == 1  # the window sits right of the reference
    assert details["reference_size"] == 5_000
    assert details["current_size"] == 800
    assert all(type(v) is float for v in ecdf["x"] + ecdf["reference"] + ecdf["current"])


def test_tells_drifted_from_stable() -> None:
    rng = np.random.default_rng(2)
    detector = _detector()
    profile = detector.fit(_numeric(rng.normal(size=20_000)))
    stable = detector.score(profile, _numeric(rng.normal(size=20_000)))
    drifted = detector.score(profile, _numeric(rng.normal(0.2, 1.0, 20_000)))
    assert not stable.drifted and stable.p_value > 0.05
    assert drifted.drifted and drifted.p_value < 1e-10


def test_min_statistic_floor_ignores_significant_but_tiny_shifts() -> None:
    rng = np.random.default_rng(4)
    ref, cur = rng.normal(size=100_000), rng.normal(0.03, 1.0, 100_000)
    plain, floored = _detector(), _detector(min_statistic=0.1)
    a = plain.score(plain.fit(_numeric(ref)), _numeric(cur))
    b = floored.score(floored.fit(_numeric(ref)), _numeric(cur))
    assert a.p_value < 1e-6 and a.statistic < 0.1
    assert a.drifted and not b.drifted
    big = floored.score(floored.fit(_numeric(ref)), _numeric(cur + 1.0))
    assert big.drifted


def test_decide_uses_the_corrected_p_value() -> None:
    rng = np.random.default_rng(5)
    detector = _detector(p_value=0.05)
    ref = rng.normal(size=300)
    result = detector.score(detector.fit(_numeric(ref)), _numeric(rng.normal(0.25, 1, 300)))
    assert result.p_value < 0.05
    assert detector.decide(result, result.p_value)
    assert not detector.decide(result, min(1.0, result.p_value * 1_000))
    assert KSDetector.uses_p_value and KSDetector.applies_to == frozenset({"numeric"})


@pytest.mark.parametrize(
    "settings",
    [
        {"p_value": 0.0},
        {"p_value": 1.0},
        {"p_value": -0.1},
        {"min_statistic": 0.0},
        {"min_statistic": 1.5},
        {"alpha": 0.05},
    ],
)
def test_settings_reject_bad_values(settings: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        KSSettings(type="ks", **settings)


def test_settings_describe_every_field() -> None:
    for name in ("p_value", "min_statistic"):
        assert KSSettings.model_fields[name].description
    assert "harmless" in (KSSettings.model_fields["min_statistic"].description or "")


def test_plugin_manager_finds_ks() -> None:
    assert create_plugin_manager(entry_points=False).get("detector", "ks") is KSDetector
