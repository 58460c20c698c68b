"""The ``quality`` detector's decisions: which columns it flagged, on which check, and how far
each bad-value share (missing, infinite, out of the reference's range, unseen category) grew
over the reference's own share.

A quality result is a feature result of the detector ``quality``: ``statistic`` is the
largest increase of a share, ``threshold`` the increase allowed (``max_increase``),
``details.worst`` the check that grew most and ``details.checks`` every check's reference
share, window share and increase. Report lists read with ``details=false`` keep ``worst``
(a plain value) and drop ``checks``: the decision over time needs only the first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from driftscope.apps.dashboard.data.values import (
    as_float,
    as_mapping,
    details_of,
    is_backfilled,
    items,
    report_time,
    sorted_reports,
)

QUALITY_DETECTOR = "quality"
CHECKS = ("missing", "infinite", "out_of_range", "unseen")
"""The checks the detector knows, in the order the pages list them."""


def is_quality_result(row: Mapping[str, Any]) -> bool:
    """Whether a result is the quality detector's finding on one feature."""
    return row.get("detector") == QUALITY_DETECTOR and row.get("kind", "feature") == "feature"


@dataclass(frozen=True)
class CheckShares:
    """One check of one feature: its share of the reference's rows and of the window's, and
    the increase the detector compares with the allowed one (``None`` where not given)."""

    check: str
    reference: float | None
    current: float | None
    increase: float | None


@dataclass
class QualityDecision:
    """What the quality detector decided about one feature in one run.

    ``increase`` is the worst check's increase (the result's statistic) and ``allowed`` the
    increase it tolerates (the threshold); ``checks`` is empty for a report listed without
    details.
    """

    feature: str
    status: str
    flagged: bool
    worst: str | None
    increase: float | None
    allowed: float | None
    checks: dict[str, CheckShares] = field(default_factory=dict)
    error: str | None = None

    @property
    def exceeded(self) -> list[CheckShares]:
        """The checks whose increase is past the allowed one, largest first."""
        if self.allowed is None:
            return []
        allowed = self.allowed
        over = [c for c in self.checks.values() if (c.increase or 0.0) > allowed]
        return sorted(over, key=lambda c: -(c.increase or 0.0))


def _check_shares(details: Mapping[str, Any]) -> dict[str, CheckShares]:
    checks = as_mapping(details.get("checks"))
    out: dict[str, CheckShares] = {}
    for name in CHECKS:
        entry = checks.get(name)
        if not isinstance(entry, Mapping):
            continue
        out[name] = CheckShares(
            name,
            as_float(entry.get("reference")),
            as_float(entry.get("current")),
            as_float(entry.get("increase")),
        )
    return out


def _decision(row: Mapping[str, Any]) -> QualityDecision | None:
    feature = row.get("feature")
    if not isinstance(feature, str) or not feature:
        return None
    details = details_of(row)
    worst = details.get("worst")
    status = str(row.get("status", "ok"))
    error = row.get("error")
    return QualityDecision(
        feature=feature,
        status=status,
        flagged=status == "ok" and bool(row.get("drifted")),
        worst=worst if isinstance(worst, str) and worst in CHECKS else None,
        increase=as_float(row.get("statistic")),
        allowed=as_float(row.get("threshold")),
        checks=_check_shares(details),
        error=error if isinstance(error, str) else None,
    )


def quality_decisions(report: Mapping[str, Any] | None) -> dict[str, QualityDecision]:
    """The quality detector's decision on each feature of one report, in report order (a
    feature two quality blocks watch keeps the flagged decision)."""
    out: dict[str, QualityDecision] = {}
    if report is None:
        return out
    for row in items(report.get("results")):
        if not is_quality_result(row):
            continue
        decision = _decision(row)
        if decision is None:
            continue
        known = out.get(decision.feature)
        if known is None or (decision.flagged and not known.flagged):
            out[decision.feature] = decision
    return out


def flagged_checks(report: Mapping[str, Any] | None) -> dict[str, str]:
    """The features the quality detector flagged in one report, each with its worst check
    (``"?"`` when the report does not say which)."""
    return {name: d.worst or "?" for name, d in quality_decisions(report).items() if d.flagged}


def decision_text(decision: QualityDecision | None) -> str:
    """A decision in a table cell: ``flagged: missing +38.2 pts``, ``ok``, or why the
    detector could not decide."""
    if decision is None:
        return "-"
    if decision.status != "ok":
        return decision.status.replace("_", " ")
    if not decision.flagged:
        return "ok"
    check = (decision.worst or "?").replace("_", " ")
    if decision.increase is None:
        return f"flagged: {check}"
    return f"flagged: {check} {points(decision.increase)}"


def points(increase: float) -> str:
    """A change of a share in percentage points, signed: ``+38.2 pts``."""
    return f"{increase * 100:+.1f} pts"


@dataclass(frozen=True)
class QualityFlagPoint:
    """The quality detector's decision on one feature in one run, placed at the run's
    window end."""

    time: datetime
    feature: str
    flagged: bool
    worst: str | None
    increase: float | None
    allowed: float | None
    backfilled: bool


@dataclass
class QualityFlags:
    """The quality detector over a range of runs: every decision it made, the features it
    flagged at least once (most often first) and how many runs it judged."""

    points: list[QualityFlagPoint]
    flagged_features: list[str]
    runs: int

    @property
    def judged(self) -> bool:
        """Whether the detector ran at all in the range."""
        return self.runs > 0


def quality_flags(reports: Iterable[Mapping[str, Any]]) -> QualityFlags:
    """Every decision of the quality detector over ``reports``, oldest run first."""
    found: list[QualityFlagPoint] = []
    counts: dict[str, int] = {}
    runs = 0
    for report in sorted_reports(reports):
        decisions = quality_decisions(report)
        if not decisions:
            continue
        runs += 1
        time = report_time(report)
        assert time is not None  # sorted_reports keeps dated reports only
        for d in decisions.values():
            if d.status != "ok":
                continue
            found.append(
                QualityFlagPoint(
                    time,
                    d.feature,
                    d.flagged,
                    d.worst,
                    d.increase,
                    d.allowed,
                    is_backfilled(report),
                )
            )
            counts[d.feature] = counts.get(d.feature, 0) + int(d.flagged)
    flagged = sorted((f for f, n in counts.items() if n), key=lambda f: (-counts[f], f))
    return QualityFlags(found, flagged, runs)
