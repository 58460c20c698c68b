"""The one builder of monitor reports for tests: alert rules, delivery, the store, the CLI,
the scheduler, retention, and (through ``Report.to_dict``) the dashboard's API answers.

``report({"age": True, "income": False})`` is a run that found ``age`` drifting and
``income`` clean: one ``psi`` result per feature, the statistic
:data:`DRIFTED_STATISTIC` above :data:`THRESHOLD` when drifting and :data:`CLEAN_STATISTIC`
below it when not. ``results=`` adds rows of any shape (build them with :func:`result`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from driftscope.core.contracts.detector import ResultStatus
from driftscope.core.contracts.report import (
    Report,
    ReportStatus,
    ResultKind,
    ResultRow,
    WindowInfo,
)
from driftscope.core.contracts.types import Compared, DriftsWhen

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
"""When a report is made unless ``at`` says otherwise."""
MONITOR = "credit"
"""The monitor a report is of unless ``monitor`` says otherwise."""

THRESHOLD = 0.25
DRIFTED_STATISTIC = 0.4
CLEAN_STATISTIC = 0.01


def result(
    feature: str | None,
    detector: str = "psi",
    statistic: float | None = None,
    *,
    p_value: float | None = None,
    threshold: float = THRESHOLD,
    drifted: bool = False,
    kind: ResultKind = "feature",
    status: ResultStatus = "ok",
    error: str | None = None,
    details: dict[str, Any] | None = None,
    compared: Compared | None = None,
    drifts_when: DriftsWhen | None = None,
    p_value_adjusted: float | None = None,
    statistic_floor: float | None = None,
) -> ResultRow:
    """One detector's finding on one feature (or the prediction, or the model's metric).

    Its comparison is filled as the engine fills it: a result with a p-value compared its
    p-value (the adjusted one when given), any other its statistic, at or above the
    threshold, unless ``compared`` and ``drifts_when`` say otherwise."""
    if compared is None:
        compared = "p_value" if p_value is not None else "statistic"
    if drifts_when is None:
        drifts_when = "below" if compared == "p_value" else "at_or_above"
    if compared == "p_value":
        value = p_value_adjusted if p_value_adjusted is not None else p_value
    else:
        value = statistic
    return ResultRow(
        kind=kind,
        feature=feature,
        detector=detector,
        statistic=statistic,
        p_value=p_value,
        threshold=threshold,
        drifted=drifted,
        status=status,
        error=error,
        details=details if details is not None else {},
        compared=compared,
        value=value,
        drifts_when=drifts_when,
        p_value_adjusted=p_value_adjusted,
        statistic_floor=statistic_floor,
    )


def report(
    drifted: Mapping[str, bool] | None = None,
    *,
    results: Iterable[ResultRow] = (),
    monitor: str = MONITOR,
    model: str = "credit-model",
    at: datetime = T0,
    id: str | None = None,
    status: ReportStatus = "ok",
    rows: int = 500,
    labelled_rows: int = 0,
    detector: str = "psi",
    row_status: Mapping[str, ResultStatus] | None = None,
    duration_ms: float | None = None,
    made_at: datetime | None = None,
    backfilled: bool = False,
) -> Report:
    """A run of ``monitor`` made at ``at`` over the hour before it (``rows`` rows).

    Its results are ``results``, then one ``detector`` result per feature of ``drifted``
    (drifting or clean, with the status ``row_status`` gives it). The id is random unless
    given. A ``backfilled`` run is made at ``made_at`` (its window still ends at ``at``).
    """
    features = [
        result(
            name,
            detector,
            DRIFTED_STATISTIC if flag else CLEAN_STATISTIC,
            drifted=flag,
            status=(row_status or {}).get(name, "ok"),
        )
        for name, flag in (drifted or {}).items()
    ]
    return Report(
        id=id if id is not None else uuid.uuid4().hex,
        monitor=monitor,
        model=model,
        created_at=made_at or at,
        window=WindowInfo(
            start=at - timedelta(hours=1), end=at, rows=rows, labelled_rows=labelled_rows
        ),
        results=[*results, *features],
        status=status,
        duration_ms=duration_ms,
        backfilled=backfilled,
    )
