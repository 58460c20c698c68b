"""Serving predictions: score rows a model's schema accepts, log them, attach labels.

The API is a thin shell over :class:`PredictionService`; it parses the HTTP body, and
:mod:`driftscope.core.serving.validation` checks each row and value against the schema.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import repeat
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pydantic_core

from driftscope.core.config.yaml_file import ApiConfig
from driftscope.core.contracts.store import (
    Label,
    LabelUpdate,
    PredictionBatch,
    PredictionRecord,
    PredictionStats,
)
from driftscope.core.errors import DriftscopeError
from driftscope.core.monitoring.model_loading import LoadedModel, ModelScoringError
from driftscope.core.serving.log_writer import LoggingUnavailable, QueueFull, RecordsRefused
from driftscope.core.serving.validation import (
    MAX_PROBLEMS,
    RowValidator,
    check_class,
    check_id,
    clean_label,
    clean_probabilities,
    clean_timestamp,
)
from driftscope.core.validation import Problem, RequestValidationFailed, require_text, shown

if TYPE_CHECKING:
    from driftscope.core.serving.log_writer import PredictionLogWriter
    from driftscope.core.serving.metrics import ApiMetrics, ErrorReason

log = logging.getLogger(__name__)

# batches up to this many rows are scored on the event loop: a thread hop costs more than
# scoring them; larger batches go to a worker thread so other requests keep flowing
INLINE_ROWS = 64


class UnknownModelError(DriftscopeError, LookupError):
    """A request names a model the configuration does not have."""


class ModelNotServedError(DriftscopeError):
    """The model has no file to predict with; it only accepts logged records."""


class AlreadyLabelledError(DriftscopeError):
    """Feedback without ``overwrite`` names predictions that already have a label; nothing
    was written. ``labels`` holds each one's stored label by id."""

    def __init__(self, model: str, labels: Mapping[str, Label]) -> None:
        self.model = model
        self.labels = dict(labels)
        shown_ids = ", ".join(
            f"{shown(i)} (label {shown(str(v))})" for i, v in list(self.labels.items())[:5]
        )
        more = f" and {len(self.labels) - 5} more" if len(self.labels) > 5 else ""
        super().__init__(
            f"{len(self.labels)} prediction(s) of model {model!r} already have a label: "
            f"{shown_ids}{more}. Nothing was changed; send overwrite: true to replace them"
        )


class BatchTooLargeError(DriftscopeError):
    """A request carries more rows than ``api.max_batch_rows``."""

    def __init__(self, rows: int, limit: int) -> None:
        self.rows = rows
        self.limit = limit
        super().__init__(f"{rows} rows is more than the limit of {limit} rows per request")


def new_ids(count: int, now_ms: int | None = None) -> list[str]:
    """``count`` sortable 32-hex-digit ids: a millisecond timestamp then 80 random bits
    (the layout of a UUIDv7, without its version bits)."""
    stamp = f"{(time.time_ns() // 1_000_000 if now_ms is None else now_ms):012x}"
    rand = os.urandom(10 * count).hex()
    return [stamp + rand[i * 20 : i * 20 + 20] for i in range(count)]


class LabelWriter(Protocol):
    """Where feedback goes: ``Store.attach_labels``."""

    def __call__(
        self, model: str, labels: Sequence[tuple[str, Label]], *, overwrite: bool = False
    ) -> LabelUpdate: ...


@dataclass
class PredictionResult:
    """Predictions of one request, row by row, and the records to log for them."""

    ids: list[str]
    predictions: list[str] | list[float]
    probabilities: list[dict[str, float]] | None
    records: Sequence[PredictionRecord]

    def to_dict(self) -> dict[str, Any]:
        """The published response shape: ``{"predictions": [{"id", "prediction",
        "probabilities"}]}`` in row order."""
        probs = self.probabilities
        return {
            "predictions": [
                {"id": i, "prediction": p, "probabilities": probs[n] if probs else None}
                for n, (i, p) in enumerate(zip(self.ids, self.predictions, strict=True))
            ]
        }

    def to_json(self) -> bytes:
        return pydantic_core.to_json(self.to_dict())


