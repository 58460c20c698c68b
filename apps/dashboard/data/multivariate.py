"""Drift of the features together (``kind: "multivariate"`` results, such as the domain
classifier's): its value over time against its threshold, and for one run where the change
is, the features ranked by how much the classifier used them.

A ``domain_classifier`` result has ``statistic`` the cross-validated ROC AUC of telling the
window's rows from the reference's (0.5: indistinguishable), ``threshold`` the AUC that
counts as drift (learned per window size from the reference's own halves unless
configured, so it can differ from run to run), and ``details`` with ``ranking`` (each
feature's ``importance``, a share summing to 1, and ``auc_drop``), ``auc_folds``,
``threshold_from`` and, when learned, ``no_drift_auc`` (``mean``, ``std_at_sample_size``,
``splits``). Lists read with ``details=false`` keep the plain values only: the ranking
needs the run read in full.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from driftscope.apps.dashboard.data.values import (
    as_float,
    as_int,
    as_mapping,
    details_of,
    is_backfilled,
    items,
    report_time,
    sorted_reports,
)

KIND = "multivariate"
CARRIES_SHARE = 0.8
"""The features named as carrying a change are the fewest that make up this share of it."""


@dataclass
class MultivariateSeries:
    """One multivariate detector's value over time, each run at its window's end, with the
    threshold of each run."""

    detector: str
    times: list[datetime] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    thresholds: list[float | None] = field(default_factory=list)
    drifted: list[bool] = field(default_factory=list)
    report_ids: list[str] = field(default_factory=list)
    backfilled: list[bool] = field(default_factory=list)
    skipped: int = 0
    last_skip_reason: str | None = None

    @property
    def threshold_varies(self) -> bool:
        """Whether the threshold differs between runs (learned per window size)."""
        known = {round(t, 9) for t in self.thresholds if t is not None}
        return len(known) > 1

    @property
    def drift_count(self) -> int:
        """How many runs found drift."""
        return sum(self.drifted)


def multivariate_series(reports: Iterable[Mapping[str, Any]]) -> list[MultivariateSeries]:
    """One series per multivariate detector, oldest run first; runs the detector could not
    score are counted in ``skipped``."""
    out: dict[str, MultivariateSeries] = {}
    for report in sorted_reports(reports):
        time = report_time(report)
        assert time is not None  # sorted_reports keeps dated reports only
        for row in items(report.get("results")):
            if row.get("kind") != KIND:
                continue
            detector = str(row.get("detector", "?"))
            entry = out.setdefault(detector, MultivariateSeries(detector))
            value = as_float(row.get("statistic"))
            status = str(row.get("status", "ok"))
            if status != "ok" or value is None:
                entry.skipped += 1
                entry.last_skip_reason = str(row.get("error") or status.replace("_", " "))
                continue
            entry.times.append(time)
            entry.values.append(value)
            entry.thresholds.append(as_float(row.get("threshold")))
            entry.drifted.append(bool(row.get("drifted")))
            entry.report_ids.append(str(report.get("id", "")))
            entry.backfilled.append(is_backfilled(report))
    return list(out.values())


@dataclass(frozen=True)
class RankedFeature:
    """One feature's part in telling the window from the reference: ``importance`` its
    share of the total (the shares sum to 1), ``auc_drop`` how far the AUC fell when its
    values were shuffled."""

    feature: str
    importance: float
    auc_drop: float | None


def ranking(details: Mapping[str, Any]) -> list[RankedFeature]:
    """The ranking in a result's details, most important first; entries without a name or
    a finite share in [0, 1] are left out."""
    entries = details.get("ranking")
    if not isinstance(entries, list):
        return []
    out: list[RankedFeature] = []
    seen: set[str] = set()
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        name, share = entry.get("feature"), as_float(entry.get("importance"))
        if not isinstance(name, str) or not name or name in seen:
            continue
        if share is None or not 0.0 <= share <= 1.0:
            continue
        seen.add(name)
        out.append(RankedFeature(name, share, as_float(entry.get("auc_drop"))))
    return sorted(out, key=lambda r: -r.importance)  # stable: ties keep the detector's order


def carriers(ranked: list[RankedFeature], share: float = CARRIES_SHARE) -> list[RankedFeature]:
    """The fewest top features whose importance adds up to ``share`` of the change (none
    when the classifier used no feature)."""
    out: list[RankedFeature] = []
    total = 0.0
    for r in ranked:
        if total >= share - 1e-9 or r.importance <= 0:
            break
        out.append(r)
        total += r.importance
    return out


@dataclass
class MultivariateFinding:
    """One multivariate result of one run, read in full.

    ``threshold_from`` says where the threshold came from (``reference splits``,
    ``configured``); ``no_drift_mean`` and ``no_drift_std`` are the AUC of the reference
    against itself and its spread at the run's sample size, when learned.
    """

    detector: str
    status: str
    statistic: float | None
    threshold: float | None
    drifted: bool
    error: str | None
    ranking: list[RankedFeature]
    folds: list[float]
    threshold_from: str | None
    no_drift_mean: float | None
    no_drift_std: float | None
    sample_rows: int | None
    current_rows: int | None


def multivariate_findings(report: Mapping[str, Any] | None) -> list[MultivariateFinding]:
    """The multivariate results of one report, in report order."""
    if report is None:
        return []
    out = []
    for row in items(report.get("results")):
        if row.get("kind") != KIND:
            continue
        details = details_of(row)
        null = as_mapping(details.get("no_drift_auc"))
        folds = details.get("auc_folds")
        source = details.get("threshold_from")
        error = row.get("error")
        out.append(
            MultivariateFinding(
                detector=str(row.get("detector", "?")),
                status=str(row.get("status", "ok")),
                statistic=as_float(row.get("statistic")),
                threshold=as_float(row.get("threshold")),
                drifted=bool(row.get("drifted")),
                error=error if isinstance(error, str) else None,
                ranking=ranking(details),
                folds=[f for f in (as_float(v) for v in folds) if f is not None]
                if isinstance(folds, list)
                else [],
                threshold_from=source if isinstance(source, str) else None,
                no_drift_mean=as_float(null.get("mean")),
                no_drift_std=as_float(null.get("std_at_sample_size")),
                sample_rows=as_int(details.get("sample_rows")),
                current_rows=as_int(details.get("current_rows")),
            )
        )
    return out
