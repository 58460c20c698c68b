"""The ``chi2`` detector: against scipy.stats.chi2_contingency, unseen categories, decisions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import stats

from driftscope import FeatureSample
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.plugins.detectors.chi2 import UNSEEN, Chi2Detector, Chi2Settings, homogeneity_test


def _detector(**settings: object) -> Chi2Detector:
    return Chi2Detector(Chi2Settings(type="chi2", **settings))


def _categorical(values: list[str] | np.ndarray) -> FeatureSample:
    return FeatureSample("c", "categorical", np.asarray(values, dtype=object))


def _draw(rng: np.random.Generator, probs: list[float], n: int) -> np.ndarray:
    labels = np.array([f"k{i}" for i in range(len(probs))], dtype=object)
    return labels[rng.choice(len(probs), size=n, p=probs)]


def test_matches_chi2_contingency_without_yates_on_random_tables() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        k = int(rng.integers(2, 12))
        table = rng.integers(0, 200, size=(2, k))
        table[:, rng.random(k) < 0.2] = 0  # some columns empty in both rows
        table[0, 0] += 1
        table[1, 0] += 1
        ours = homogeneity_test(table[0], table[1])
        kept = table[:, table.sum(axis=0) > 0]
        assert ours.kept.tolist() == (table.sum(axis=0) > 0).tolist()
        if kept.shape[1] < 2:
            assert (ours.statistic, ours.p_value, ours.dof) == (0.0, 1.0, 0)
            continue
        expected = stats.chi2_contingency(kept, correction=False)
        assert ours.statistic == pytest.approx(expected.statistic, rel=1e-10)
        assert ours.p_value == pytest.approx(expected.pvalue, rel=1e-8, abs=1e-300)
        assert ours.dof == expected.dof


@pytest.mark.parametrize(
    ("reference", "window", "without", "with_yates"),
    [
        ((500, 500), (38, 22), 0.0448, 0.0610),  # a small window: the correction decides
        ((5_000, 5_000), (5_100, 4_900), 0.1573, 0.1615),  # a large one: it hardly matters
    ],
)
def test_two_categories_use_no_yates_correction_as_documented(
    reference: tuple[int, int], window: tuple[int, int], without: float, with_yates: float
) -> None:
    # the p-values the detector's docstring and the README give, both ways, from scipy
    table = np.array([reference, window])
    plain = stats.chi2_contingency(table, correction=False).pvalue
    yates = stats.chi2_contingency(table, correction=True).pvalue
    assert (round(plain, 4), round(yates, 4)) == (without, with_yates)
    detector = _detector()
    profile = detector.fit(_categorical(["yes"] * reference[0] + ["no"] * reference[1]))
    result = detector.score(profile, _categorical(["yes"] * window[0] + ["no"] * window[1]))
    assert result.p_value == pytest.approx(plain, rel=1e-12)
    assert result.details["dof"] == 1
    assert result.drifted == (plain < 0.05)


def test_score_on_samples_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    ref = _draw(rng, [0.5, 0.3, 0.2], 3_000)
    cur = _draw(rng, [0.45, 0.3, 0.25], 1_000)
    detector = _detector()
    result = detector.score(detector.fit(_categorical(ref)), _categorical(cur))
    table = [
        [np.sum(ref == c) for c in ("k0", "k1", "k2")],
        [np.sum(cur == c) for c in ("k0", "k1", "k2")],
    ]
    expected = stats.chi2_contingency(table, correction=False)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-10)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-8)
    assert result.details["dof"] == 2
    assert result.details["dropped"] == [UNSEEN]  # no unseen values: empty in both rows


def test_unseen_categories_form_one_column() -> None:
    detector = _detector()
    profile = detector.fit(_categorical(["a"] * 60 + ["b"] * 40))
    result = detector.score(profile, _categorical(["a"] * 30 + ["b"] * 20 + ["x"] * 5 + ["y"] * 2))
    bins = result.details["bins"]
    assert bins["labels"] == ["a", "b", UNSEEN]
    assert bins["reference_counts"] == [60, 40, 0]
    assert bins["current_counts"] == [30, 20, 7]
    assert bins["current"] == pytest.approx([30 / 57, 20 / 57, 7 / 57])
    assert result.details["unseen_categories"] == {"x": 5, "y": 2}
    expected = stats.chi2_contingency([[60, 40, 0], [30, 20, 7]], correction=False)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-10)
    assert result.drifted


def test_reference_category_missing_from_the_window_stays_in_the_table() -> None:
    detector = _detector()
    profile = detector.fit(_categorical(["a"] * 50 + ["b"] * 50 + ["c"] * 50))
    result = detector.score(profile, _categorical(["a"] * 50 + ["b"] * 50))
    assert result.details["dof"] == 2
    assert result.details["bins"]["current_counts"] == [50, 50, 0, 0]


def test_single_category_everywhere_is_not_drift() -> None:
    detector = _detector()
    result = detector.score(detector.fit(_categorical(["a"] * 10)), _categorical(["a"] * 3))
    assert (result.statistic, result.p_value, result.details["dof"]) == (0.0, 1.0, 0)
    assert not result.drifted


def test_tells_drifted_from_stable_and_uses_the_corrected_p_value() -> None:
    rng = np.random.default_rng(2)
    detector = _detector(p_value=0.01)
    profile = detector.fit(_categorical(_draw(rng, [0.6, 0.3, 0.1], 10_000)))
    stable = detector.score(profile, _categorical(_draw(rng, [0.6, 0.3, 0.1], 2_000)))
    drifted = detector.score(profile, _categorical(_draw(rng, [0.4, 0.3, 0.3], 2_000)))
    assert not stable.drifted and stable.p_value > 0.01
    assert drifted.drifted and drifted.p_value < 1e-20
    assert drifted.details["cramers_v"] > stable.details["cramers_v"]
    assert not detector.decide(drifted, 0.5)
    assert detector.decide(stable, 0.001)
    assert Chi2Detector.uses_p_value and Chi2Detector.applies_to == frozenset({"categorical"})


def test_details_are_json_ready() -> None:
    detector = _detector()
    result = detector.score(detector.fit(_categorical(["a", "b", "b"])), _categorical(["b", "c"]))
    details = json.loads(json.dumps(result.details, allow_nan=False))
    assert details["reference_size"] == 3 and details["current_size"] == 2


@pytest.mark.parametrize("settings", [{"p_value": 0.0}, {"p_value": 1.0}, {"alpha": 0.1}])
def test_settings_reject_bad_values(settings: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Chi2Settings(type="chi2", **settings)


def test_plugin_manager_finds_chi2() -> None:
    assert create_plugin_manager(entry_points=False).get("detector", "chi2") is Chi2Detector


def test_score_counts_equals_score_on_the_same_values() -> None:
    from driftscope import count_categories

    rng = np.random.default_rng(9)
    det = _detector()
    profile = det.fit(_categorical(_draw(rng, [0.5, 0.3, 0.2], 500)))
    window = np.concatenate([_draw(rng, [0.3, 0.3, 0.3, 0.1], 400), ["new", "new", "other"]])
    raw = det.score(profile, _categorical(window))
    counted = det.score_counts(profile, count_categories(np.asarray(window, dtype=object)))
    assert counted.statistic == pytest.approx(raw.statistic, rel=1e-12)
    assert counted.p_value == pytest.approx(raw.p_value, rel=1e-12)
    assert counted.drifted == raw.drifted and counted.details == raw.details
    assert list(raw.details["unseen_categories"]) == ["k3", "new", "other"]
