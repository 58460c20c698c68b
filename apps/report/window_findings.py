"""What the window detectors report, read into dataclasses: estimated performance (``cbpe``,
``dle``), multivariate drift with its feature ranking (``domain_classifier``) and data quality
(``quality``).

The shapes are those the built-in detectors write (``README.md``, "The detectors"); they are
recognised by shape as well as by name, so an outside detector that writes the same details
is shown the same way. Like every reader of the report, these give ``None`` or an empty list
for a missing or malformed value and never raise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from driftscope.apps.report.reading import count, finite, mapping, mappings, number, text

ESTIMATING_DETECTORS = frozenset({"cbpe", "dle"})
"""Built-in detectors whose performance results are estimates made without labels."""
ERROR_METRICS = frozenset({"mae", "rmse", "mse", "mape"})
"""Metrics where lower is better: their threshold is the highest acceptable value."""
_ESTIMATE_KEYS = ("lower", "upper", "realized_rows")


def is_estimate(detector: str, details: Mapping[str, Any]) -> bool:
    """Whether a performance result is an estimate (a band, no labels needed) rather than a
    metric measured on labelled rows."""
    return detector in ESTIMATING_DETECTORS or any(key in details for key in _ESTIMATE_KEYS)


def _decision(status: str, drifted: bool) -> str:
    if status != "ok":
        return status.replace("_", " ")
    return "drift" if drifted else "ok"


@dataclass(frozen=True)
class Estimate:
    """One estimated metric of one window: the estimate, its band, the bar it is held to,
    and the realized value once labels arrived."""

    detector: str
    metric: str
    estimate: float | None
    lower: float | None
    upper: float | None
    standard_error: float | None
    threshold: float | None
    reference_value: float | None
    realized: float | None
    realized_rows: int | None
    realized_error: str | None
    rows: int | None
    calibrated: bool | None
    ece_before: float | None
    ece_after: float | None
    status: str
    drifted: bool
    error: str | None

    @property
    def decision(self) -> str:
        """``drift``, ``ok``, or the status of a result the detector could not make."""
        return _decision(self.status, self.drifted)

    @property
    def lower_is_better(self) -> bool:
        """An error metric (MAE, RMSE): its threshold is a ceiling, not a floor."""
        if self.metric in ERROR_METRICS:
            return True
        if self.threshold is not None and self.reference_value is not None:
            return self.threshold > self.reference_value
        return False

    @property
    def band_sigmas(self) -> float | None:
        """How many standard errors the band spans on each side, from the band itself; the
        wider side, since a band is cut at the metric's bounds (0 and 1). ``None`` when it
        cannot be told."""
        value, lower, upper, se = self.estimate, self.lower, self.upper, self.standard_error
        if value is None or lower is None or upper is None or se is None or se <= 0:
            return None
        return max(upper - value, value - lower) / se

    @property
    def relative_change(self) -> float | None:
        """The estimate against the reference's value, relative."""
        if self.estimate is None or not self.reference_value:
            return None
        return (self.estimate - self.reference_value) / abs(self.reference_value)

    @property
    def realized_in_band(self) -> bool | None:
        """Whether the realized value fell inside the band (``None``: nothing to compare)."""
        if self.realized is None or self.lower is None or self.upper is None:
            return None
        return self.lower <= self.realized <= self.upper


def estimate(row: Mapping[str, Any]) -> Estimate:
    """An estimated performance result (``kind: performance`` of ``cbpe``, ``dle``)."""
    details = mapping(row.get("details"))
    calibrated = details.get("calibrated")
    detector = text(row.get("detector")) or "?"
    return Estimate(
        detector=detector,
        metric=text(row.get("feature")) or text(details.get("metric")) or detector,
        estimate=finite(row.get("statistic")),
        lower=finite(details.get("lower")),
        upper=finite(details.get("upper")),
        standard_error=finite(details.get("standard_error")),
        threshold=finite(row.get("threshold")),
        reference_value=finite(details.get("reference_value")),
        realized=finite(details.get("realized")),
        realized_rows=count(details.get("realized_rows")),
        realized_error=text(details.get("realized_error")),
        rows=count(details.get("rows")),
        calibrated=calibrated if isinstance(calibrated, bool) else None,
        ece_before=finite(details.get("ece_before")),
        ece_after=finite(details.get("ece_after")),
        status=text(row.get("status")) or "ok",
        drifted=row.get("drifted") is True,
        error=text(row.get("error")),
    )


