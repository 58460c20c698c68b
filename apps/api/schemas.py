"""Request and response bodies of the HTTP API (pydantic), and converters from core objects.

These shapes are published: the dashboard and outside clients depend on them.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from driftscope.core.config.yaml_file import MonitorConfig
from driftscope.core.contracts.comparison import comparison_text
from driftscope.core.contracts.report import Report
from driftscope.core.contracts.store import AlertEvent, AlertState, Silence
from driftscope.core.monitoring.model_loading import LoadedModel
from driftscope.core.validation import (
    MAX_FEATURE_NAME_CHARS,
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_REASON_CHARS,
)

FeatureValue = float | str
LabelValue = str | float | int | bool


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- predict -----------------------------------------------------------------------------------
class PredictRequest(_Body):
    """One row (``features``) or a batch (``rows``), each a mapping of feature to value.

    Numeric features take finite numbers, categorical features strings; every feature of
    the model is required and no other.
    """

    features: dict[str, FeatureValue] | None = Field(
        default=None, description="One row.", examples=[{"mean radius": 14.1}]
    )
    rows: list[dict[str, FeatureValue]] | None = Field(
        default=None, description="A batch of rows (up to api.max_batch_rows).", min_length=1
    )


class Prediction(BaseModel):
    """The prediction of one row."""

    id: str = Field(description="Prediction id: use it to send the label later.")
    prediction: str | float = Field(description="Class label (text) or regression value.")
    probabilities: dict[str, float] | None = Field(
        description="Probability of each class, when the model gives them."
    )


class PredictResponse(BaseModel):
    """Predictions in row order."""

    predictions: list[Prediction]


# -- records -----------------------------------------------------------------------------------
class RecordIn(_Body):
    """A prediction made outside driftscope."""

    # Any, so core's row validator sees JSON booleans and strings as sent (pydantic's lax
    # mode would turn true into 1.0); the published schema still says what is accepted
    features: Annotated[
        dict[str, Any],
        WithJsonSchema(
            {
                "type": "object",
                "additionalProperties": {"type": ["number", "string", "null"]},
                "description": "Feature values; null = missing.",
            }
        ),
    ]
    prediction: LabelValue
    # Any for the same reason, and because pydantic would report a key it cannot encode
    # (a lone surrogate) as U+FFFD, so the 422 would not name the key the client sent
    probabilities: Annotated[
        dict[str, Any] | None,
        WithJsonSchema(
            {
                "anyOf": [
                    {
                        "type": "object",
                        "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1},
                    },
                    {"type": "null"},
                ],
                "description": "Probability of each of the model's classes.",
            }
        ),
    ] = None
    label: LabelValue | None = None
    timestamp: datetime | None = Field(
        default=None,
        description="Default: now. Naive = UTC. From 0001-01-01 to 9999-12-31T23:59:59.999999 UTC.",
    )
    id: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ID_CHARS,
        description="Default: a new sortable id.",
    )
    latency_ms: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        description="The latency of the request that made this prediction. /stats counts "
        "every record that carries one as a request: for a batch scored in one call, give it "
        "on one row only.",
    )


class RecordsRequest(_Body):
    """A batch of predictions made elsewhere."""

    rows: list[RecordIn] = Field(min_length=1)


class RecordsResponse(BaseModel):
    """The ids of the logged records, in row order."""

    accepted: int
    ids: list[str]


# -- feedback ----------------------------------------------------------------------------------
class LabelIn(_Body):
    """The ground truth of one prediction."""

    id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    label: LabelValue


class FeedbackRequest(_Body):
    """Labels by prediction id."""

    labels: list[LabelIn] = Field(min_length=1)
    overwrite: bool = Field(
        default=False,
        description="Replace labels the predictions already have (the last label of an id "
        "wins). Without it a prediction is labelled once: a labelled one makes the request a "
        "409 and nothing is written.",
    )


class FeedbackResponse(BaseModel):
    """How many predictions got a label (replaced ones included) and which ids are unknown."""

    updated: int
    unknown_ids: list[str]


class StoredLabel(BaseModel):
    """A prediction and the label it already has."""

    id: str
    label: LabelValue


class AlreadyLabelledResponse(BaseModel):
    """Feedback without ``overwrite`` for predictions that already have a label: nothing
    was written."""

    detail: str
    already_labelled: list[StoredLabel]


# -- models ------------------------------------------------------------------------------------
class FeatureOut(BaseModel):
    name: str
    kind: Literal["numeric", "categorical"]


class ModelOut(BaseModel):
    """A configured model and its schema."""

    name: str
    task: Literal["classification", "regression"]
    features: list[FeatureOut]
    classes: list[str] | None
    serves_predictions: bool = Field(description="False for models that only accept records.")
    has_probabilities: bool
    reference_rows: int

    @classmethod
    def of(cls, model: LoadedModel) -> ModelOut:
        schema = model.schema
        return cls(
            name=model.name,
            task=schema.task,
            features=[FeatureOut(name=f.name, kind=f.kind) for f in schema.features],
            classes=list(schema.classes) if schema.classes else None,
            serves_predictions=model.estimator is not None,
            has_probabilities=model.has_proba,
            reference_rows=model.reference.rows,
        )


class ModelsResponse(BaseModel):
    models: list[ModelOut]


class StatsResponse(BaseModel):
    """A model's predictions over a window ending now.

    Rates are per time the model was receiving traffic: ``count`` over the
    ``active_minutes`` (UTC clock minutes of the window holding at least one prediction),
    not over the whole window. Latency percentiles are per request (a batch counts once),
    as the ``driftscope_prediction_latency_seconds`` histogram counts them.
    """

    model: str
    start: datetime
    end: datetime
    count: int
    labelled: int
    labelled_share: float | None
    active_minutes: int = Field(
        description="Clock minutes of the window with at least one prediction."
    )
    rate_per_second: float = Field(description="count / (60 × active_minutes); 0 without any.")
    rate_per_minute: float = Field(description="count / active_minutes; 0 without any.")
    latency_p50_ms: float | None = Field(description="Per request, over the window.")
    latency_p90_ms: float | None = Field(description="Per request, over the window.")
    latency_p99_ms: float | None = Field(description="Per request, over the window.")
    first_at: datetime | None
    last_at: datetime | None


# -- reports -----------------------------------------------------------------------------------
class WindowOut(BaseModel):
    start: datetime
    end: datetime
    rows: int
    labelled_rows: int
    sampled_rows: int | None = None


Compared = Literal["p_value", "statistic", "rows"]
DriftsWhen = Literal["below", "at_or_above", "above"]


class _Compared(BaseModel):
    """What a decision compared: ``value`` (the number named by ``compared``: the p-value
    after the monitor's correction, the statistic, or a window's rows) against
    ``threshold``, drift lying ``drifts_when`` of it; ``statistic_floor`` is an effect size
    the statistic must also reach (KS's ``min_statistic``). ``None`` for data recorded before
    these fields existed."""

    statistic: float | None
    threshold: float | None
    compared: Compared | None = None
    value: float | None = None
    drifts_when: DriftsWhen | None = None
    p_value: float | None = None
    p_value_adjusted: float | None = None
    statistic_floor: float | None = None


class _ComparedWithText(_Compared):
    comparison: str = Field(
        description="The comparison in words, each number beside its own threshold: "
        "'p-value 0.0123 < threshold 0.05 · statistic 0.409 ≥ floor 0.1'."
    )


class ResultOut(_Compared):
    """One detector's finding; ``details`` holds what a chart needs."""

    kind: Literal["feature", "prediction", "performance", "multivariate"]
    feature: str | None
    detector: str
    threshold: float
    drifted: bool
    status: Literal["ok", "failed", "insufficient_data"]
    error: str | None
    details: dict[str, Any]


class SideSummaryOut(BaseModel):
    """One column on one side of a report: row counts (missing, infinite, outside the
    reference's range, of categories the reference never had) and its moments or distinct
    categories."""

    rows: int
    missing: int
    infinite: int
    out_of_range: int
    unseen: int
    mean: float | None
    std: float | None
    min: float | None
    max: float | None
    distinct: int | None


class HistogramOut(BaseModel):
    """Both sides counted into bins fixed on the reference: ``edges`` (numeric; counts are
    [below, each bin, above]) or ``categories`` (categorical; the top ones, ``(other)``,
    ``(unseen)``)."""

    edges: list[float] | None
    reference: list[int]
    current: list[int]
    categories: list[str] | None


class FeatureSummaryOut(BaseModel):
    """One monitored column in the reference and in the window. ``histogram`` is null in
    report lists read with ``details=false``."""

    name: str
    kind: Literal["numeric", "categorical"]
    result_kind: Literal["feature", "prediction", "performance"]
    reference: SideSummaryOut
    current: SideSummaryOut
    histogram: HistogramOut | None
    sampled: bool


class ReportOut(BaseModel):
    """A monitor run's report, in the published shape. ``status`` is
    ``waiting_for_predictions`` while the model has never had a prediction (no alert),
    ``insufficient_data`` when the window holds fewer than ``min_samples`` rows after
    traffic was seen (the monitor's ``no_data`` alert)."""

    id: str
    monitor: str
    model: str
    created_at: datetime
    window: WindowOut
    drifted: bool
    status: Literal["ok", "insufficient_data", "waiting_for_predictions", "failed"]
    duration_ms: float | None
    backfilled: bool = Field(
        default=False,
        description="Made afterwards over a past window (backfill); its window ends at the "
        "time asked for, created_at is when it was made.",
    )
    results: list[ResultOut]
    features: list[FeatureSummaryOut] = []


class ReportSummary(BaseModel):
    id: str
    created_at: datetime
    drifted: bool
    status: str
    rows: int
    backfilled: bool = False


class ReportsPage(BaseModel):
    """Reports newest first; pass ``next_before`` as ``before`` for the next page."""

    reports: list[ReportOut]
    next_before: datetime | None


class MonitorOut(BaseModel):
    """A configured monitor and its latest report."""

    name: str
    model: str
    every_seconds: float | None
    cron: str | None
    window_seconds: float
    min_samples: int
    detectors: list[str]
    features: list[str] | None
    notify: list[str]
    latest_report: ReportSummary | None

    @classmethod
    def of(cls, monitor: MonitorConfig, latest: Report | None) -> MonitorOut:
        return cls(
            name=monitor.name,
            model=monitor.model,
            every_seconds=monitor.every.total_seconds() if monitor.every else None,
            cron=monitor.cron,
            window_seconds=monitor.window.last.total_seconds(),
            min_samples=monitor.window.min_samples,
            detectors=[d.type for d in monitor.detector_settings],
            features=monitor.features,
            notify=monitor.notify,
            latest_report=None
            if latest is None
            else ReportSummary(
                id=latest.id,
                created_at=latest.created_at,
                drifted=latest.drifted,
                status=latest.status,
                rows=latest.window.rows,
                backfilled=latest.backfilled,
            ),
        )


class MonitorsResponse(BaseModel):
    monitors: list[MonitorOut]


# -- alerts ------------------------------------------------------------------------------------
AlertStateName = Literal["ok", "pending", "firing", "resolved", "no_data"]


class AlertOut(_ComparedWithText):
    """The current alert state of one key (monitor, detector, feature), with the comparison
    of the result that last moved it."""

    monitor: str
    detector: str
    feature: str
    state: AlertStateName
    consecutive_drifted: int
    consecutive_clean: int
    changed_at: datetime | None
    last_notified_at: datetime | None
    report_id: str | None

    @classmethod
    def of(cls, state: AlertState) -> AlertOut:
        values = {k: getattr(state, k) for k in cls.model_fields if k != "comparison"}
        return cls(**values, comparison=comparison_text(state))


class AlertsResponse(BaseModel):
    alerts: list[AlertOut]


class AlertEventOut(_ComparedWithText):
    """One recorded change of an alert key's state, with the comparison its key held."""

    id: int | None
    monitor: str
    detector: str
    feature: str
    from_state: AlertStateName
    to_state: AlertStateName
    at: datetime
    report_id: str | None
    silenced: bool

    @classmethod
    def of(cls, event: AlertEvent) -> AlertEventOut:
        values = {k: getattr(event, k) for k in cls.model_fields if k != "comparison"}
        return cls(**values, comparison=comparison_text(event))


class AlertEventsResponse(BaseModel):
    events: list[AlertEventOut]


class SilenceIn(BaseModel):
    """Mute a monitor's alert changes (optionally one feature or detector) for a while."""

    model_config = ConfigDict(extra="forbid")

    monitor: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    duration: str = Field(
        min_length=1,
        max_length=32,
        description="How long: 30m, 2h, 1d; at most 3650d.",
        examples=["2h"],
    )
    reason: str = Field(min_length=1, max_length=MAX_REASON_CHARS)
    feature: str | None = Field(default=None, max_length=MAX_FEATURE_NAME_CHARS)
    detector: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    created_by: str | None = Field(default=None, max_length=MAX_NAME_CHARS)


class SilenceOut(BaseModel):
    """A saved silence."""

    id: str
    monitor: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    feature: str | None
    detector: str | None
    created_by: str | None

    @classmethod
    def of(cls, silence: Silence) -> SilenceOut:
        return cls(**{k: getattr(silence, k) for k in cls.model_fields})


class SilencesResponse(BaseModel):
    silences: list[SilenceOut]


# -- health ------------------------------------------------------------------------------------
class Check(BaseModel):
    ok: bool
    detail: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


ReadyStatus = Literal["ok", "degraded", "down"]


class ReadyResponse(BaseModel):
    """Whether this process can serve: ``ok``, ``degraded`` (serving, with warnings) or
    ``down`` (503). With a valid API key (or when the API has none), also each check and
    the problems that do not stop serving; without one, only the status word."""

    status: ReadyStatus
    ready: bool | None = None
    checks: dict[str, Check] | None = None
    warnings: list[str] | None = None


class HealthResponse(BaseModel):
    status: Literal["ok"]


class ErrorResponse(BaseModel):
    """An error. ``detail`` is text, or for 422 a list of ``{loc, msg, type, row, field}``."""

    detail: str | list[dict[str, Any]]
    request_id: str | None = None


# -- converters --------------------------------------------------------------------------------
def jsonable(value: Any) -> Any:
    """Plain JSON values from report details (numpy scalars and arrays, NaN as null)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _scalars(details: dict[str, Any]) -> dict[str, Any]:
    """The plain values of a result's details (sizes, counts, the adjusted p-value),
    without the chart data (bins, ECDFs), which make up nearly all of a report's size."""
    return {k: v for k, v in details.items() if not isinstance(v, dict | list | tuple)}


def report_out(report: Report, *, details: bool = True) -> ReportOut:
    """A report in the published shape."""
    data = report.to_dict()
    for result in data["results"]:
        kept = result["details"] if details else _scalars(result["details"])
        result["details"] = jsonable(kept)
        for key in ("statistic", "p_value", "threshold"):
            value = result[key]
            if value is not None and not math.isfinite(value):
                result[key] = None if key != "threshold" else 0.0
    data["features"] = jsonable(data["features"])
    if not details:
        for summary in data["features"]:
            summary["histogram"] = None
    return ReportOut.model_validate(data)
