"""Serving predictions: validate request rows against a model's schema, score them, log them.

The API is a thin shell over :class:`PredictionService`. Rows are validated by hand rather
than through a per-request pydantic model because single-row predict latency matters (the
demo model scores a row in under a millisecond): a batch of well-formed numeric rows takes a
fast path (key-set comparison, a type check, one ``np.array`` call, one ``isfinite``), and
only a batch that fails it is walked field by field to name every problem with its row.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np
import pydantic_core

from driftscope.core.config.yaml_file import ApiConfig
from driftscope.core.contracts.store import (
    Label,
    LabelUpdate,
    ModelSchema,
    PredictionRecord,
    PredictionStats,
)
from driftscope.core.errors import DriftscopeError
from driftscope.core.monitoring.model_loading import LoadedModel, class_label
from driftscope.core.serving.log_writer import LoggingUnavailable, QueueFull, RecordsRefused
from driftscope.core.validation import (
    MAX_ID_CHARS,
    MAX_LABEL_CHARS,
    Problem,
    RequestValidationFailed,
    as_utc,
    require_text,
    shown,
    text_problem,
    time_problem,
)

if TYPE_CHECKING:
    from driftscope.core.serving.log_writer import PredictionLogWriter
    from driftscope.core.serving.metrics import ApiMetrics, ErrorReason

# batches up to this many rows are scored on the event loop: a thread hop costs more than
# scoring them; larger batches go to a worker thread so other requests keep flowing
INLINE_ROWS = 64
# a 10,000-row batch of bad rows would otherwise answer with 300,000 problems
MAX_PROBLEMS = 1000
_NUMBER_TYPES = frozenset({int, float})


class UnknownModelError(DriftscopeError, LookupError):
    """A request names a model the configuration does not have."""


class ModelNotServedError(DriftscopeError):
    """The model has no file to predict with; it only accepts logged records."""


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


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


class RowValidator:
    """Checks request rows against a :class:`ModelSchema` and builds the model's input.

    Numeric features take JSON numbers (not booleans, not strings) that are finite;
    categorical features take strings. With ``allow_null`` (logged records) a ``null`` value
    means missing; for predictions every value is required.
    """

    def __init__(self, schema: ModelSchema) -> None:
        self.schema = schema
        self.names: tuple[str, ...] = tuple(schema.feature_names)
        self.name_set = frozenset(self.names)
        self.kinds = {f.name: f.kind for f in schema.features}
        self.all_numeric = all(f.kind == "numeric" for f in schema.features)
        getter = itemgetter(*self.names)
        self._values: Callable[[dict[str, Any]], tuple[Any, ...]] = (
            getter if len(self.names) > 1 else (lambda row: (getter(row),))
        )

    def matrix(self, rows: Sequence[Any], loc: tuple[str | int, ...]) -> np.ndarray:
        """The model input for ``rows`` (float64, or object when a feature is categorical);
        raise :class:`RequestValidationFailed` naming every bad value."""
        if self.all_numeric:
            fast = self._fast_numeric(rows)
            if fast is not None:
                return fast
        self.check(rows, loc, allow_null=False)
        if self.all_numeric:
            return np.array([self._values(r) for r in rows], dtype=np.float64)
        return np.array([self._values(r) for r in rows], dtype=object).reshape(
            len(rows), len(self.names)
        )

    def _fast_numeric(self, rows: Sequence[Any]) -> np.ndarray | None:
        names = self.name_set
        for row in rows:
            if type(row) is not dict or row.keys() != names:
                return None
        table = list(map(self._values, rows))
        # one pass over every value: bools, strings and nulls leave the fast path
        if not _NUMBER_TYPES.issuperset(set(map(type, chain.from_iterable(table)))):
            return None
        try:
            out = np.array(table, dtype=np.float64)
        except (OverflowError, ValueError):
            return None
        if not np.isfinite(out).all():
            return None
        return out

    def check(
        self,
        rows: Sequence[Any],
        loc: tuple[str | int, ...],
        *,
        allow_null: bool,
        inner: tuple[str, ...] = (),
    ) -> None:
        """Walk every value; raise :class:`RequestValidationFailed` if any is invalid.

        ``loc`` locates the rows in the body; ``inner`` the feature mapping in each row
        (``("features",)`` for logged records).
        """
        problems: list[Problem] = []
        total = 0

        def add(problem: Problem) -> None:
            nonlocal total
            total += 1
            if len(problems) < MAX_PROBLEMS:
                problems.append(problem)

        single = loc[-1] == "features"
        for index, row in enumerate(rows):
            where = loc if single else (*loc, index, *inner)
            if not isinstance(row, dict):
                add(
                    Problem(
                        where,
                        f"expected an object of feature values, got {_type_name(row)}",
                        "row_type",
                        index,
                    )
                )
                continue
            for name in self.names:
                if name not in row:
                    add(Problem((*where, name), "missing feature", "missing", index, name))
                    continue
                message = self._value_problem(self.kinds[name], row[name], allow_null)
                if message is not None:
                    add(Problem((*where, name), message[1], message[0], index, name))
            for name in row:
                if name not in self.name_set:
                    add(
                        Problem(
                            (*where, str(name)),
                            "unknown feature: the model has no feature of this name",
                            "extra_forbidden",
                            index,
                            str(name),
                        )
                    )
        if total:
            raise RequestValidationFailed(problems, total)

    @staticmethod
    def _value_problem(kind: str, value: Any, allow_null: bool) -> tuple[str, str] | None:
        if value is None:
            return None if allow_null else ("missing", "a value is required, got null")
        if kind == "numeric":
            if type(value) is bool or not isinstance(value, int | float):
                return ("number_type", f"expected a number, got {_type_name(value)}")
            try:
                finite = math.isfinite(float(value))
            except OverflowError:
                finite = False
            if not finite:
                return ("finite_number", f"expected a finite number, got {value!r}")
            return None
        if not isinstance(value, str):
            return ("string_type", f"expected a string (categorical), got {_type_name(value)}")
        return text_problem(value)

    def features(self, row: Mapping[str, Any]) -> dict[str, float | str | None]:
        """A validated row as the record's feature mapping (numbers as float)."""
        out: dict[str, float | str | None] = {}
        for name in self.names:
            value = row.get(name)
            if value is not None and self.kinds[name] == "numeric":
                value = float(value)
            out[name] = value
        return out


