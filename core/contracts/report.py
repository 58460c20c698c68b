"""A monitor run's report: what each detector found on each feature of one window."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from driftscope.core.contracts.types import Compared, DriftsWhen, ResultStatus

ResultKind = Literal["feature", "prediction", "performance"]
#: ``waiting_for_predictions``: the model has never had a prediction, so the window is empty
#: by no fault (a new deployment); ``insufficient_data``: fewer rows than ``min_samples``
#: after traffic was seen, which the alert rules announce as ``no_data``.
ReportStatus = Literal["ok", "insufficient_data", "waiting_for_predictions", "failed"]


@dataclass
class WindowInfo:
    """The time range a report covers and how many rows it saw."""

    start: datetime
    end: datetime
    rows: int
    labelled_rows: int
    sampled_rows: int | None = None  # set when the window was sampled in the store


@dataclass
class ResultRow:
    """One detector's finding on one feature, the prediction, or the model's metric.

    ``compared`` says which number was held against ``threshold`` and ``value`` is that
    number: the p-value (after the monitor's correction, also in ``p_value_adjusted``) for
    KS and chi-square, the statistic for PSI and a model's metric. ``drifts_when`` says on
    which side of the threshold drift lies, and ``statistic_floor`` is an effect size the
    statistic must also reach (KS's ``min_statistic``). The engine sets them from the
    detector's declarations; reports saved before they existed read them as ``None``
    (:mod:`driftscope.core.contracts.comparison` renders both).
    """

    kind: ResultKind
    feature: str | None
    detector: str
    statistic: float | None
    p_value: float | None
    threshold: float
    drifted: bool
    status: ResultStatus = "ok"
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    compared: Compared | None = None
    value: float | None = None
    drifts_when: DriftsWhen | None = None
    p_value_adjusted: float | None = None
    statistic_floor: float | None = None


@dataclass
class Report:
    """Everything one monitor run found. ``drifted`` is true when any result drifted."""

    id: str
    monitor: str
    model: str
    created_at: datetime
    window: WindowInfo
    results: list[ResultRow]
    status: ReportStatus = "ok"
    duration_ms: float | None = None

    @property
    def drifted(self) -> bool:
        return any(r.drifted for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict in the shape the API publishes."""
        data = asdict(self)
        data["drifted"] = self.drifted
        data["created_at"] = self.created_at.isoformat()
        data["window"]["start"] = self.window.start.isoformat()
        data["window"]["end"] = self.window.end.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        window = dict(data["window"])
        window["start"] = _parse_time(window["start"])
        window["end"] = _parse_time(window["end"])
        return cls(
            id=data["id"],
            monitor=data["monitor"],
            model=data["model"],
            created_at=_parse_time(data["created_at"]),
            window=WindowInfo(**window),
            results=[ResultRow(**r) for r in data["results"]],
            status=data.get("status", "ok"),
            duration_ms=data.get("duration_ms"),
        )


def _parse_time(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
