"""Chart data of many-category features stays small; the statistic still sees every category."""

from __future__ import annotations

import numpy as np
import pytest

from driftscope import MAX_CHART_BINS, FeatureSample, cap_bins
from driftscope.core.plugin_system.manager import create_plugin_manager


def test_cap_bins_keeps_the_heaviest_bins_in_order_and_merges_the_rest():
    bins = {
        "edges": [],
        "labels": ["a", "b", "c", "d"],
        "current": [0.1, 0.5, 0.1, 0.3],
        "counts": [1, 5, 1, 3],
    }
    capped = cap_bins(bins, [0.0, 2.0, -0.5, 1.0], limit=3)
    assert capped["labels"] == ["b", "d", "2 other categories"]
    assert capped["current"] == pytest.approx([0.5, 0.3, 0.2])
    assert capped["counts"] == [5, 3, 2] and isinstance(capped["counts"][2], int)
    assert capped["edges"] == [] and capped["merged"] == 2
    assert cap_bins(bins, [1, 1, 1, 1], limit=4) is bins


@pytest.mark.parametrize("name", ["psi", "chi2"])
def test_a_feature_with_hundreds_of_categories_reports_capped_bins(name):
    detector_class = create_plugin_manager(entry_points=False).get("detector", name)
    detector = detector_class(detector_class.Settings(type=name))
    rng = np.random.default_rng(3)
    reference = np.array([f"zip{i}" for i in rng.integers(0, 500, 20_000)], dtype=object)
    current = np.array([f"zip{i}" for i in rng.integers(0, 520, 20_000)], dtype=object)
    profile = detector.fit(FeatureSample("zip", "categorical", reference))
    result = detector.score(profile, FeatureSample("zip", "categorical", current))
    bins = result.details["bins"]
    assert len(bins["labels"]) == MAX_CHART_BINS
    assert bins["labels"][-1] == f"{bins['merged']} other categories"
    assert sum(bins["reference"]) == pytest.approx(1.0)
    assert sum(bins["current"]) == pytest.approx(1.0)
    assert "<unseen>" in bins["labels"]  # 20 new zip codes: the largest shift is kept
    if name == "psi":
        assert sum(bins["contributions"]) == pytest.approx(result.statistic)
