"""The store's physical layout: the fixed tables (SQLModel on a private registry), the
schema version and its migrations, and where each model's predictions live."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, cast

from sqlalchemy import Boolean, Connection, Double, Index, MetaData, Table, Text, inspect
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from driftscope import ModelSchema, StoreError

from .values import UTCMicros

SCHEMA_VERSION = 3
"""The version of the physical layout this code writes and understands."""

# -- the fixed tables (SQLModel, on a private registry so they never mix with other tables) --------
_registry = registry(metadata=MetaData())


class _StoreTable(SQLModel, registry=_registry):
    """Base of the store's fixed tables."""


def _time(nullable: bool = True) -> Any:
    return Field(default=None, sa_type=UTCMicros, nullable=nullable)


class SchemaVersionRow(_StoreTable, table=True):
    """The schema version of the database (one row, ``id = 1``)."""

    __tablename__ = "schema_version"
    id: int = Field(default=1, primary_key=True)
    version: int
    updated_at: datetime | None = _time()


class ModelRow(_StoreTable, table=True):
    """A registered model: its task, classes and prediction table."""

    __tablename__ = "models"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=Text, unique=True)
    task: str = Field(sa_type=Text)
    classes: str | None = Field(default=None, sa_type=Text)
    table_name: str = Field(default="", sa_type=Text)
    created_at: datetime | None = _time()
    updated_at: datetime | None = _time()


class ModelColumnRow(_StoreTable, table=True):
    """Maps a model's feature or class to its physical column in the prediction table."""

    __tablename__ = "model_columns"
    model_id: int = Field(foreign_key="models.id", ondelete="CASCADE", primary_key=True)
    role: str = Field(sa_type=Text, primary_key=True)
    name: str = Field(sa_type=Text, primary_key=True)
    kind: str = Field(sa_type=Text)
    column_name: str = Field(sa_type=Text)
    position: int


class ReportRow(_StoreTable, table=True):
    """A saved monitor report; ``body`` is its ``to_dict()`` as JSON text."""

    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_monitor_created", "monitor", "created_at"),)
    id: str = Field(sa_type=Text, primary_key=True)
    monitor: str = Field(sa_type=Text)
    model: str = Field(sa_type=Text)
    created_at: datetime = Field(sa_type=UTCMicros, index=True)
    drifted: bool = Field(sa_type=Boolean)
    status: str = Field(sa_type=Text)
    body: str = Field(sa_type=Text)


class AlertStateRow(_StoreTable, table=True):
    """The current alert state of one (monitor, detector, feature) key."""

    __tablename__ = "alert_states"
    monitor: str = Field(sa_type=Text, primary_key=True)
    detector: str = Field(sa_type=Text, primary_key=True)
    feature: str = Field(sa_type=Text, primary_key=True)
    state: str = Field(sa_type=Text, index=True)
    consecutive_drifted: int = 0
    consecutive_clean: int = 0
    changed_at: datetime | None = _time()
    last_notified_at: datetime | None = _time()
    statistic: float | None = Field(default=None, sa_type=Double)
    threshold: float | None = Field(default=None, sa_type=Double)
    report_id: str | None = Field(default=None, sa_type=Text)
    # what the decision compared (schema version 3)
    compared: str | None = Field(default=None, sa_type=Text)
    value: float | None = Field(default=None, sa_type=Double)
    drifts_when: str | None = Field(default=None, sa_type=Text)
    p_value: float | None = Field(default=None, sa_type=Double)
    p_value_adjusted: float | None = Field(default=None, sa_type=Double)
    statistic_floor: float | None = Field(default=None, sa_type=Double)


