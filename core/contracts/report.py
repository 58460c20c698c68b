"""A monitor run's report: what each detector found on each feature of one window, and what
each monitored column looked like on both sides (its :class:`FeatureSummary`)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import datetime
from typing import Any, Literal

from driftscope.core.contracts.types import Compared, DriftsWhen, FeatureKind, ResultStatus

ResultKind = Literal["feature", "prediction", "performance", "multivariate"]
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
class SideSummary:
    """One column on one side (the reference, or the current window) of a report.

    Counts are rows: ``rows`` is every row of that side, ``missing`` (NULL, NaN, no category)
    and ``infinite`` (``±inf``) are among them, ``out_of_range`` counts finite numeric values
    below the reference's minimum or above its maximum and ``unseen`` categorical values whose
    category the reference never had (both 0 for the reference itself). ``mean``, ``std``
    (sample standard deviation, ``ddof=1``), ``min`` and ``max`` are over the finite values of
    a numeric column (``None`` when there are none, ``std`` also with one value);
    ``distinct`` is the number of distinct categories of a categorical one.
    """

    rows: int
    missing: int = 0
    infinite: int = 0
    out_of_range: int = 0
    unseen: int = 0
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    distinct: int | None = None


@dataclass
class Histogram:
    """Both sides of one column counted into the same bins, fixed on the reference.

    Numeric: ``edges`` are ``k + 1`` finite, equally spaced edges over the reference's finite
    range; ``reference`` and ``current`` hold ``k + 2`` counts: values below the first edge,
    the ``k`` bins ``[e_0, e_1), …, [e_{k-1}, e_k]`` (the last one closed, as
    ``numpy.histogram``), and values above the last edge. Categorical: ``categories`` are the
    reference's most frequent categories followed by ``"(other)"`` (the reference's other
    categories) and ``"(unseen)"`` (categories the reference never had); the counts align
    with them. Missing and infinite values are in neither.
    """

    edges: list[float] | None
    reference: list[int]
    current: list[int]
    categories: list[str] | None = None


@dataclass
class FeatureSummary:
    """What one monitored column (a feature, the prediction, a class probability) looked like
    in the reference and in the window a report checked.

    ``histogram`` is ``None`` only when a numeric reference has no finite value to fix bins
    on. ``sampled`` is true when the store returned a uniform sample of a larger window
    (``WindowInfo.sampled_rows`` of ``WindowInfo.rows``): ``current`` then describes that
    sample.
    """

    name: str
    kind: FeatureKind
    result_kind: ResultKind
    reference: SideSummary
    current: SideSummary
    histogram: Histogram | None
    sampled: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSummary:
        """A summary from its ``asdict`` (JSON) form."""
        histogram = data.get("histogram")
        return cls(
            name=data["name"],
            kind=data["kind"],
            result_kind=data["result_kind"],
            reference=SideSummary(**data["reference"]),
            current=SideSummary(**data["current"]),
            histogram=None if histogram is None else Histogram(**histogram),
            sampled=bool(data.get("sampled", False)),
        )


@dataclass
class Report:
    """Everything one monitor run found. ``drifted`` is true when any result drifted.

    ``features`` holds one :class:`FeatureSummary` per monitored column, computed from the
    same reference and window the detectors saw (empty when no window was read, and in
    reports saved before summaries existed). ``backfilled`` marks a report made afterwards
    over a past window (``driftscope backfill``, ``POST /v1/monitors/{name}/run?at=...``):
    its window ends at the time asked for, while ``created_at`` is when it was made.
    """

    id: str
    monitor: str
    model: str
    created_at: datetime
    window: WindowInfo
    results: list[ResultRow]
    status: ReportStatus = "ok"
    duration_ms: float | None = None
    features: list[FeatureSummary] = field(default_factory=list)
    backfilled: bool = False

    @property
    def drifted(self) -> bool:
        return any(r.drifted for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict in the shape the API publishes."""
        data: dict[str, Any] = _plain(self)
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
            # reports saved before summaries existed have no "features"
            features=[FeatureSummary.from_dict(f) for f in data.get("features") or []],
            backfilled=bool(data.get("backfilled", False)),
        )


_ATOMIC = frozenset({str, int, float, bool, type(None)})


def _plain(obj: Any) -> Any:
    """``dataclasses.asdict``'s conversion, returning the values a deep copy would return
    unchanged (str, int, float, bool, None) without copying them, as Python 3.12's asdict
    does: a report holds thousands of numbers, and copying each cost 15 ms a run."""
    if type(obj) in _ATOMIC:
        return obj
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*[_plain(v) for v in obj])
    if isinstance(obj, list | tuple):
        return type(obj)(_plain(v) for v in obj)
    if isinstance(obj, dict):
        return type(obj)((_plain(k), _plain(v)) for k, v in obj.items())
    return copy.deepcopy(obj)


def _parse_time(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