@dataclass(frozen=True)
class StatsResult:
    """A model's prediction counts, rate, latency percentiles and labelled share.

    The rate is per time the model was receiving traffic, not per length of the range:
    the predictions over the clock minutes (UTC, aligned to the minute) that hold at least
    one, so 2,000 predictions in one minute of a day are 2,000 a minute, not 1.4. Latency
    percentiles are per request (see :meth:`PredictionService.predict`).
    """

    model: str
    start: datetime
    end: datetime
    stats: PredictionStats

    def to_dict(self) -> dict[str, Any]:
        s = self.stats
        active_seconds = 60.0 * s.active_minutes
        per_second = s.count / active_seconds if active_seconds else 0.0
        return {
            "model": self.model,
            "start": self.start,
            "end": self.end,
            "count": s.count,
            "labelled": s.labelled,
            "labelled_share": (s.labelled / s.count) if s.count else None,
            "active_minutes": s.active_minutes,
            "rate_per_second": per_second,
            "rate_per_minute": per_second * 60.0,
            "latency_p50_ms": s.latency_p50_ms,
            "latency_p90_ms": s.latency_p90_ms,
            "latency_p99_ms": s.latency_p99_ms,
            "first_at": s.first_at,
            "last_at": s.last_at,
        }


class PredictionService:
    """Predict, log outside predictions, attach labels and read stats for configured models.

    :param models: The loaded models by name (``Runtime.models``).
    :param api: The ``api:`` block of the config (batch limit).
    :param logger: Where records go; ``None`` logs nothing (a benchmark baseline).
    :param metrics: Counters and latency histogram to update; optional.
    :param clock: Seconds on a monotonic clock, read to measure each request's latency
        (``time.perf_counter``; tests pass their own).
    """

    def __init__(
        self,
        models: Mapping[str, LoadedModel],
        api: ApiConfig,
        logger: PredictionLogWriter | None,
        metrics: ApiMetrics | None = None,
        *,
        store_stats: Callable[[str, datetime, datetime], PredictionStats] | None = None,
        attach_labels: LabelWriter | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.models = models
        self._clock = clock
        self.api = api
        self.logger = logger
        self.metrics = metrics
        self._store_stats = store_stats
        self._attach_labels = attach_labels
        self._validators = {name: RowValidator(m.schema) for name, m in models.items()}

    # -- lookups -------------------------------------------------------------------------------
    def model(self, name: str) -> LoadedModel:
        """The loaded model called ``name`` (the request path's ``model``), or
        :class:`UnknownModelError`; a name no store could hold is a
        :class:`RequestValidationFailed`."""
        model = self.models.get(name)
        if model is None:
            require_text(name, ("path", "model"))
            raise UnknownModelError(
                f"unknown model {shown(name)}; models: {', '.join(sorted(self.models)) or '(none)'}"
            )
        return model

    def _check_size(self, rows: int) -> None:
        if rows > self.api.max_batch_rows:
            raise BatchTooLargeError(rows, self.api.max_batch_rows)

    # -- predict -------------------------------------------------------------------------------
    async def predict(
        self,
        model_name: str,
        read_rows: Callable[[], tuple[list[Any], tuple[str | int, ...]]],
        body: bytes | None = None,
    ) -> PredictionResult:
        """Validate the rows ``read_rows`` gives, score them, and hand their records to the
        logger.

        ``body``, the request's JSON, is first decoded straight into the model's input
        when the model is all-numeric and the body well-formed
        (:meth:`RowValidator.decode_numeric`); ``read_rows`` runs only when that fails.

        ``read_rows`` returns the rows and where they are in the request (``("body",
        "rows")`` for a batch; ``("body", "features")`` for one row, whose problems then
        carry no row index). It is called once the model is known to serve predictions, so
        a request to an unknown or records-only model fails as such whatever its body; a
        :class:`RequestValidationFailed` it raises counts as a validation error.

        The request's latency (validating and scoring) is recorded once, on its first
        record; the others carry none, so that the store's latency percentiles count each
        request once, as the ``driftscope_prediction_latency_seconds`` histogram does.
        """
        started = self._clock()
        model = self.model(model_name)
        if model.estimator is None:
            raise ModelNotServedError(
                f"model {model.name!r} has no model file: it only accepts records "
                f"(POST /v1/models/{model.name}/records)"
            )
        try:
            decoded = None if body is None else self._validators[model.name].decode_numeric(body)
            if decoded is None:
                rows, loc = read_rows()
                given: list[Any] | np.ndarray = rows
            else:
                given, loc = decoded
            self._check_size(len(given))
            if len(given) <= INLINE_ROWS:
                result = self._score(model, given, loc, started)
            else:
                result = await asyncio.to_thread(self._score, model, given, loc, started)
        except (RequestValidationFailed, BatchTooLargeError) as exc:
            if self.metrics is not None:
                self.metrics.prediction_error(model.name, _error_reason(exc))
            raise
        if self.logger is not None:
            await self._submit(model.name, result.records, loc)
        if self.metrics is not None:
            self.metrics.predicted(model.name, len(result.ids), self._clock() - started)
        return result

    async def _submit(
        self, model: str, records: Sequence[PredictionRecord], loc: tuple[str | int, ...]
    ) -> None:
        """Hand records to the logger. Records the store refused (``durable`` and ``sync``
        modes; the rest of the request is stored) become a 422 naming each row."""
        assert self.logger is not None
        try:
            await self.logger.submit(records)
        except LoggingUnavailable as exc:
            if self.metrics is not None:
                reason: ErrorReason = "queue_full" if isinstance(exc, QueueFull) else "log_failed"
                self.metrics.prediction_error(model, reason)
            raise
        except RecordsRefused as exc:
            if self.metrics is not None:
                self.metrics.prediction_error(model, "store_refused")
            single = loc[-1] == "features"
            kept = " (kept as a dead letter)" if exc.kept else ""
            problems = [
                Problem(
                    loc if single else (*loc, index),
                    f"the store cannot hold this row: {exc.refused[record.id]}{kept}",
                    "store_refused",
                    row=index,
                )
                for index, record in enumerate(records)
                if record.id in exc.refused
            ]
            raise RequestValidationFailed(problems[:MAX_PROBLEMS], len(problems)) from None

    def _score(
        self,
        model: LoadedModel,
        given: list[Any] | np.ndarray,
        loc: tuple[str | int, ...],
        started: float,
    ) -> PredictionResult:
        """Score rows (``given``: request rows, or the model input already decoded and
        checked) and make their records."""
        validator = self._validators[model.name]
        X = given if isinstance(given, np.ndarray) else validator.matrix(given, loc)
        rows = len(X)
        try:
            raw_predictions, proba = model.predict(X)
        except ModelScoringError as exc:
            raise _model_failed(model, exc, loc) from None
        now = datetime.now(UTC)
        latency_ms = (self._clock() - started) * 1000.0
        ids = new_ids(rows, int(now.timestamp() * 1000))
        predictions: list[Any] = raw_predictions.tolist()
        probabilities = None
        classes = model.schema.classes
        if proba is not None and classes:
            # as zip() pairs them: a model answering more columns than the schema has
            # classes (or fewer) gives the common ones
            common = min(len(classes), proba.shape[1])
            classes, proba = classes[:common], proba[:, :common]
            probabilities = list(map(dict, map(zip, repeat(classes), proba.tolist())))
        if validator.all_numeric:
            features = X
        else:  # categorical features: never decoded ahead, so ``given`` holds the rows
            values = [list(validator.features(row).values()) for row in given]
            features = np.empty((rows, len(validator.names)), dtype=object)
            features[:] = values
        # the request's latency, once: /stats percentiles are per request, like the
        # Prometheus histogram, not weighted by the rows of a batch
        latencies: list[float | None] = [None] * rows
        latencies[0] = latency_ms
        # held by column: at 1,000 rows a request, a record object per row cost as much as
        # scoring them, and the store writes columns
        records = PredictionBatch(
            model.name,
            ids,
            [now] * rows,
            validator.names,
            features,
            predictions,
            classes=classes if probabilities is not None else None,
            probabilities=proba if probabilities is not None else None,
            latencies=latencies,
        )
        return PredictionResult(ids, predictions, probabilities, records)

    # -- records made elsewhere ----------------------------------------------------------------
    async def log_records(self, model_name: str, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """Log predictions made outside driftscope; return their ids in row order.

        Each row: ``features`` (null = missing), ``prediction``, optional ``probabilities``
        (by class), ``label``, ``timestamp`` (default now; naive means UTC), ``id`` and
        ``latency_ms``.
        """
        model = self.model(model_name)
        self._check_size(len(rows))
        validator = self._validators[model.name]
        validator.check(
            [r.get("features") for r in rows],
            ("body", "rows"),
            allow_null=True,
            inner=("features",),
        )
        problems: list[Problem] = []
        schema = model.schema
        classes = set(schema.classes or ())
        now = datetime.now(UTC)
        generated = iter(new_ids(len(rows)))
        records: list[PredictionRecord] = []
        for index, row in enumerate(rows):
            where = ("body", "rows", index)
            record_id = row.get("id")
            if record_id is not None:
                check_id(record_id, (*where, "id"), problems)
            prediction = clean_label(
                schema, row.get("prediction"), (*where, "prediction"), problems
            )
            label = row.get("label")
            if label is not None:
                label = check_class(schema, label, (*where, "label"), problems)
            probabilities = row.get("probabilities")
            if probabilities is not None:
                probabilities = clean_probabilities(
                    schema, classes, probabilities, (*where, "probabilities"), problems
                )
            timestamp = clean_timestamp(row.get("timestamp"), now, (*where, "timestamp"), problems)
            records.append(
                PredictionRecord(
                    id=record_id or next(generated),
                    model=model.name,
                    timestamp=timestamp,
                    features=validator.features(row["features"]),
                    prediction=prediction,
                    probabilities=probabilities,
                    latency_ms=row.get("latency_ms"),
                    label=label,
                )
            )
        if problems:
            raise RequestValidationFailed(problems[:MAX_PROBLEMS], len(problems))
        if self.logger is not None:
            await self._submit(model.name, records, ("body", "rows"))
        if self.metrics is not None:
            self.metrics.recorded(model.name, len(records))
        return [r.id for r in records]

    # -- labels --------------------------------------------------------------------------------
    async def feedback(
        self, model_name: str, labels: Sequence[tuple[str, Any]], *, overwrite: bool = False
    ) -> LabelUpdate:
        """Attach ground-truth labels by prediction id; unknown ids come back.

        A classifier's label must be one of its classes. Without ``overwrite`` a prediction
        is labelled once: an id given twice is a 422, and a prediction that already has a
        label is an :class:`AlreadyLabelledError` (409) with nothing written. Predictions
        still waiting in the log queue are flushed first, so a label sent right after its
        prediction finds it.
        """
        model = self.model(model_name)
        self._check_size(len(labels))
        problems: list[Problem] = []
        cleaned: list[tuple[str, Label]] = []
        first_at: dict[str, int] = {}
        for index, (pid, value) in enumerate(labels):
            where = ("body", "labels", index)
            check_id(pid, (*where, "id"), problems)
            label = check_class(model.schema, value, (*where, "label"), problems)
            cleaned.append((pid, label))
            if not overwrite and isinstance(pid, str):
                first = first_at.setdefault(pid, index)
                if first != index:
                    problems.append(
                        Problem(
                            (*where, "id"),
                            f"prediction {shown(pid)} is labelled twice in this request (first "
                            f"at labels[{first}]): send one label, or overwrite: true to keep "
                            "the last",
                            "duplicate_id",
                            field="id",
                        )
                    )
        if problems:
            raise RequestValidationFailed(problems[:MAX_PROBLEMS], len(problems))
        if self.logger is not None:
            await self.logger.flush()
        if self._attach_labels is None:
            raise DriftscopeError("this service has no store to attach labels to")
        attach = partial(self._attach_labels, overwrite=overwrite)
        update = await asyncio.to_thread(attach, model.name, cleaned)
        if update.already_labelled:
            raise AlreadyLabelledError(model.name, update.already_labelled)
        if self.metrics is not None:
            self.metrics.labelled(model.name, update.updated, len(update.unknown_ids))
        return update

    # -- stats ---------------------------------------------------------------------------------
    async def stats(self, model_name: str, last: timedelta) -> StatsResult:
        """Prediction count, rate, latency percentiles and labelled share over ``last``."""
        model = self.model(model_name)
        if self._store_stats is None:
            raise DriftscopeError("this service has no store to read stats from")
        if self.logger is not None:
            await self.logger.flush()
        end = datetime.now(UTC)
        start = end - last
        stats = await asyncio.to_thread(self._store_stats, model.name, start, end)
        return StatsResult(model.name, start, end, stats)


class _ModelFailed(RequestValidationFailed):
    """The model raised on a request's row, or answered it with a non-finite number."""


def _model_failed(
    model: LoadedModel, exc: ModelScoringError, loc: tuple[str | int, ...]
) -> _ModelFailed:
    """A 422 naming the first row the model cannot score; the service goes on serving."""
    log.warning("model %r cannot score a request's rows: %s", model.name, exc)
    single = loc[-1] == "features"
    where = loc if single or exc.row is None else (*loc, exc.row)
    row = None if single else exc.row
    rows = "this row" if single or exc.row is not None else "these rows"
    message = f"the model cannot score {rows}: {exc.reason}"
    return _ModelFailed([Problem(where, message, "model_error", row=row)])


def _error_reason(exc: Exception) -> ErrorReason:
    if isinstance(exc, BatchTooLargeError):
        return "too_large"
    return "model_error" if isinstance(exc, _ModelFailed) else "validation"
