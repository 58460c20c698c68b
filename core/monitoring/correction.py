"""Multiple-testing correction across the features a monitor tests with one detector.

With 20 features tested at alpha 0.05, about one stable feature in a run "drifts" by chance.
Bonferroni (alibi-detect's default) controls the family-wise error; Benjamini–Hochberg
(``fdr``) controls the false discovery rate and keeps more power.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Correction = Literal["none", "bonferroni", "fdr"]


def adjust_p_values(p_values: np.ndarray | list[float], method: Correction) -> np.ndarray:
    """Return p-values adjusted for ``method``; compare them with the unadjusted alpha."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    if m == 0 or method == "none":
        return p.copy()
    if method == "bonferroni":
        return np.minimum(p * m, 1.0)
    if method == "fdr":
        order = np.argsort(p)
        ranked = p[order] * m / np.arange(1, m + 1)
        # step-up: each adjusted value is the minimum over the ranks at or above it
        ranked = np.minimum.accumulate(ranked[::-1])[::-1]
        adjusted = np.empty(m)
        adjusted[order] = np.minimum(ranked, 1.0)
        return adjusted
    raise ValueError(f"unknown correction {method!r}; choose none, bonferroni or fdr")
