"""Registering models: each gets a prediction table with a typed column per feature and class."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, update

from driftscope import FeatureSpec, ModelSchema, StoreError

from .base import StoreBase
from .tables import T_COLUMNS, T_MODELS, _check_schema, _Layout


class ModelsMixin(StoreBase):
    """Create, widen and describe the per-model prediction tables."""

    def register_model(self, schema: ModelSchema) -> None:
        """Create (or widen) a model's prediction table; idempotent."""
        _check_schema(schema)
        with self._tx(f"registering model {schema.name!r}", write=True) as conn:
            self._dialect.lock_model(conn, schema.name)
            layout = self._load_layout(conn, schema.name)
            now = self._clock()
            if layout is None:
                model_id = conn.execute(
                    T_MODELS.insert()
                    .values(
                        name=schema.name,
                        task=schema.task,
                        classes=json.dumps(list(schema.classes or ())),
                        table_name="",
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(T_MODELS.c.id)
                ).scalar_one()
                table = f"predictions_{int(model_id)}"
                conn.execute(
                    update(T_MODELS).where(T_MODELS.c.id == model_id).values(table_name=table)
                )
                label_type = self._column_type("numeric" if schema.task == "regression" else "text")
                int_type = self._column_type("int")
                conn.exec_driver_sql(
                    f"CREATE TABLE {table} (id TEXT PRIMARY KEY, ts {int_type} NOT NULL, "
                    f"prediction {label_type}, label {label_type}, labelled_at {int_type}, "
                    f"latency_ms {self._column_type('numeric')})"
                )
                conn.exec_driver_sql(f"CREATE INDEX ix_{table}_ts ON {table} (ts)")
                layout = _Layout(model_id, schema.name, table, schema.task, (), {}, {})
            elif layout.task != schema.task:
                raise StoreError(
                    f"model {schema.name!r} is registered as {layout.task}, not {schema.task}; "
                    "use a new model name for a model of another task"
                )
            self._add_columns(conn, layout, schema)
            classes = list(schema.classes) if schema.classes is not None else list(layout.classes)
            conn.execute(
                update(T_MODELS)
                .where(T_MODELS.c.id == layout.model_id)
                .values(classes=json.dumps(classes), updated_at=now)
            )
            self._layouts.pop(schema.name, None)
            self._load_layout(conn, schema.name)

    def _add_columns(self, conn: Connection, layout: _Layout, schema: ModelSchema) -> None:
        new_rows: list[dict[str, Any]] = []
        position = len(layout.features)
        for spec in schema.features:
            known = layout.features.get(spec.name)
            if known is not None:
                if known[1] != spec.kind:
                    raise StoreError(
                        f"feature {spec.name!r} of model {schema.name!r} is stored as "
                        f"{known[1]}, not {spec.kind}; rename the feature to change its kind"
                    )
                continue
            column = f"f_{position}"
            conn.exec_driver_sql(
                f"ALTER TABLE {layout.table} ADD COLUMN {column} {self._column_type(spec.kind)}"
            )
            new_rows.append(
                {
                    "model_id": layout.model_id,
                    "role": "feature",
                    "name": spec.name,
                    "kind": spec.kind,
                    "column_name": column,
                    "position": position,
                }
            )
            position += 1
        position = len(layout.class_columns)
        for cls in schema.classes or ():
            if cls in layout.class_columns:
                continue
            column = f"p_{position}"
            conn.exec_driver_sql(
                f"ALTER TABLE {layout.table} ADD COLUMN {column} {self._column_type('numeric')}"
            )
            new_rows.append(
                {
                    "model_id": layout.model_id,
                    "role": "class",
                    "name": cls,
                    "kind": "numeric",
                    "column_name": column,
                    "position": position,
                }
            )
            position += 1
        if new_rows:
            conn.execute(T_COLUMNS.insert(), new_rows)

    def get_model_schema(self, model: str) -> ModelSchema | None:
        """The schema the store knows for a model (every feature ever registered), or None."""
        with self._tx("reading a model") as conn:
            layout = self._load_layout(conn, model)
        if layout is None:
            return None
        return ModelSchema(
            name=layout.name,
            features=tuple(FeatureSpec(n, k) for n, (_c, k) in layout.features.items()),  # type: ignore[arg-type]
            task=layout.task,  # type: ignore[arg-type]
            classes=layout.classes or None,
        )
