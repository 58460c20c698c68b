"""Data-quality detector (``type: quality``): values that are broken, not merely different.

A drift test says a distribution moved; it cannot say that an upstream join broke and a
column went 40% missing (the engine removes missing values before a drift test sees them).
This detector looks at exactly those values. Per feature it measures the share of rows that
are

* ``missing``: no value (NaN, null) — numeric and categorical features;
* ``infinite``: ``±inf`` — numeric features;
* ``out_of_range``: finite, but below the reference's minimum or above its maximum, or
  outside ``bounds`` configured for the feature — numeric features;
* ``unseen``: a category the reference never had — categorical features;

in the reference and in the window, and flags the feature when any share grew by more than
``max_increase`` (an absolute increase of the share: 0.05 = five more rows in a hundred) over
the reference's own share. Each feature gets one result: ``statistic`` is its largest
increase, ``threshold`` is ``max_increase``, and ``details`` holds every check's reference
share, window share and increase, and which check was worst.

It is a :class:`driftscope.WindowDetector`, since it needs the values the engine would clean
away, and it uses only the public ``driftscope`` surface.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from driftscope import (
    DetectorRecord,
    DetectorSettings,
    WindowDetector,
    WindowResult,
    WindowSample,
    hookimpl,
)

Check = Literal["missing", "infinite", "out_of_range", "unseen"]
NUMERIC_CHECKS: tuple[Check, ...] = ("missing", "infinite", "out_of_range")
CATEGORICAL_CHECKS: tuple[Check, ...] = ("missing", "unseen")


class QualitySettings(DetectorSettings):
    """Settings of the ``quality`` detector."""

    max_increase: float = Field(
        default=0.05,
        gt=0.0,
        lt=1.0,
        allow_inf_nan=False,
        description=(
            "Largest tolerated increase of a bad-value share over the reference's share "
            "(absolute: 0.05 = five more rows in a hundred)."
        ),
    )
    checks: list[Check] = Field(
        default=["missing", "infinite", "out_of_range", "unseen"],
        min_length=1,
        description="Which shares to watch: missing, infinite, out_of_range, unseen.",
    )
    bounds: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description=(
            "Valid range per numeric feature, {feature: [low, high]}; values outside are "
            "out_of_range. Default: the reference's own minimum and maximum."
        ),
    )

    @field_validator("bounds")
    @classmethod
    def _ordered_finite(
        cls, bounds: dict[str, tuple[float, float]]
    ) -> dict[str, tuple[float, float]]:
        for feature, (low, high) in bounds.items():
            if not (math.isfinite(low) and math.isfinite(high)):
                raise ValueError(f"bounds of {feature!r} must be finite numbers, got {[low, high]}")
            if low > high:
                raise ValueError(f"bounds of {feature!r}: low {low} is above high {high}")
        return bounds


@dataclass(frozen=True)
class FeatureQuality:
    """What the reference says about one feature: its bad-value shares and valid values."""

    kind: str
    rows: int
    shares: dict[Check, float]
    low: float | None = None
    high: float | None = None
    categories: frozenset[str] = frozenset()


QualityProfile = dict[str, FeatureQuality]


class QualityDetector(WindowDetector[QualitySettings, QualityProfile]):
    """Flags a feature whose missing, infinite, out-of-range or unseen-category share grew by
    more than ``max_increase`` over the reference's."""

    Settings = QualitySettings

    @property
    def drifts_when(self) -> Literal["below", "above"]:
        """A value above the threshold is drift."""
        return "above"

    @property
    def threshold(self) -> float:
        """The largest tolerated increase of a share, ``settings.max_increase``."""
        return self.settings.max_increase

    def _features(self, sample: WindowSample) -> list[str]:
        wanted = self.settings.features
        return [name for name in sample.features if wanted is None or name in wanted]

    def fit(self, reference: WindowSample) -> QualityProfile:
        unknown = sorted(set(self.settings.bounds) - set(reference.features))
        if unknown:
            raise ValueError(
                f"bounds name {', '.join(map(repr, unknown))}, not a feature of the model "
                f"(features: {', '.join(reference.features)})"
            )
        categorical = sorted(
            name for name in self.settings.bounds if reference.kinds[name] != "numeric"
        )
        if categorical:
            raise ValueError(f"bounds apply to numeric features only, not {categorical}")
        profile: QualityProfile = {}
        for name in self._features(reference):
            values = reference.features[name]
            if reference.kinds[name] == "numeric":
                values = np.asarray(values, dtype=np.float64)
                finite = values[np.isfinite(values)]
                low, high = self.settings.bounds.get(
                    name,
                    (float(finite.min()), float(finite.max())) if finite.size else (None, None),
                )
                entry = FeatureQuality("numeric", len(values), {}, low, high)
            else:
                present = {str(v) for v in values if v is not None}
                entry = FeatureQuality(
                    "categorical", len(values), {}, categories=frozenset(present)
                )
            profile[name] = FeatureQuality(
                entry.kind,
                entry.rows,
                _shares(entry, values),
                entry.low,
                entry.high,
                entry.categories,
            )
        return profile

    def score(self, profile: QualityProfile, current: WindowSample) -> list[WindowResult]:
        results = []
        watched = set(self.settings.checks)
        for name, reference in profile.items():
            shares = _shares(reference, current.features[name])
            checks = {
                check: {
                    "reference": reference.shares[check],
                    "current": shares[check],
                    "increase": shares[check] - reference.shares[check],
                }
                for check in shares
                if check in watched
            }
            if not checks:  # e.g. only `unseen` watched and this feature is numeric
                continue
            worst = max(checks, key=lambda c: checks[c]["increase"])
            increase = checks[worst]["increase"]
            details: dict[str, Any] = {
                "checks": checks,
                "worst": worst,
                "rows": current.rows,
                "reference_rows": reference.rows,
            }
            if reference.kind == "numeric":
                details["valid_range"] = [reference.low, reference.high]
                details["range_from"] = "bounds" if name in self.settings.bounds else "reference"
            results.append(
                WindowResult(
                    increase,
                    None,
                    self.threshold,
                    increase > self.threshold,
                    details=details,
                    kind="feature",
                    feature=name,
                )
            )
        if not results:
            raise ValueError(
                f"no feature has a check among {sorted(watched)} (features: {', '.join(profile)})"
            )
        return results


