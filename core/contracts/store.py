"""The store contract: where predictions, labels, reports, alerts and the outbox live.

A store plugin subclasses :class:`Store` and registers it with ``driftscope_stores()``. The
built-in ``sql`` store keeps everything in SQLite (default) or PostgreSQL (by URL).

All times are timezone-aware UTC ``datetime`` objects. Methods are synchronous and
thread-safe: the API calls them from a writer thread, the scheduler from its own threads.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from itertools import chain
from typing import Any, ClassVar, Literal, cast, overload

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from driftscope.core.contracts.report import Report
from driftscope.core.contracts.types import (
    BinCounts,
    CategoryCounts,
    Compared,
    DriftsWhen,
    FeatureKind,
    Task,
    count_bins,
    count_categories,
)
from driftscope.core.errors import StoreError

Label = str | float | int | bool
AlertStateName = Literal["ok", "pending", "firing", "resolved", "no_data"]
OutboxStatus = Literal["pending", "sent", "failed", "muted", "given_up"]


class StoreSettings(BaseModel):
    """Settings every store accepts; ``url`` may carry a password, so it is a secret."""

    model_config = ConfigDict(extra="forbid")

    type: str = "sql"
    url: SecretStr = Field(
        default=SecretStr("sqlite:///driftscope.db"),
        description="Database URL: sqlite:///path.db or postgresql://user@host/db",
    )


@dataclass(frozen=True)
class FeatureSpec:
    """One input feature of a model: its name and whether it is numeric or categorical."""

    name: str
    kind: FeatureKind = "numeric"


@dataclass(frozen=True)
class ModelSchema:
    """What a store must know about a model to lay out its predictions."""

    name: str
    features: tuple[FeatureSpec, ...]
    task: Task = "classification"
    classes: tuple[str, ...] | None = None  # class labels as strings, in probability order

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]


class FeatureRow(Mapping[str, "float | str | None"]):
    """One row's feature values as a read-only mapping, over a sequence it does not copy.

    The API's prediction records hold their features this way: a validated request row is
    already a list of values in the schema's order, and a dict per row would cost more
    than scoring it. It is a :class:`~collections.abc.Mapping` like any other (equal to the
    dict of the same items); a store may read :attr:`names` and :attr:`data` directly to
    skip looking each feature up.

    :param names: The feature names, in the order of ``data``.
    :param data: One value per name.
    :param index: ``{name: position}`` for ``names``; pass one shared dict for many rows.
    """

    __slots__ = ("_index", "data", "names")

    def __init__(
        self,
        names: tuple[str, ...],
        data: Sequence[float | str | None],
        index: Mapping[str, int] | None = None,
    ) -> None:
        if len(names) != len(data):
            raise ValueError(f"{len(names)} feature names but {len(data)} values")
        self.names = names
        self.data = data
        self._index = index if index is not None else {n: i for i, n in enumerate(names)}

    @staticmethod
    def index_of(names: Sequence[str]) -> dict[str, int]:
        """The ``index`` argument for rows with these ``names``."""
        return {name: position for position, name in enumerate(names)}

    def __getitem__(self, name: str) -> float | str | None:
        return self.data[self._index[name]]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return f"FeatureRow({dict(self.items())!r})"


@dataclass
class PredictionRecord:
    """One logged prediction. ``features`` holds a value for every feature of the schema
    (a dict, or a :class:`FeatureRow` from the API)."""

    id: str
    model: str
    timestamp: datetime
    features: Mapping[str, float | str | None]
    prediction: Label
    probabilities: Mapping[str, float] | None = None
    latency_ms: float | None = None
    label: Label | None = None


class PredictionBatch(Sequence[PredictionRecord]):
    """Predictions of one model made together, held column by column: a sequence of
    :class:`PredictionRecord` that builds each record only when it is asked for.

    The API hands its predictions to the store this way. At 1,000 rows a request, a record
    object per row cost more than scoring the rows, and a store writes columns anyway, so
    a store may read the columns directly instead of iterating (the built-in ``sql`` store
    does); iterating gives the same records, label-less, and is always correct.

    :param model: The model every row belongs to.
    :param ids: One prediction id per row.
    :param timestamps: When each row was predicted (timezone-aware).
    :param feature_names: The features, in the order of ``features``' columns.
    :param features: ``(rows, len(feature_names))``: float64, or object for a model with a
        categorical feature (``str`` there, numbers elsewhere).
    :param predictions: One prediction per row: a class label or a regression value.
    :param classes: The classes, in the order of ``probabilities``' columns.
    :param probabilities: ``(rows, len(classes))`` float64, or ``None``.
    :param latencies: Each row's latency in milliseconds, or ``None``.
    """

    __slots__ = (
        "_index",
        "classes",
        "feature_names",
        "features",
        "ids",
        "latencies",
        "model",
        "predictions",
        "probabilities",
        "timestamps",
    )

    def __init__(
        self,
        model: str,
        ids: Sequence[str],
        timestamps: Sequence[datetime],
        feature_names: tuple[str, ...],
        features: np.ndarray,
        predictions: Sequence[Label],
        *,
        classes: tuple[str, ...] | None = None,
        probabilities: np.ndarray | None = None,
        latencies: Sequence[float | None] | None = None,
    ) -> None:
        rows = len(ids)
        if features.ndim != 2 or features.shape != (rows, len(feature_names)):
            raise ValueError(
                f"features must be ({rows}, {len(feature_names)}), not {features.shape}"
            )
        if len(timestamps) != rows or len(predictions) != rows:
            raise ValueError(
                f"{rows} ids but {len(timestamps)} timestamps and {len(predictions)} predictions"
            )
        if (probabilities is None) != (classes is None):
            raise ValueError("probabilities and classes go together")
        if probabilities is not None and probabilities.shape != (rows, len(classes or ())):
            raise ValueError(f"probabilities must be ({rows}, {len(classes or ())})")
        if latencies is not None and len(latencies) != rows:
            raise ValueError(f"{rows} ids but {len(latencies)} latencies")
        self.model = model
        self.ids = ids
        self.timestamps = timestamps
        self.feature_names = feature_names
        self.features = features
        self.predictions = predictions
        self.classes = classes
        self.probabilities = probabilities
        self.latencies: Sequence[float | None] = (
            latencies if latencies is not None else [None] * rows
        )
        self._index = FeatureRow.index_of(feature_names)

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> PredictionRecord: ...

    @overload
    def __getitem__(self, index: slice) -> PredictionBatch: ...

    def __getitem__(self, index: int | slice) -> PredictionRecord | PredictionBatch:
        if isinstance(index, slice):
            return PredictionBatch(
                self.model,
                self.ids[index],
                self.timestamps[index],
                self.feature_names,
                self.features[index],
                self.predictions[index],
                classes=self.classes,
                probabilities=None if self.probabilities is None else self.probabilities[index],
                latencies=self.latencies[index],
            )
        probabilities = None
        if self.probabilities is not None and self.classes is not None:
            probabilities = dict(zip(self.classes, self.probabilities[index].tolist(), strict=True))
        return PredictionRecord(
            self.ids[index],
            self.model,
            self.timestamps[index],
            FeatureRow(self.feature_names, self.features[index].tolist(), self._index),
            self.predictions[index],
            probabilities,
            self.latencies[index],
        )

    def __repr__(self) -> str:
        return f"PredictionBatch(model={self.model!r}, rows={len(self)})"

    @staticmethod
    def join(parts: Sequence[Sequence[PredictionRecord]]) -> Sequence[PredictionRecord]:
        """The records of ``parts`` in order: one :class:`PredictionBatch` when every part
        is a batch of the same model, features, classes and feature dtype (columns are
        concatenated, no record is built), else a list of records."""
        if len(parts) == 1:
            return parts[0]
        first = parts[0]
        if isinstance(first, PredictionBatch) and all(
            type(part) is PredictionBatch
            and part.model == first.model
            and part.feature_names == first.feature_names
            and part.classes == first.classes
            and part.features.dtype == first.features.dtype
            for part in parts
        ):
            batches = cast(list[PredictionBatch], list(parts))
            probabilities = [b.probabilities for b in batches]
            return PredictionBatch(
                first.model,
                list(chain.from_iterable(b.ids for b in batches)),
                list(chain.from_iterable(b.timestamps for b in batches)),
                first.feature_names,
                np.concatenate([b.features for b in batches]),
                list(chain.from_iterable(b.predictions for b in batches)),
                classes=first.classes,
                probabilities=(
                    None
                    if first.probabilities is None
                    else np.concatenate(cast(list[np.ndarray], probabilities))
                ),
                latencies=list(chain.from_iterable(b.latencies for b in batches)),
            )
        return list(chain.from_iterable(parts))


@dataclass
class WindowData:
    """The predictions of one model in a time range, column by column.

    ``columns`` maps each feature name to an array: float64 (NaN where missing) for numeric
    features, object (``str`` or ``None``) for categorical ones. ``prediction`` and ``labels``
    are object arrays for classifiers and float64 for regressors (``None``/NaN where a row
    has no label). ``probabilities`` is ``(rows, len(schema.classes))`` or ``None``.
    ``sampled_from`` is set when the store returned a uniform sample of a larger window.
    """

    start: datetime
    end: datetime
    columns: dict[str, np.ndarray]
    prediction: np.ndarray
    labels: np.ndarray
    probabilities: np.ndarray | None = None
    sampled_from: int | None = None

    @property
    def rows(self) -> int:
        return len(self.prediction)


@dataclass(frozen=True)
class LabelUpdate:
    """The outcome of attaching labels: how many rows changed and which ids were unknown.

    ``already_labelled`` holds, by id, the stored label of each prediction that had one when
    labels were attached without ``overwrite``; when it is not empty, nothing was written.
    """

    updated: int
    unknown_ids: list[str]
    already_labelled: dict[str, Label] = field(default_factory=dict)


@dataclass(frozen=True)
class PredictionStats:
    """Counts and latency of one model's predictions in a time range.

    ``active_minutes`` is how many clock minutes (UTC, aligned to the minute) of the range
    hold at least one prediction: the time the model was receiving traffic, over which
    rates are taken. The latency percentiles are over the records that carry a latency:
    the API records a request's latency on its first row only, so they are per request.
    """

    count: int
    labelled: int
    latency_p50_ms: float | None
    latency_p90_ms: float | None
    latency_p99_ms: float | None
    first_at: datetime | None
    last_at: datetime | None
    active_minutes: int = 0


@dataclass
class AlertState:
    """The alert state of one key (monitor, detector, feature); ``feature`` is "" for the
    monitor itself (its ``no_data`` state).

    ``statistic`` … ``statistic_floor`` are the comparison of the result that last moved
    the key (see :mod:`driftscope.core.contracts.comparison`): for the monitor's key,
    ``compared`` is ``"rows"``, ``value`` the window's rows and ``threshold`` its
    ``min_samples``."""

    monitor: str
    detector: str
    feature: str
    state: AlertStateName = "ok"
    consecutive_drifted: int = 0
    consecutive_clean: int = 0
    changed_at: datetime | None = None
    last_notified_at: datetime | None = None
    statistic: float | None = None
    threshold: float | None = None
    report_id: str | None = None
    compared: Compared | None = None
    value: float | None = None
    drifts_when: DriftsWhen | None = None
    p_value: float | None = None
    p_value_adjusted: float | None = None
    statistic_floor: float | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.monitor, self.detector, self.feature)


@dataclass
class AlertEvent:
    """One recorded change of an alert key's state (the alert history), with the comparison
    its key held when it changed (as :class:`AlertState`)."""

    monitor: str
    detector: str
    feature: str
    from_state: AlertStateName
    to_state: AlertStateName
    at: datetime
    statistic: float | None = None
    threshold: float | None = None
    report_id: str | None = None
    silenced: bool = False
    id: int | None = None
    compared: Compared | None = None
    value: float | None = None
    drifts_when: DriftsWhen | None = None
    p_value: float | None = None
    p_value_adjusted: float | None = None
    statistic_floor: float | None = None


@dataclass
class OutboxMessage:
    """A notification waiting for (or done with) delivery through one notifier."""

    id: str
    notifier: str
    monitor: str
    payload: dict[str, Any]
    created_at: datetime
    status: OutboxStatus = "pending"
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    sent_at: datetime | None = None
    external_id: str | None = None


@dataclass
class Silence:
    """Mutes alert changes that match it until ``ends_at``; ``None`` fields match anything."""

    id: str
    monitor: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    feature: str | None = None
    detector: str | None = None
    created_by: str | None = None

    def matches(self, monitor: str, detector: str, feature: str, at: datetime) -> bool:
        return (
            self.monitor == monitor
            and (self.feature is None or self.feature == feature)
            and (self.detector is None or self.detector == detector)
            and self.starts_at <= at < self.ends_at
        )


@dataclass
class NotifierStatus:
    """Whether a notifier is usable; a 401/403/404 from its endpoint disables it until its
    configuration (``config_hash``) changes."""

    name: str
    config_hash: str
    disabled: bool = False
    reason: str | None = None
    changed_at: datetime | None = None


@dataclass(frozen=True)
class PruneResult:
    """How many rows a retention pass deleted (or would delete, in a dry run)."""

    predictions: int = 0
    reports: int = 0
    alert_events: int = 0
    outbox: int = 0
    details: dict[str, int] = field(default_factory=dict)


@dataclass
class DeadLetter:
    """A prediction record the store refused for a reason other than an outage.

    ``payload`` is the whole record as JSON text with every non-ASCII character escaped, so
    it fits any text column even when the record holds what broke it (a NUL, a lone
    surrogate). ``record_id`` and ``model`` are the same escaped text, cut to 200 characters,
    for listing; :func:`record_from_payload` gives the record back exactly.
    """

    record_id: str
    model: str
    reason: str
    payload: str
    created_at: datetime
    attempts: int = 1
    id: int | None = None

    @classmethod
    def of(cls, record: PredictionRecord, reason: str, at: datetime) -> DeadLetter:
        """The dead letter of ``record`` refused for ``reason`` at ``at``."""
        return cls(
            record_id=ascii_text(record.id, 200),
            model=ascii_text(record.model, 200),
            reason=ascii_text(reason, 1000),
            payload=record_to_payload(record),
            created_at=at,
        )

    def record(self) -> PredictionRecord:
        """The refused record, exactly as it was."""
        return record_from_payload(self.payload)


def ascii_text(value: object, limit: int) -> str:
    """``value`` as printable ASCII (JSON escapes for the rest), cut to ``limit`` characters:
    safe for any database text column, log line or terminal."""
    text = json.dumps(str(value), ensure_ascii=True)[1:-1]
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, float) and not math.isfinite(value):
        return {"$float": repr(value)}
    if isinstance(value, Mapping):
        return {"$map": [[_json_value(k), _json_value(v)] for k, v in value.items()]}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return {"$repr": repr(value)}


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if "$datetime" in value:
            return datetime.fromisoformat(value["$datetime"])
        if "$float" in value:
            return float(value["$float"])
        if "$map" in value:
            return {_from_json(k): _from_json(v) for k, v in value["$map"]}
        if "$repr" in value:
            return value["$repr"]
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value


def record_to_payload(record: PredictionRecord) -> str:
    """A record as ASCII JSON that keeps every value exactly (NaN, surrogates, NUL, times)."""
    body = {f.name: _json_value(getattr(record, f.name)) for f in fields(record)}
    return json.dumps(body, ensure_ascii=True, allow_nan=False)


def record_from_payload(payload: str) -> PredictionRecord:
    """The record :func:`record_to_payload` wrote."""
    body = {k: _from_json(v) for k, v in json.loads(payload).items()}
    return PredictionRecord(**body)


class Store(ABC):
    """Base class of a store plugin. See the module docstring for the conventions."""

    Settings: ClassVar[type[StoreSettings]] = StoreSettings

    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings

    def __repr__(self) -> str:
        return f"{type(self).__name__}(type={self.settings.type!r})"

    # -- lifecycle -----------------------------------------------------------------------
    @abstractmethod
    def open(self) -> None:
        """Connect, create the schema if missing and migrate it to the current version."""

    @abstractmethod
    def close(self) -> None:
        """Release connections. The store may be opened again."""

    def missing_database(self) -> str | None:
        """Why this store's database does not exist yet, naming where it looked (``"no
        SQLite database at /srv/driftscope.db"``), or ``None`` when it exists or the store
        cannot tell before :meth:`open`.

        Commands that only read what is stored (``driftscope alerts``, ``deadletter list``,
        ``run``...) call this instead of :meth:`open` creating an empty database in the
        wrong place. The default cannot tell: a database server refuses an unknown database
        on its own.
        """
        return None

    @abstractmethod
    def ping(self) -> None:
        """Raise :class:`driftscope.core.errors.StoreError` when the database is not reachable."""

    # -- predictions and labels ------------------------------------------------------------
    @abstractmethod
    def register_model(self, schema: ModelSchema) -> None:
        """Make room for a model's predictions (idempotent; new features are added)."""

    @abstractmethod
    def write_predictions(self, records: Sequence[PredictionRecord]) -> int:
        """Store a batch of predictions (any mix of models) in one transaction.

        The API hands over each batch as a :class:`PredictionBatch` (one model, held by
        column): a store may read its columns, or simply iterate it like any sequence.
        """

    def try_write_predictions(self, records: Sequence[PredictionRecord]) -> int | None:
        """Store a small batch at once if that cannot wait, or return ``None`` having
        written nothing.

        The API's log writer calls this on its event loop for a small batch (a durable
        group, a sync request's rows), to spare two thread hops; a batch it declines goes to
        :meth:`write_predictions` on the writer thread. So an implementation may only write
        when it takes no lock another connection holds, no network round trip and no disk
        sync (an embedded database's commit that only appends to its log qualifies);
        otherwise it returns ``None`` and the caller writes the batch the usual way. It must
        be :meth:`write_predictions`' equal in what it stores, skips and raises. The default
        never writes.
        """
        return None

    @abstractmethod
    def attach_labels(
        self, model: str, labels: Sequence[tuple[str, Label]], *, overwrite: bool = False
    ) -> LabelUpdate:
        """Set ground-truth labels by prediction id; unknown ids are returned, not raised.

        Without ``overwrite``, a prediction keeps the label it has: if any of ``labels``
        names one that is labelled, nothing is written and ``already_labelled`` names each
        with its stored label. Checking and writing are one atomic step, so of two
        concurrent calls labelling one prediction exactly one succeeds. With ``overwrite``,
        labels replace stored ones (the last of an id's labels wins).
        """

    @abstractmethod
    def read_window(
        self, model: str, start: datetime, end: datetime, *, max_rows: int | None = None
    ) -> WindowData:
        """Read predictions with ``start <= timestamp < end`` column by column.

        With ``max_rows`` and a larger window, return a uniform random sample of
        ``max_rows`` rows and set ``sampled_from`` to the window's row count.
        """

    def bin_counts(
        self,
        model: str,
        feature: str,
        edges: Sequence[float] | np.ndarray,
        start: datetime,
        end: datetime,
    ) -> BinCounts:
        """Count a numeric feature's values with ``start <= timestamp < end`` into the bins
        around ``edges`` (see :class:`BinCounts`).

        This is how PSI and chi-square score windows too large to read: only ``k + 1``
        numbers leave the store. The default reads the window and counts in numpy (correct,
        not memory-bounded); database stores override it with a ``GROUP BY`` over the bins so
        rows never reach Python.
        """
        window = self.read_window(model, start, end)
        return count_bins(window.columns[feature], edges)

    def category_counts(
        self, model: str, feature: str, start: datetime, end: datetime
    ) -> CategoryCounts:
        """Count each category of a categorical feature with ``start <= timestamp < end``.

        The default reads the window and counts in numpy; database stores override it with a
        ``GROUP BY`` so rows never reach Python.
        """
        window = self.read_window(model, start, end)
        return count_categories(window.columns[feature])

    def bin_counts_many(
        self,
        model: str,
        edges: Mapping[str, Sequence[float] | np.ndarray],
        start: datetime,
        end: datetime,
    ) -> dict[str, BinCounts]:
        """:meth:`bin_counts` of several numeric features at once, ``{feature: edges}`` in,
        ``{feature: BinCounts}`` out.

        The default calls :meth:`bin_counts` per feature; database stores override it to
        count every feature in one scan of the window.
        """
        return {name: self.bin_counts(model, name, e, start, end) for name, e in edges.items()}

    def category_counts_many(
        self, model: str, features: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, CategoryCounts]:
        """:meth:`category_counts` of several categorical features at once.

        The default calls :meth:`category_counts` per feature; database stores override it
        to count every feature in one statement.
        """
        return {name: self.category_counts(model, name, start, end) for name in features}

    def has_predictions(self, model: str) -> bool:
        """Whether the store holds any prediction of ``model``, at any time: a monitor whose
        model never had one is waiting for its first predictions, not out of data.

        The default counts every time; database stores override it with a cheaper query.
        """
        earliest = datetime.min.replace(tzinfo=UTC)
        latest = datetime.max.replace(tzinfo=UTC)
        return self.count_predictions(model, earliest, latest)[0] > 0

    @abstractmethod
    def count_predictions(self, model: str, start: datetime, end: datetime) -> tuple[int, int]:
        """Return ``(rows, labelled_rows)`` in a time range without reading the rows."""

    @abstractmethod
    def prediction_stats(self, model: str, start: datetime, end: datetime) -> PredictionStats:
        """Counts, active minutes and latency percentiles (over the records that carry a
        latency) of a model's predictions in a time range."""

    # -- reports ---------------------------------------------------------------------------
    @abstractmethod
    def save_report(self, report: Report) -> None:
        """Save a report (its ``id`` is set by the engine)."""

    @abstractmethod
    def get_report(self, report_id: str) -> Report | None:
        """Return one report, or ``None``."""

    @abstractmethod
    def list_reports(
        self,
        monitor: str,
        *,
        since: datetime | None = None,
        before: datetime | None = None,
        limit: int = 50,
    ) -> list[Report]:
        """Reports of a monitor, newest first, created in ``[since, before)``."""

    # -- coordination ------------------------------------------------------------------------
    @abstractmethod
    def acquire_lease(self, name: str, owner: str, ttl_seconds: float) -> bool:
        """Take (or renew) a named lease for ``ttl_seconds``; False when another owner holds
        an unexpired one. This is how processes sharing a database run a monitor once."""

    @abstractmethod
    def release_lease(self, name: str, owner: str) -> None:
        """Give up a lease held by ``owner`` (no-op otherwise)."""

    # -- alerts, outbox, silences --------------------------------------------------------------
    @abstractmethod
    def get_alert_states(self, monitor: str) -> dict[tuple[str, str, str], AlertState]:
        """Current alert states of a monitor's keys."""

    @abstractmethod
    def list_alert_states(self, state: AlertStateName | None = None) -> list[AlertState]:
        """Alert states of every monitor, optionally only those in one state."""

    @abstractmethod
    def commit_alert_changes(
        self,
        states: Sequence[AlertState],
        events: Sequence[AlertEvent],
        messages: Sequence[OutboxMessage],
    ) -> None:
        """Upsert states, append events and enqueue messages in ONE transaction."""

    @abstractmethod
    def list_alert_events(
        self, *, monitor: str | None = None, since: datetime | None = None, limit: int = 100
    ) -> list[AlertEvent]:
        """Alert history, newest first."""

    @abstractmethod
    def due_messages(
        self, now: datetime, limit: int = 50, *, notifiers: Collection[str] | None = None
    ) -> list[OutboxMessage]:
        """Pending messages whose ``next_attempt_at`` is not after ``now``, oldest first;
        with ``notifiers``, only messages to those notifier names.

        Processes of different configs may share one store: each claims only the messages
        of the notifiers it has, and leaves the rest to the process that has theirs.
        """

    @abstractmethod
    def update_message(self, message: OutboxMessage) -> None:
        """Save a message's delivery status, attempts, next attempt and error."""

    @abstractmethod
    def list_messages(
        self,
        *,
        status: OutboxStatus | None = None,
        limit: int = 100,
        notifiers: Collection[str] | None = None,
    ) -> list[OutboxMessage]:
        """Outbox messages, newest first, optionally only those with one status and only
        those to the given notifier names."""

    @abstractmethod
    def add_silence(self, silence: Silence) -> None:
        """Save a silence."""

    @abstractmethod
    def list_silences(self, *, active_at: datetime | None = None) -> list[Silence]:
        """All silences, or only those active at a time."""

    @abstractmethod
    def delete_silence(self, silence_id: str) -> bool:
        """Remove a silence; False when there was none with that id."""

    @abstractmethod
    def get_notifier_status(self, name: str) -> NotifierStatus | None:
        """The saved status of a notifier, or ``None``."""

    @abstractmethod
    def set_notifier_status(self, status: NotifierStatus) -> None:
        """Save a notifier's status."""

    # -- dead letters ------------------------------------------------------------------------
    # Not abstract, so stores written before dead letters existed still load; the prediction
    # log then counts a refused record as dropped (logged with its id and reason) instead.
    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Keep records the store refused, with the reason, in one transaction."""
        raise StoreError(f"{type(self).__name__} does not keep dead letters", transient=False)

    def list_dead_letters(
        self,
        *,
        model: str | None = None,
        ids: Sequence[int] | None = None,
        after_id: int | None = None,
        limit: int = 100,
    ) -> list[DeadLetter]:
        """Dead letters in id order (oldest first), optionally of one model, with given ids,
        or with ids above ``after_id`` (to page through them)."""
        raise StoreError(f"{type(self).__name__} does not keep dead letters", transient=False)

    def count_dead_letters(self) -> int:
        """How many dead letters are kept (0 for a store that keeps none)."""
        return 0

    def delete_dead_letters(self, ids: Sequence[int]) -> int:
        """Remove dead letters by id; returns how many there were."""
        raise StoreError(f"{type(self).__name__} does not keep dead letters", transient=False)

    def update_dead_letter(self, letter: DeadLetter) -> None:
        """Save a dead letter's new reason and attempt count (after a failed replay)."""
        raise StoreError(f"{type(self).__name__} does not keep dead letters", transient=False)

    # -- retention ---------------------------------------------------------------------------
    @abstractmethod
    def prune(
        self, older_than: datetime, *, dry_run: bool = False, batch_size: int = 10_000
    ) -> PruneResult:
        """Delete predictions, reports, alert events and finished outbox messages older than
        ``older_than``, in batches so writers are never locked out for long."""