@dataclass
class PredictionResult:
    """Predictions of one request, row by row, and the records to log for them."""

    ids: list[str]
    predictions: list[str] | list[float]
    probabilities: list[dict[str, float]] | None
    records: list[PredictionRecord]

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
    """A model's prediction counts, rate, latency percentiles and labelled share."""

    model: str
    start: datetime
    end: datetime
    stats: PredictionStats

    def to_dict(self) -> dict[str, Any]:
        s = self.stats
        seconds = max((self.end - self.start).total_seconds(), 1e-9)
        return {
            "model": self.model,
            "start": self.start,
            "end": self.end,
            "count": s.count,
            "labelled": s.labelled,
            "labelled_share": (s.labelled / s.count) if s.count else None,
            "rate_per_second": s.count / seconds,
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
    """

    def __init__(
        self,
        models: Mapping[str, LoadedModel],
        api: ApiConfig,
        logger: PredictionLogWriter | None,
        metrics: ApiMetrics | None = None,
        *,
        store_stats: Callable[[str, datetime, datetime], PredictionStats] | None = None,
        attach_labels: Callable[[str, Sequence[tuple[str, Label]]], LabelUpdate] | None = None,
    ) -> None:
        self.models = models
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
    async def predict(self, model_name: str, body: bytes) -> PredictionResult:
        """Validate a JSON predict body, score it, and hand its records to the logger."""
        started = time.perf_counter()
        model = self.model(model_name)
        if model.estimator is None:
            raise ModelNotServedError(
                f"model {model.name!r} has no model file: it only accepts records "
                f"(POST /v1/models/{model.name}/records)"
            )
        try:
            rows, loc = self._parse_predict_body(body)
            self._check_size(len(rows))
            if len(rows) <= INLINE_ROWS:
                result = self._score(model, rows, loc, started)
            else:
                result = await asyncio.to_thread(self._score, model, rows, loc, started)
        except (RequestValidationFailed, BatchTooLargeError) as exc:
            if self.metrics is not None:
                kind: ErrorReason = (
                    "too_large" if isinstance(exc, BatchTooLargeError) else "validation"
                )
                self.metrics.prediction_error(model.name, kind)
            raise
        if self.logger is not None:
            await self._submit(model.name, result.records, loc)
        if self.metrics is not None:
            self.metrics.predicted(model.name, len(result.ids), time.perf_counter() - started)
        return result

    async def _submit(
        self, model: str, records: list[PredictionRecord], loc: tuple[str | int, ...]
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

    @staticmethod
    def _parse_predict_body(body: bytes) -> tuple[list[Any], tuple[str | int, ...]]:
        try:
            data = pydantic_core.from_json(body, allow_inf_nan=True)
        except ValueError as exc:
            raise RequestValidationFailed(
                [Problem(("body",), f"the body is not valid JSON: {exc}", "json_invalid")]
            ) from None
        if not isinstance(data, dict):
            raise RequestValidationFailed(
                [
                    Problem(
                        ("body",),
                        'expected an object: {"features": {...}} or {"rows": [...]}',
                        "model_type",
                    )
                ]
            )
        extra = [k for k in data if k not in ("features", "rows")]
        if extra or ("features" in data) == ("rows" in data):
            problems = [
                Problem(("body", k), "unknown field", "extra_forbidden") for k in extra[:20]
            ]
            if ("features" in data) == ("rows" in data):
                problems.append(
                    Problem(("body",), 'give exactly one of "features" or "rows"', "missing")
                )
            raise RequestValidationFailed(problems)
        if "features" in data:
            return [data["features"]], ("body", "features")
        rows = data["rows"]
        if not isinstance(rows, list) or not rows:
            raise RequestValidationFailed(
                [Problem(("body", "rows"), "expected a non-empty array of rows", "list_type")]
            )
        return rows, ("body", "rows")

    def _score(
        self, model: LoadedModel, rows: list[Any], loc: tuple[str | int, ...], started: float
    ) -> PredictionResult:
        validator = self._validators[model.name]
        X = validator.matrix(rows, loc)
        raw_predictions, proba = _predict(model, X)
        now = datetime.now(UTC)
        latency_ms = (time.perf_counter() - started) * 1000.0
        ids = new_ids(len(rows), int(now.timestamp() * 1000))
        predictions: list[Any] = raw_predictions.tolist()
        probabilities = None
        if proba is not None and model.schema.classes:
            classes = model.schema.classes
            probabilities = [dict(zip(classes, p, strict=True)) for p in proba.tolist()]
        name = model.name
        values = X.tolist() if validator.all_numeric else None
        records = [
            PredictionRecord(
                id=ids[i],
                model=name,
                timestamp=now,
                features=validator.features(row)
                if values is None
                else dict(zip(validator.names, values[i], strict=True)),
                prediction=predictions[i],
                probabilities=probabilities[i] if probabilities else None,
                latency_ms=latency_ms,
            )
            for i, row in enumerate(rows)
        ]
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
                _check_id(record_id, (*where, "id"), problems)
            prediction = _label(schema, row.get("prediction"), (*where, "prediction"), problems)
            label = row.get("label")
            if label is not None:
                label = _label(schema, label, (*where, "label"), problems)
            probabilities = row.get("probabilities")
            if probabilities is not None:
                probabilities = _probabilities(
                    schema, classes, probabilities, (*where, "probabilities"), problems
                )
            timestamp = row.get("timestamp") or now
            problem = time_problem(timestamp)
            if problem is not None:
                problems.append(
                    Problem((*where, "timestamp"), problem[1], problem[0], field="timestamp")
                )
                timestamp = now
            records.append(
                PredictionRecord(
                    id=record_id or next(generated),
                    model=model.name,
                    timestamp=as_utc(timestamp),
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
    async def feedback(self, model_name: str, labels: Sequence[tuple[str, Any]]) -> LabelUpdate:
        """Attach ground-truth labels by prediction id; unknown ids come back.

        Predictions still waiting in the log queue are flushed first, so a label sent right
        after its prediction finds it.
        """
        model = self.model(model_name)
        self._check_size(len(labels))
        problems: list[Problem] = []
        cleaned: list[tuple[str, Label]] = []
        for index, (pid, value) in enumerate(labels):
            _check_id(pid, ("body", "labels", index, "id"), problems)
            where = ("body", "labels", index, "label")
            label = _label(model.schema, value, where, problems)
            cleaned.append((pid, label))
        if problems:
            raise RequestValidationFailed(problems[:MAX_PROBLEMS], len(problems))
        if self.logger is not None:
            await self.logger.flush()
        if self._attach_labels is None:
            raise DriftscopeError("this service has no store to attach labels to")
        update = await asyncio.to_thread(self._attach_labels, model.name, cleaned)
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


def _predict(model: LoadedModel, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``LoadedModel.predict`` with the class label of each row looked up from the
    schema's labels instead of formatted per row (a fifth of a 1,000-row batch's time)."""
    classes = model.schema.classes
    estimator = model.estimator
    if estimator is None or not model.has_proba or classes is None:
        return model.predict(X)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        proba = estimator.predict_proba(X)
    labels = np.array(classes, dtype=object)
    return labels[np.argmax(proba, axis=1)], proba


def _label(
    schema: ModelSchema, value: Any, loc: tuple[str | int, ...], problems: list[Problem]
) -> Any:
    """A prediction or label in the store's form: class text, or a finite float."""
    if schema.task == "regression":
        if type(value) is bool or not isinstance(value, int | float):
            problems.append(Problem(loc, f"expected a number, got {_type_name(value)}", "number"))
            return None
        try:
            number = float(value)
        except OverflowError:  # an integer beyond a double's range
            number = math.inf
        if not math.isfinite(number):
            problems.append(Problem(loc, "expected a finite number", "finite_number"))
            return None
        return number
    if value is None or isinstance(value, list | dict):
        problems.append(
            Problem(loc, f"expected a class label, got {_type_name(value)}", "class_label")
        )
        return None
    if isinstance(value, float) and not math.isfinite(value):
        problems.append(Problem(loc, "expected a class label, got a non-finite number", "class"))
        return None
    text = class_label(value)
    problem = text_problem(text, MAX_LABEL_CHARS)
    if problem is not None:
        problems.append(Problem(loc, problem[1], problem[0], field=str(loc[-1])))
        return None
    return text


def _check_id(value: Any, loc: tuple[str | int, ...], problems: list[Problem]) -> None:
    """A prediction id must be text the store can key on."""
    if not isinstance(value, str) or not value:
        problems.append(Problem(loc, "expected a non-empty string id", "string_type", field="id"))
        return
    problem = text_problem(value, MAX_ID_CHARS)
    if problem is not None:
        problems.append(Problem(loc, problem[1], problem[0], field="id"))


def _probabilities(
    schema: ModelSchema,
    classes: set[str],
    value: Any,
    loc: tuple[str | int, ...],
    problems: list[Problem],
) -> dict[str, float] | None:
    if schema.task == "regression":
        problems.append(Problem(loc, "a regression model has no class probabilities", "extra"))
        return None
    if not isinstance(value, dict):
        problems.append(Problem(loc, "expected an object of class: probability", "dict_type"))
        return None
    out: dict[str, float] = {}
    for key, p in value.items():
        name = class_label(key)
        # a class the model does not have has no column in the store (and a model whose
        # classes are unknown has none at all)
        if name not in classes:
            problems.append(
                Problem(
                    (*loc, str(key)),
                    f"unknown class; the model's classes are {sorted(classes)}",
                    "unknown_class",
                )
            )
            continue
        if type(p) is bool or not isinstance(p, int | float) or not 0.0 <= float(p) <= 1.0:
            problems.append(
                Problem((*loc, str(key)), "expected a probability between 0 and 1", "probability")
            )
            continue
        out[name] = float(p)
    return out