@dataclass(frozen=True)
class RankedFeature:
    """One feature of a multivariate detector's ranking: its share of the importance and how
    far the AUC fell when its values were shuffled."""

    feature: str
    importance: float
    auc_drop: float | None


@dataclass(frozen=True)
class Multivariate:
    """A result about all features together (``kind: multivariate``): the domain
    classifier's AUC against its threshold, where that threshold came from, and the ranking
    of the features that carry the change."""

    detector: str
    statistic: float | None
    threshold: float | None
    threshold_from: str | None
    no_drift_mean: float | None
    no_drift_std: float | None
    no_drift_splits: list[float]
    folds: list[float]
    sample_rows: int | None
    current_rows: int | None
    reference_rows: int | None
    ranking: list[RankedFeature]
    status: str
    drifted: bool
    error: str | None

    @property
    def decision(self) -> str:
        """``drift``, ``ok``, or the status of a result the detector could not make."""
        return _decision(self.status, self.drifted)

    @property
    def learned(self) -> bool:
        """Whether the threshold was learned from the reference rather than configured."""
        return self.threshold_from not in (None, "configured")


def multivariate(row: Mapping[str, Any]) -> Multivariate:
    """A ``kind: multivariate`` result."""
    details = mapping(row.get("details"))
    null = mapping(details.get("no_drift_auc"))
    ranking = []
    for entry in mappings(details.get("ranking")):
        name, importance = text(entry.get("feature")), finite(entry.get("importance"))
        if name is not None and importance is not None:
            ranking.append(RankedFeature(name, importance, finite(entry.get("auc_drop"))))
    return Multivariate(
        detector=text(row.get("detector")) or "?",
        statistic=finite(row.get("statistic")),
        threshold=finite(row.get("threshold")),
        threshold_from=text(details.get("threshold_from")),
        no_drift_mean=finite(null.get("mean")),
        no_drift_std=finite(null.get("std_at_sample_size")),
        no_drift_splits=_finite_list(null.get("splits")),
        folds=_finite_list(details.get("auc_folds")),
        sample_rows=count(details.get("sample_rows")),
        current_rows=count(details.get("current_rows")),
        reference_rows=count(details.get("reference_rows")),
        ranking=ranking,
        status=text(row.get("status")) or "ok",
        drifted=row.get("drifted") is True,
        error=text(row.get("error")),
    )


def _finite_list(value: Any) -> list[float]:
    if not isinstance(value, list):
        return []
    return [v for v in (finite(item) for item in value) if v is not None]


# -- data quality ------------------------------------------------------------------------------
CHECK_NAMES = {
    "missing": "missing",
    "infinite": "infinite",
    "out_of_range": "out of range",
    "unseen": "unseen",
}
"""How the report names each data-quality check."""


@dataclass(frozen=True)
class QualityCheck:
    """One check of one feature: the share of bad values in the reference and the window."""

    name: str
    reference: float | None
    current: float | None
    increase: float | None

    @property
    def label(self) -> str:
        """The check as words (``out of range``)."""
        return CHECK_NAMES.get(self.name, self.name.replace("_", " "))


@dataclass(frozen=True)
class Quality:
    """A data-quality result on one feature: its checks, the worst first."""

    checks: list[QualityCheck]

    @property
    def worst(self) -> QualityCheck:
        """The check whose share grew the most (the one the decision was made on)."""
        return self.checks[0]


def quality(details: Mapping[str, Any]) -> Quality | None:
    """The checks of a data-quality result (``details.checks`` and ``details.worst``), the
    worst first; ``None`` when the details hold no checks."""
    raw = mapping(details.get("checks"))
    checks = []
    for name, values in raw.items():
        if not isinstance(name, str) or not isinstance(values, Mapping):
            continue
        checks.append(
            QualityCheck(
                name,
                number(values.get("reference")),
                number(values.get("current")),
                number(values.get("increase")),
            )
        )
    if not checks:
        return None
    worst = text(details.get("worst"))
    # the detector's own worst first, then the largest increases
    checks.sort(
        key=lambda c: (c.name != worst, -c.increase if c.increase is not None else math.inf)
    )
    return Quality(checks)