def _shares(feature: FeatureQuality, values: np.ndarray) -> dict[Check, float]:
    """The share of rows of each check that applies to the feature's kind."""
    rows = len(values)
    if rows == 0:
        checks = NUMERIC_CHECKS if feature.kind == "numeric" else CATEGORICAL_CHECKS
        return dict.fromkeys(checks, 0.0)
    if feature.kind == "numeric":
        numbers = np.asarray(values, dtype=np.float64)
        missing = int(np.isnan(numbers).sum())
        finite = np.isfinite(numbers)
        infinite = rows - missing - int(finite.sum())
        outside = 0
        if feature.low is not None and feature.high is not None:
            kept = numbers[finite]
            outside = int(((kept < feature.low) | (kept > feature.high)).sum())
        return {
            "missing": missing / rows,
            "infinite": infinite / rows,
            "out_of_range": outside / rows,
        }
    objects = np.asarray(values, dtype=object)
    present = objects != None  # noqa: E711 - elementwise on an object array
    labels = objects[present].astype(str)
    unseen = int((~np.isin(labels, np.array(sorted(feature.categories), dtype=str))).sum())
    return {"missing": (rows - int(present.sum())) / rows, "unseen": unseen / rows}


@hookimpl
def driftscope_detectors() -> Any:
    """Register the ``quality`` detector."""
    yield DetectorRecord("quality", QualityDetector)