class AlertEventRow(_StoreTable, table=True):
    """One recorded change of an alert key's state."""

    __tablename__ = "alert_events"
    __table_args__ = (Index("ix_alert_events_monitor_at", "monitor", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    monitor: str = Field(sa_type=Text)
    detector: str = Field(sa_type=Text)
    feature: str = Field(sa_type=Text)
    from_state: str = Field(sa_type=Text)
    to_state: str = Field(sa_type=Text)
    at: datetime = Field(sa_type=UTCMicros, index=True)
    statistic: float | None = Field(default=None, sa_type=Double)
    threshold: float | None = Field(default=None, sa_type=Double)
    report_id: str | None = Field(default=None, sa_type=Text)
    # what the decision compared (schema version 3)
    compared: str | None = Field(default=None, sa_type=Text)
    value: float | None = Field(default=None, sa_type=Double)
    drifts_when: str | None = Field(default=None, sa_type=Text)
    p_value: float | None = Field(default=None, sa_type=Double)
    p_value_adjusted: float | None = Field(default=None, sa_type=Double)
    statistic_floor: float | None = Field(default=None, sa_type=Double)
    silenced: bool = Field(default=False, sa_type=Boolean)


class OutboxRow(_StoreTable, table=True):
    """A notification waiting for (or done with) delivery."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)
    id: str = Field(sa_type=Text, primary_key=True)
    notifier: str = Field(sa_type=Text)
    monitor: str = Field(sa_type=Text)
    payload: str = Field(sa_type=Text)
    created_at: datetime = Field(sa_type=UTCMicros, index=True)
    status: str = Field(sa_type=Text)
    attempts: int = 0
    next_attempt_at: datetime | None = _time()
    last_error: str | None = Field(default=None, sa_type=Text)
    sent_at: datetime | None = _time()
    external_id: str | None = Field(default=None, sa_type=Text)


class SilenceRow(_StoreTable, table=True):
    """A silence that mutes matching alert changes for a while."""

    __tablename__ = "silences"
    id: str = Field(sa_type=Text, primary_key=True)
    monitor: str = Field(sa_type=Text, index=True)
    feature: str | None = Field(default=None, sa_type=Text)
    detector: str | None = Field(default=None, sa_type=Text)
    starts_at: datetime = Field(sa_type=UTCMicros)
    ends_at: datetime = Field(sa_type=UTCMicros)
    reason: str = Field(sa_type=Text)
    created_by: str | None = Field(default=None, sa_type=Text)


class NotifierStatusRow(_StoreTable, table=True):
    """Whether a notifier is usable."""

    __tablename__ = "notifier_status"
    name: str = Field(sa_type=Text, primary_key=True)
    config_hash: str = Field(sa_type=Text)
    disabled: bool = Field(default=False, sa_type=Boolean)
    reason: str | None = Field(default=None, sa_type=Text)
    changed_at: datetime | None = _time()


class LeaseRow(_StoreTable, table=True):
    """A named lease held by one owner until ``expires_at``."""

    __tablename__ = "leases"
    name: str = Field(sa_type=Text, primary_key=True)
    owner: str = Field(sa_type=Text)
    expires_at: datetime = Field(sa_type=UTCMicros)


class DeadLetterRow(_StoreTable, table=True):
    """A prediction record the database refused, kept with the reason (schema version 2)."""

    __tablename__ = "dead_letters"
    id: int | None = Field(default=None, primary_key=True)
    record_id: str = Field(sa_type=Text)
    model: str = Field(sa_type=Text, index=True)
    reason: str = Field(sa_type=Text)
    payload: str = Field(sa_type=Text)
    created_at: datetime = Field(sa_type=UTCMicros, index=True)
    attempts: int = 1


def _table(model: type[SQLModel]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


T_VERSION = _table(SchemaVersionRow)
T_MODELS = _table(ModelRow)
T_COLUMNS = _table(ModelColumnRow)
T_REPORTS = _table(ReportRow)
T_STATES = _table(AlertStateRow)
T_EVENTS = _table(AlertEventRow)
T_OUTBOX = _table(OutboxRow)
T_SILENCES = _table(SilenceRow)
T_NOTIFIERS = _table(NotifierStatusRow)
T_LEASES = _table(LeaseRow)
T_DEAD = _table(DeadLetterRow)


def _add_dead_letters(conn: Connection) -> None:
    """Version 2: the ``dead_letters`` table."""
    T_DEAD.create(conn, checkfirst=True)
    for index in T_DEAD.indexes:
        index.create(conn, checkfirst=True)


#: The columns version 3 added to ``alert_states`` and ``alert_events``.
COMPARISON_COLUMNS = (
    "compared",
    "value",
    "drifts_when",
    "p_value",
    "p_value_adjusted",
    "statistic_floor",
)


def _add_comparison_columns(conn: Connection) -> None:
    """Version 3: what each alert's decision compared, on its state and its events (rows
    written before keep ``NULL``, which the renderers read as "not recorded")."""
    inspector = inspect(conn)
    for table in (T_STATES, T_EVENTS):
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for name in COMPARISON_COLUMNS:
            if name not in present:
                kind = table.c[name].type.compile(dialect=conn.dialect)
                conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}")


#: Each step upgrades a database from the version before it; ``open()`` runs them in order.
_MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    2: _add_dead_letters,
    3: _add_comparison_columns,
}


# -- per-model layout ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Layout:
    """Where one model's predictions live: its table and the column of each feature/class."""

    model_id: int
    name: str
    table: str
    task: str
    classes: tuple[str, ...]  # current probability order
    class_columns: dict[str, str]  # every class ever registered -> p_i
    features: dict[str, tuple[str, str]]  # feature name -> (column, kind), registration order

    @property
    def numeric(self) -> list[tuple[str, str]]:
        return [(n, c) for n, (c, k) in self.features.items() if k == "numeric"]

    @property
    def categorical(self) -> list[tuple[str, str]]:
        return [(n, c) for n, (c, k) in self.features.items() if k == "categorical"]

    @property
    def regression(self) -> bool:
        return self.task == "regression"

    @cached_property
    def numeric_names(self) -> list[str]:
        """The numeric features, in the order their columns are written."""
        return [n for n, _ in self.numeric]

    @cached_property
    def categorical_names(self) -> list[str]:
        """The categorical features, in the order their columns are written."""
        return [n for n, _ in self.categorical]

    @cached_property
    def class_names(self) -> list[str]:
        """Every class ever registered, in the order their probability columns are written."""
        return list(self.class_columns)

    @cached_property
    def batch_plans(self) -> dict[Any, Any]:
        """Where each written column comes from in a ``PredictionBatch``, by the batch's
        feature names and classes (made and read by ``rows``)."""
        return {}

    @cached_property
    def write_columns(self) -> list[tuple[str, str]]:
        """``(column, kind)`` of a written row, kind ``text``, ``int`` or ``numeric``:
        ``id``, ``ts``, ``prediction``, ``label``, ``labelled_at``, ``latency_ms``, the class
        probabilities, the numeric features, then the categorical ones."""
        label = "numeric" if self.regression else "text"
        columns = [("id", "text"), ("ts", "int"), ("prediction", label), ("label", label)]
        columns += [("labelled_at", "int"), ("latency_ms", "numeric")]
        columns += [(self.class_columns[c], "numeric") for c in self.class_names]
        columns += [(c, "numeric") for _, c in self.numeric]
        columns += [(c, "text") for _, c in self.categorical]
        return columns

    @classmethod
    def from_rows(cls, model: Any, columns: Sequence[Any]) -> _Layout:
        """The layout of a ``models`` row and its ``model_columns`` rows."""
        return cls(
            model_id=model.id,
            name=model.name,
            table=model.table_name,
            task=model.task,
            classes=tuple(json.loads(model.classes)) if model.classes else (),
            class_columns={c.name: c.column_name for c in columns if c.role == "class"},
            features={c.name: (c.column_name, c.kind) for c in columns if c.role == "feature"},
        )


def _check_schema(schema: ModelSchema) -> None:
    names = schema.feature_names
    if len(set(names)) != len(names):
        raise StoreError(f"model {schema.name!r} lists a feature twice")
    if schema.task not in ("classification", "regression"):
        raise StoreError(f"model {schema.name!r} has an unknown task {schema.task!r}")
    for spec in schema.features:
        if spec.kind not in ("numeric", "categorical"):
            raise StoreError(f"feature {spec.name!r} has an unknown kind {spec.kind!r}")
    if schema.classes is not None and len(set(schema.classes)) != len(schema.classes):
        raise StoreError(f"model {schema.name!r} lists a class twice")
