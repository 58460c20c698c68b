"""Multiple-testing correction against hand-computed values."""

import numpy as np
import pytest

from driftscope.core.monitoring.correction import adjust_p_values


def test_bonferroni_multiplies_by_the_family_size_and_caps_at_one():
    assert np.allclose(adjust_p_values([0.01, 0.02, 0.5], "bonferroni"), [0.03, 0.06, 1.0])


def test_benjamini_hochberg_matches_the_step_up_procedure():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005, 0.01, 0.03, 0.04 -> *4/rank: 0.02, 0.02, 0.04, 0.04
    assert np.allclose(adjust_p_values(p, "fdr"), [0.02, 0.04, 0.04, 0.02])


def test_none_leaves_p_values_alone():
    assert np.allclose(adjust_p_values([0.2, 0.01], "none"), [0.2, 0.01])


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown correction"):
        adjust_p_values([0.1], "holm")  # type: ignore[arg-type]
