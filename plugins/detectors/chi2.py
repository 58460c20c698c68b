"""Chi-square test of homogeneity (``type: chi2``) for categorical features and predicted classes.

The 2 x k contingency table has the reference counts in one row and the window's in the
other, over the reference categories plus one ``<unseen>`` column for categories the
reference never had. Columns that are empty in both rows are dropped (a reference category
absent from the window stays: it had reference counts). The statistic is Pearson's
``sum (O - E)^2 / E`` with ``E`` from the margins, ``dof = k - 1``, and the p-value is
``scipy.stats.chi2.sf(statistic, dof)``.

That is exactly ``scipy.stats.chi2_contingency(table, correction=False)``, computed here in
a few vector operations. **No Yates continuity correction, also on 2 x 2 tables**, where
scipy's default (``correction=True``) and NannyML, which calls it, apply one:

* scipy applies Yates only when ``dof == 1``: a binary feature would be tested more
  conservatively than a feature with three categories, and the same shift would be judged
  by two yardsticks within one monitor;
* Yates over-corrects (its p-values are larger than the exact test's, so it loses power),
  and the monitor's multiple-testing correction already makes each test more cautious;
* with the window sizes monitoring sees it hardly matters, but on a small window it can
  decide. A reference of 500 ``yes`` / 500 ``no`` against a window of 38 ``yes`` / 22
  ``no``: p = 0.0448 without the correction (drift at 0.05), 0.0610 with it (no drift);
  5,000 / 5,000 against 5,100 / 4,900: p = 0.1573 without, 0.1615 with.
  (``tests/test_detectors_chi2.py`` pins these numbers from scipy.)

A table with a single non-empty column has ``dof = 0``: statistic 0, p-value 1 (nothing to
compare).

Like KS, the test becomes sensitive to tiny shifts with many rows; ``details`` reports
Cramér's V (``sqrt(chi2 / n)`` for a 2 x k table) as an effect size next to the p-value.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy import stats

from driftscope import (
    MAX_CHART_BINS,
    UNSEEN,
    BinCounts,
    CategoryCounts,
    DetectorRecord,
    DetectorResult,
    DetectorSettings,
    FeatureKind,
    FeatureSample,
    PValueDetector,
    PValueSettings,
    cap_bins,
    hookimpl,
)

#: How many unseen category names ``details`` lists (most frequent first).
MAX_UNSEEN_LISTED = 10


class Chi2Settings(PValueSettings):
    """Settings of the ``chi2`` detector: the significance level ``p_value``."""


@dataclass(frozen=True)
class Chi2Profile:
    """Reference categories (most frequent first) and their counts."""

    categories: tuple[str, ...]
    index: dict[str, int]
    counts: np.ndarray  # one per category

    @property
    def size(self) -> int:
        return int(self.counts.sum())


@dataclass(frozen=True)
class Chi2Test:
    """The outcome of the test on one 2 x k table."""

    statistic: float
    p_value: float
    dof: int
    kept: np.ndarray  # boolean mask of the columns that entered the test


class Chi2Detector(PValueDetector[Chi2Settings, Chi2Profile]):
    """Chi-square test of homogeneity of a window's categories against the reference, without
    Yates' continuity correction for any table size (see the module docstring for why)."""

    Settings: ClassVar[type[DetectorSettings]] = Chi2Settings
    applies_to: ClassVar[frozenset[FeatureKind]] = frozenset({"categorical"})
    scores_counts: ClassVar[bool] = True

    def fit(self, reference: FeatureSample) -> Chi2Profile:
        """Count the reference categories."""
        if len(reference.values) == 0:
            raise ValueError(f"feature {reference.name!r}: the reference is empty")
        tally = Counter(np.asarray(reference.values, dtype=object).tolist())
        categories = tuple(sorted(tally, key=lambda c: (-tally[c], c)))
        counts = np.array([tally[c] for c in categories], dtype=np.int64)
        counts.flags.writeable = False
        return Chi2Profile(categories, {c: i for i, c in enumerate(categories)}, counts)

    def score(self, profile: Chi2Profile, current: FeatureSample) -> DetectorResult:
        """Build the 2 x k table and test it."""
        if len(current.values) == 0:
            raise ValueError(f"feature {current.name!r}: the current window is empty")
        return self._test(profile, Counter(np.asarray(current.values, dtype=object).tolist()))

    def score_counts(
        self, profile: Chi2Profile, counts: BinCounts | CategoryCounts
    ) -> DetectorResult:
        """The test on a window counted by the store (a :class:`core.CategoryCounts`): the
        counts are mapped through the profile's categories plus the unseen column, so the
        result equals :meth:`score` on the same values."""
        if not isinstance(counts, CategoryCounts):
            raise TypeError("chi2 scores categorical features only: it needs CategoryCounts")
        if counts.total == 0:
            raise ValueError("the current window is empty")
        return self._test(profile, counts.counts)

    def _test(self, profile: Chi2Profile, tally: Mapping[str, int]) -> DetectorResult:
        """Test the window's category counts against the profile (the one computation behind
        :meth:`score` and :meth:`score_counts`)."""
        cur_counts = np.zeros(len(profile.categories) + 1, dtype=np.int64)
        unseen: dict[str, int] = {}
        for label, n in tally.items():
            i = profile.index.get(label)
            if i is None:
                unseen[label] = int(n)
            else:
                cur_counts[i] = n
        cur_counts[-1] = sum(unseen.values())
        ref_counts = np.append(profile.counts, 0)
        test = homogeneity_test(ref_counts, cur_counts)
        labels = [*profile.categories, UNSEEN]
        n_ref, n_cur = int(ref_counts.sum()), int(cur_counts.sum())
        listed = sorted(unseen.items(), key=lambda item: (-item[1], item[0]))[:MAX_UNSEEN_LISTED]
        result = DetectorResult(
            statistic=test.statistic,
            p_value=test.p_value,
            threshold=self.threshold,
            drifted=False,
            details={
                "bins": cap_bins(
                    {
                        "labels": labels,
                        "reference": [float(c / n_ref) for c in ref_counts],
                        "current": [float(c / n_cur) for c in cur_counts],
                        "reference_counts": [int(c) for c in ref_counts],
                        "current_counts": [int(c) for c in cur_counts],
                    },
                    cur_counts / n_cur - ref_counts / n_ref,  # the largest shifts are shown
                ),
                "dof": test.dof,
                "dropped": [label for label, k in zip(labels, test.kept, strict=True) if not k][
                    :MAX_CHART_BINS
                ],
                "cramers_v": math.sqrt(test.statistic / (n_ref + n_cur)),
                "unseen_categories": dict(listed),
                "reference_size": n_ref,
                "current_size": n_cur,
            },
        )
        result.drifted = self.decide(result, test.p_value)
        return result


def homogeneity_test(ref_counts: np.ndarray, cur_counts: np.ndarray) -> Chi2Test:
    """Pearson's chi-square on the 2 x k table, columns empty in both rows dropped.

    Equal to ``scipy.stats.chi2_contingency(table, correction=False)``.
    """
    kept = (ref_counts + cur_counts) > 0
    observed = np.vstack((ref_counts[kept], cur_counts[kept])).astype(np.float64)
    dof = int(observed.shape[1] - 1)
    if dof <= 0:
        return Chi2Test(0.0, 1.0, 0, kept)
    rows = observed.sum(axis=1, keepdims=True)
    cols = observed.sum(axis=0, keepdims=True)
    expected = rows * cols / observed.sum()
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    return Chi2Test(statistic, float(stats.chi2.sf(statistic, dof)), dof, kept)


@hookimpl
def driftscope_detectors() -> Any:
    """Register the ``chi2`` detector."""
    yield DetectorRecord("chi2", Chi2Detector)
