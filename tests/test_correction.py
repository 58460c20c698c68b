"""Multiple-testing correction against hand-computed values and statsmodels' independent
implementation (``statsmodels.stats.multitest.multipletests``)."""

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from driftscope.core.monitoring.correction import adjust_p_values

STATSMODELS_METHOD = {"bonferroni": "bonferroni", "fdr": "fdr_bh"}


def _raw_bh_ratios(p: list[float]) -> np.ndarray:
    """p_(k) * m / k in ascending order of p: Benjamini–Hochberg before its step-up."""
    ordered = np.sort(np.asarray(p))
    return ordered * len(ordered) / np.arange(1, len(ordered) + 1)


def test_bonferroni_multiplies_by_the_family_size_and_caps_at_one():
    assert np.allclose(adjust_p_values([0.01, 0.02, 0.5], "bonferroni"), [0.03, 0.06, 1.0])


def test_benjamini_hochberg_matches_the_step_up_procedure():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005, 0.01, 0.03, 0.04 -> *4/rank: 0.02, 0.02, 0.04, 0.04
    assert np.allclose(adjust_p_values(p, "fdr"), [0.02, 0.04, 0.04, 0.02])


def test_the_benjamini_hochberg_step_up_lowers_values_whose_ratio_is_above_a_later_one():
    # sorted p: 0.01, 0.02, 0.035, 0.04, 0.049 -> p*5/rank: 0.05, 0.05, 0.0583, 0.05, 0.049.
    # The step-up (each value the minimum over its rank and the ranks above) gives 0.049 to
    # all five, so all five are discoveries at 0.05; the bare ratios would make only one.
    p = [0.035, 0.01, 0.049, 0.02, 0.04]
    ratios = _raw_bh_ratios(p)
    assert np.any(np.diff(ratios) < 0), "the ratios must be non-monotone for this test to bite"
    adjusted = adjust_p_values(p, "fdr")
    assert np.allclose(adjusted, [0.049] * 5, rtol=0, atol=1e-15)
    reject, expected, _, _ = multipletests(p, alpha=0.05, method="fdr_bh")
    assert np.allclose(adjusted, expected, rtol=1e-12, atol=0)
    assert (adjusted < 0.05).tolist() == reject.tolist() == [True] * 5
    assert int(np.sum(ratios < 0.05)) == 1  # what BH without its step-up would find


def test_the_step_up_runs_over_every_higher_rank_not_only_the_next():
    # ratios 0.06, 0.09, 0.07, 0.0525, 0.042: the first rank's value comes from the last,
    # three ranks up, so a step-up that only looks one rank ahead gets it wrong
    p = [0.012, 0.036, 0.042, 0.042, 0.042]
    ratios = _raw_bh_ratios(p)
    assert np.allclose(ratios, [0.06, 0.09, 0.07, 0.0525, 0.042])
    _, expected, _, _ = multipletests(p, method="fdr_bh")
    assert np.allclose(expected, [0.042] * 5)
    assert np.allclose(adjust_p_values(p, "fdr"), expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("method", ["bonferroni", "fdr"])
def test_random_families_agree_with_statsmodels(method: str):
    """Families of 1 to 60 p-values, many with ties and non-monotone BH ratios."""
    rng = np.random.default_rng(20240611)
    non_monotone = 0
    for _ in range(500):
        m = int(rng.integers(1, 61))
        # a mix of small "signals", uniform nulls and exact ties (rounded values)
        p = np.concatenate([rng.uniform(0, 0.01, m // 3), rng.uniform(0, 1, m - m // 3)])
        if rng.random() < 0.5:
            p = np.round(p, 2)
        rng.shuffle(p)
        non_monotone += bool(np.any(np.diff(_raw_bh_ratios(list(p))) < 0))
        _, expected, _, _ = multipletests(p, method=STATSMODELS_METHOD[method])
        assert np.allclose(adjust_p_values(p, method), expected, rtol=1e-12, atol=1e-15), p
    assert non_monotone > 250  # most families exercise the step-up


def test_none_leaves_p_values_alone():
    assert np.allclose(adjust_p_values([0.2, 0.01], "none"), [0.2, 0.01])


def test_an_empty_family_stays_empty():
    for method in ("none", "bonferroni", "fdr"):
        assert adjust_p_values([], method).shape == (0,)  # type: ignore[arg-type]


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown correction"):
        adjust_p_values([0.1], "holm")  # type: ignore[arg-type]
