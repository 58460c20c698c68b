"""Features as one numeric matrix, for window detectors that train a model on them.

A gradient-boosted tree takes numbers; a window has numeric and categorical features, with
missing values and infinities. :class:`FeatureEncoder` is fitted on the reference once (it
learns each categorical feature's categories) and turns any sample's rows into a float64
matrix the same way, so a model trained on the reference reads the window's rows the way it
read the reference's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from driftscope.core.contracts.window_detector import WindowSample

#: scikit-learn's HistGradientBoosting takes categorical codes below 255; the last code holds
#: the categories beyond the most frequent ones and those the reference never had
MAX_CATEGORY_CODES = 254


@dataclass(frozen=True)
class FeatureEncoder:
    """How each feature becomes one column of a float64 matrix.

    Numeric features stay as they are, infinities made missing (NaN). A categorical feature
    becomes the code of its category among the reference's most frequent
    :data:`MAX_CATEGORY_CODES`; any other category (rarer, or unseen in the reference) gets
    code :data:`MAX_CATEGORY_CODES`, and a missing value NaN. ``categorical_mask`` says which
    columns hold codes (scikit-learn's ``categorical_features``).
    """

    names: tuple[str, ...]
    categories: dict[str, dict[str, int]]

    @classmethod
    def fit(cls, reference: WindowSample, names: Sequence[str] | None = None) -> FeatureEncoder:
        """Learn the categories of the reference's categorical features (all features, or
        ``names`` in that order)."""
        chosen = tuple(reference.features if names is None else names)
        categories: dict[str, dict[str, int]] = {}
        for name in chosen:
            if reference.kinds[name] == "numeric":
                continue
            present = [str(v) for v in reference.features[name] if v is not None]
            labels, counts = np.unique(np.array(present, dtype=str), return_counts=True)
            kept = labels[np.argsort(-counts, kind="stable")][:MAX_CATEGORY_CODES]
            categories[name] = {str(label): code for code, label in enumerate(kept)}
        return cls(chosen, categories)

    @property
    def categorical_mask(self) -> np.ndarray:
        """A boolean per column: True where the column holds category codes."""
        return np.array([name in self.categories for name in self.names], dtype=bool)

    def matrix(self, sample: WindowSample, rows: np.ndarray | None = None) -> np.ndarray:
        """The ``(len(rows), len(names))`` matrix of the sample's ``rows`` (all by default)."""
        picked = np.arange(sample.rows) if rows is None else rows
        columns = []
        for name in self.names:
            values = sample.features[name][picked]
            codes = self.categories.get(name)
            if codes is None:
                column = np.asarray(values, dtype=np.float64).copy()
                column[~np.isfinite(column)] = np.nan
            else:
                other = float(MAX_CATEGORY_CODES)
                column = np.array(
                    [np.nan if v is None else codes.get(str(v), other) for v in values],
                    dtype=np.float64,
                )
            columns.append(column)
        if not columns:
            return np.empty((len(picked), 0), dtype=np.float64)
        return np.column_stack(columns)
