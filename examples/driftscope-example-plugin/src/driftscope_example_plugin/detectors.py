"""The ``mean-shift`` detector: drift when a feature's mean moves too far from the reference.

The shift is measured in reference standard deviations, so one threshold suits every
feature whatever its unit:

    shift = |mean(current) - mean(reference)| / std(reference)

``fit`` runs once per reference file (driftscope caches the profile); ``score`` runs on
every window. driftscope has already removed missing and infinite values, and never calls
``score`` on an empty sample.

The class declares what driftscope needs besides: its ``Settings`` model, the feature kinds
it ``applies_to``, and its ``threshold`` (read from its settings; driftscope shows it on every
result, also on one it records when ``score`` raised). ``Detector[MeanShiftSettings,
MeanProfile]`` lets a type checker hold ``fit``, ``score`` and ``self.settings`` to those types.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from pydantic import Field

from driftscope import (
    Detector,
    DetectorRecord,
    DetectorResult,
    DetectorSettings,
    FeatureSample,
    hookimpl,
)


class MeanShiftSettings(DetectorSettings):
    """The YAML block ``{type: mean-shift, threshold: 0.5}``; unknown keys are refused."""

    threshold: float = Field(
        default=0.5, gt=0, description="Drift when the mean moves this many reference stds."
    )


@dataclass(frozen=True)
class MeanProfile:
    """The reference's mean, standard deviation and size."""

    mean: float
    std: float
    count: int


class MeanShiftDetector(Detector[MeanShiftSettings, MeanProfile]):
    """Drift when the mean moves by more than ``threshold`` reference standard deviations."""

    Settings = MeanShiftSettings
    applies_to = frozenset({"numeric"})

    @property
    def threshold(self) -> float:
        """The shift, in reference standard deviations, beyond which the feature drifted."""
        return self.settings.threshold

    def fit(self, reference: FeatureSample) -> MeanProfile:
        values = reference.values
        std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        return MeanProfile(float(values.mean()), std if std > 0 else 1.0, len(values))

    def score(self, profile: MeanProfile, current: FeatureSample) -> DetectorResult:
        mean = float(np.mean(current.values))
        shift = abs(mean - profile.mean) / profile.std
        threshold = self.threshold
        return DetectorResult(
            statistic=shift,
            p_value=None,
            threshold=threshold,
            drifted=shift > threshold,
            details={
                "reference_mean": profile.mean,
                "reference_std": profile.std,
                "current_mean": mean,
                "reference_count": profile.count,
                "current_count": len(current.values),
            },
        )


@hookimpl
def driftscope_detectors() -> Iterator[DetectorRecord]:
    """Register ``mean-shift``."""
    yield DetectorRecord("mean-shift", MeanShiftDetector)
