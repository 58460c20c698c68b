"""What ``write_predictions`` stores, row for row, read back with the bare driver.

The store builds a batch's rows column by column when the batch has one shape and common
types, and record by record otherwise; SQLite inserts by ``executemany``, PostgreSQL by
binary ``COPY`` (again by ``INSERT ... ON CONFLICT DO NOTHING`` when an id is known). Each
test writes records through the store, reads the model's table with plain ``sqlite3`` or
``psycopg``, and compares it with rows computed here from the records by the store's
documented rules (:func:`expected_row`), never by the store's own code: times as UTC
microseconds, numbers as floats (``None`` as NULL; NaN as NULL on SQLite, which has no NaN,
and as NaN on PostgreSQL; infinities kept), a classifier's labels and categories as text
(``3`` and ``3.0`` as ``"3"``, NaN as NULL), ``labelled_at`` the store's clock when a label
is given.
"""

from __future__ import annotations

import calendar
import math
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import psycopg
import pytest
from conftest import _psycopg_dsn
from pydantic import SecretStr
from test_scale_out import _with_app_name, terminate

from driftscope import (
    FeatureRow,
    FeatureSpec,
    ModelSchema,
    PredictionBatch,
    PredictionRecord,
    StoreError,
    StoreSettings,
)
from driftscope.plugins.stores.sql import SQLStore

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NOW = datetime(2024, 6, 1, 8, 30, 15, 123456, tzinfo=UTC)  # the store's clock
CLASSES = ("a", "b", "c")
CLASSIFIER = ModelSchema(
    "clf",
    (
        FeatureSpec("x"),
        FeatureSpec("y"),
        FeatureSpec("z"),
        FeatureSpec("colour", "categorical"),
        FeatureSpec("city", "categorical"),
    ),
    "classification",
    CLASSES,
)
REGRESSOR = ModelSchema("reg", (FeatureSpec("x"), FeatureSpec("city", "categorical")), "regression")
UNICODE = ["café", "日本語", "🙂 ok", "Ünïcödé", "ß", ""]


@dataclass
class Backend:
    """A store on a fresh database, and the bare driver's reading of the same database."""

    name: str
    url: str
    store: SQLStore
    query: Callable[[str], list[tuple[Any, ...]]]

    def table(self, model: str) -> tuple[str, dict[str, str]]:
        """The model's table, and the physical column of each feature and class (read from
        the store's own ``models`` and ``model_columns`` tables)."""
        [(model_id, table)] = self.query(
            f"SELECT id, table_name FROM models WHERE name = '{model}'"
        )
        columns = self.query(
            f"SELECT role, name, column_name FROM model_columns WHERE model_id = {model_id}"
        )
        return table, {f"{role}:{name}": column for role, name, column in columns}

    def stored(self, model: str) -> dict[str, dict[str, Any]]:
        """Every stored row of ``model`` by id, with logical names for the columns:
        ``feature:x``, ``class:a`` and the fixed ``ts``, ``prediction`` ..."""
        table, physical = self.table(model)
        logical = {column: name for name, column in physical.items()}
        fixed = ["id", "ts", "prediction", "label", "labelled_at", "latency_ms"]
        names = fixed + list(logical)
        rows = self.query(f"SELECT {', '.join(names)} FROM {table}")
        keys = fixed + [logical[c] for c in logical]
        return {row[0]: dict(zip(keys, row, strict=True)) for row in rows}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "sqlite":
        url = request.getfixturevalue("sqlite_url")
        path = url.removeprefix("sqlite:///")

        def query(sql: str) -> list[tuple[Any, ...]]:
            with closing(sqlite3.connect(path)) as conn:
                return conn.execute(sql).fetchall()

    else:
        url = request.getfixturevalue("postgres_url")

        def query(sql: str) -> list[tuple[Any, ...]]:
            with psycopg.connect(_psycopg_dsn(url)) as conn:
                return conn.execute(sql).fetchall()

    store = SQLStore(StoreSettings(url=SecretStr(url)), clock=lambda: NOW)
    store.open()
    store.register_model(CLASSIFIER)
    store.register_model(REGRESSOR)
    try:
        yield Backend(request.param, url, store, query)
    finally:
        store.close()


# -- the oracle ------------------------------------------------------------------------------------
def micros(t: datetime) -> int:
    """Microseconds since the epoch; a naive time is UTC."""
    aware = t if t.tzinfo is not None else t.replace(tzinfo=UTC)
    return calendar.timegm(aware.utctimetuple()) * 1_000_000 + aware.microsecond


def text(value: Any) -> str | None:
    """A classifier's label or a category as stored text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "True" if value else "False"
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return None
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return str(int(value))


def real(value: Any, backend: str) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) and backend == "sqlite" else number


def expected_row(rec: PredictionRecord, schema: ModelSchema, backend: str) -> dict[str, Any]:
    regression = schema.task == "regression"
    label = real(rec.label, backend) if regression else text(rec.label)
    stored_label_is_null = rec.label is None or (not regression and label is None)
    row: dict[str, Any] = {
        "id": rec.id,
        "ts": micros(rec.timestamp),
        "prediction": real(rec.prediction, backend) if regression else text(rec.prediction),
        "label": label,
        "labelled_at": None if stored_label_is_null else micros(NOW),
        "latency_ms": real(rec.latency_ms, backend),
    }
    for cls in schema.classes or ():
        probabilities = {str(k): v for k, v in (rec.probabilities or {}).items()}
        row[f"class:{cls}"] = real(probabilities.get(cls), backend)
    for spec in schema.features:
        value = rec.features.get(spec.name)
        if spec.kind == "numeric":
            row[f"feature:{spec.name}"] = real(value, backend)
        else:
            row[f"feature:{spec.name}"] = text(value)
    return row


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def assert_stored(
    backend: Backend, schema: ModelSchema, records: Sequence[PredictionRecord]
) -> None:
    """The model's table holds exactly ``records`` (the first of each id), value for value."""
    first: dict[str, PredictionRecord] = {}
    for rec in records:
        first.setdefault(rec.id, rec)
    stored = backend.stored(schema.name)
    assert sorted(stored) == sorted(first)
    for record_id, rec in first.items():
        want = expected_row(rec, schema, backend.name)
        got = stored[record_id]
        wrong = {k: (got[k], v) for k, v in want.items() if not same(got[k], v)}
        assert not wrong, f"record {record_id!r}: (stored, expected) {wrong}"


# -- records ---------------------------------------------------------------------------------------
def common_batch(n: int, first: int = 0, prefix: str = "r") -> list[PredictionRecord]:
    """What the API hands over: every feature, every class, floats and str, aware times,
    with NaN, None, infinities and unicode categories sprinkled in."""
    rng = np.random.default_rng(first)
    records = []
    for i in range(first, first + n):
        x, y, z = rng.normal(size=3).tolist()
        if i % 7 == 0:
            x = math.nan
        if i % 11 == 0:
            y = None
        if i % 13 == 0:
            z = math.inf if i % 2 else -math.inf
        p = rng.dirichlet(np.ones(3)).tolist()
        records.append(
            PredictionRecord(
                id=f"{prefix}{i:04d}",
                model="clf",
                timestamp=T0 + timedelta(milliseconds=i),
                features={
                    "x": x,
                    "y": y,
                    "z": z,
                    "colour": UNICODE[i % len(UNICODE)] if i % 5 else None,
                    "city": ["Zürich", "Oslo", "São Paulo"][i % 3],
                },
                prediction=CLASSES[i % 3],
                probabilities=dict(zip(CLASSES, p, strict=True)),
                latency_ms=1.25 + i if i % 4 == 0 else None,
                label=CLASSES[(i + 1) % 3] if i % 9 == 0 else None,
            )
        )
    return records


def odd_batch(first: int = 1000) -> list[PredictionRecord]:
    """Everything else a record may carry: numpy scalars, ints, bools, numeric strings,
    numbers as categories, integer classes, naive and non-UTC times, a missing feature,
    missing or integer-keyed probabilities, NaN labels."""
    plus_two = timezone(timedelta(hours=2))
    values: list[dict[str, Any]] = [
        {"features": {"x": np.float32(2.5), "y": 7, "z": True, "colour": 3, "city": 3.0}},
        {"features": {"x": "1.5", "y": " -2e3 ", "z": np.int64(4), "colour": np.nan}},
        {"features": {"x": np.float64(0.1), "y": False, "colour": "x", "city": 0.5}},
        {"prediction": 1, "label": 2.0, "timestamp": datetime(2024, 5, 1, 12, 0, 1)},
        {"prediction": np.int64(2), "label": math.nan, "timestamp": T0.astimezone(plus_two)},
        {"prediction": True, "label": np.float64(1.5), "probabilities": None},
        {"probabilities": {"a": np.float32(0.25), "b": 0.75}},
        {"probabilities": {"a": 0.5, "b": 0.5, "c": None}},
        {"latency_ms": 3, "probabilities": {}},
        {"latency_ms": np.float32(0.5), "features": {"x": None, "y": None, "z": None}},
    ]
    records = []
    for i, change in enumerate(values):
        rec = PredictionRecord(
            id=f"o{first + i}",
            model="clf",
            timestamp=T0 + timedelta(seconds=10 + i),
            features={"x": 1.0, "y": 2.0, "z": 3.0, "colour": "red", "city": "Oslo"},
            prediction="a",
            probabilities={"a": 0.2, "b": 0.3, "c": 0.5},
        )
        records.append(replace(rec, **change))
    return records


# -- tests -----------------------------------------------------------------------------------------
def test_a_batch_of_one_shape_is_stored_value_for_value(backend: Backend) -> None:
    records = common_batch(300)
    assert backend.store.write_predictions(records) == 300
    assert_stored(backend, CLASSIFIER, records)


def test_records_of_every_other_shape_are_stored_value_for_value(backend: Backend) -> None:
    odd = odd_batch()
    assert backend.store.write_predictions(odd) == len(odd)
    # a model with integer classes: predictions and labels come as ints (numpy's tolist())
    integers = common_batch(20, first=4000, prefix="i")
    for i, rec in enumerate(integers):
        rec.prediction = i % 3
        rec.label = (i + 1) % 3 if i % 4 == 0 else None
    # a batch whose records all lack one feature, and one where only some lack it
    without_z = common_batch(20, first=2000, prefix="w")
    for rec in without_z:
        rec.features = {k: v for k, v in rec.features.items() if k != "z"}
    assert backend.store.write_predictions(without_z) == 20
    ragged = common_batch(20, first=3000, prefix="g")
    del ragged[5].features["colour"]
    assert backend.store.write_predictions(ragged) == 20
    assert backend.store.write_predictions(integers) == 20
    assert_stored(backend, CLASSIFIER, odd + integers + without_z + ragged)


def test_regression_rows_are_stored_value_for_value(backend: Backend) -> None:
    records = [
        PredictionRecord(
            f"h{i}",
            "reg",
            T0 + timedelta(seconds=i),
            {"x": [1.0, None, math.nan, -math.inf, 4][i % 5], "city": UNICODE[i % 6]},
            [0.5, math.nan, 7, "2.25", np.float32(1.5)][i % 5],
            latency_ms=None,
            label=[None, 3.5, math.nan, "4"][i % 4],
        )
        for i in range(40)
    ]
    assert backend.store.write_predictions(records) == 40
    assert_stored(backend, REGRESSOR, records)


def test_duplicate_ids_in_a_batch_and_across_batches_keep_the_first(backend: Backend) -> None:
    first = common_batch(50)
    assert backend.store.write_predictions(first) == 50
    again = common_batch(10, first=45, prefix="r")  # r0045..r0049 are stored already
    for rec in again:
        rec.features["x"] = -1.0  # so a row that was overwritten would show it
    twice = common_batch(5, first=100, prefix="d")
    twice[3] = replace(twice[1], prediction="c", latency_ms=99.0)  # d0101 twice in one batch
    batch = again + twice
    assert backend.store.write_predictions(batch) == 5 + 4
    assert backend.store.write_predictions(batch) == 0  # the whole batch retried
    # a batch large enough for SQLite's multi-row statements: a known id in the first
    # chunk, an id twice across two chunks
    large = common_batch(300, first=1000, prefix="L")
    large[10] = replace(first[0], latency_ms=77.0)
    large[290] = replace(large[3], prediction="b")
    assert backend.store.write_predictions(large) == 298
    assert_stored(backend, CLASSIFIER, first + batch + large)


@pytest.mark.parametrize("rows", [256, 300, 513, 1_100])
def test_a_large_batch_is_stored_once_row_for_row_whatever_its_last_row(
    backend: Backend, rows: int
) -> None:
    """SQLite fills a large batch's last multi-row statement with copies of its last row,
    which its conflict clause skips: each row is stored once and counted once, whether the
    last row is new, known, or given twice in the batch."""
    known = common_batch(3, first=90_000, prefix="k")
    assert backend.store.write_predictions(known) == 3
    new_last = common_batch(rows, first=10_000)
    assert backend.store.write_predictions(new_last) == rows
    known_last = common_batch(rows, first=20_000)
    known_last[-1] = replace(known[1], latency_ms=5.0)
    assert backend.store.write_predictions(known_last) == rows - 1
    twice_last = common_batch(rows, first=30_000)
    twice_last[-1] = replace(twice_last[0], prediction="c")
    assert backend.store.write_predictions(twice_last) == rows - 1
    assert_stored(backend, CLASSIFIER, known + new_last + known_last + twice_last)


def test_a_batch_of_two_models_with_a_known_id_in_the_second(backend: Backend) -> None:
    known = PredictionRecord("k1", "reg", T0, {"x": 1.0, "city": "a"}, 1.0)
    assert backend.store.write_predictions([known]) == 1
    clf = common_batch(30)
    reg = [replace(known, features={"x": 2.0, "city": "b"})] + [
        PredictionRecord(f"k{i}", "reg", T0 + timedelta(seconds=i), {"x": i, "city": "c"}, i)
        for i in range(2, 12)
    ]
    assert backend.store.write_predictions(clf + reg) == 30 + 10
    assert_stored(backend, CLASSIFIER, clf)
    assert_stored(backend, REGRESSOR, [known, *reg])


def test_an_id_that_is_not_text_is_stored_as_its_text(backend: Backend) -> None:
    """Outside the record's contract (ids are text), kept as it was before COPY: a batch
    holding one is inserted by the statement that binds it, and the column keeps its text."""
    batch = common_batch(5)
    batch[2].id = 77  # type: ignore[assignment]
    assert backend.store.write_predictions(batch) == 5
    assert sorted(backend.stored("clf")) == sorted(["77", *(r.id for r in batch if r.id != 77)])


@pytest.mark.parametrize(
    ("field", "bad", "what"),
    [
        ("x", "not a number", "could not convert string to float"),
        ("y", [1.0], "not 'list'"),
        ("y", 10**400, "too large"),
        ("latency_ms", "slow", "could not convert string to float"),
    ],
)
def test_a_bad_value_mid_batch_fails_the_batch_naming_its_record(
    backend: Backend, field: str, bad: Any, what: str
) -> None:
    stored = common_batch(10, first=500, prefix="s")
    backend.store.write_predictions(stored)
    batch = common_batch(100)
    if field == "latency_ms":
        batch[50].latency_ms = bad
    else:
        batch[50].features[field] = bad
    with pytest.raises(StoreError) as refused:
        backend.store.write_predictions(batch)
    assert refused.value.transient is False
    assert "'r0050'" in str(refused.value) and what in str(refused.value)
    assert sorted(backend.stored("clf")) == sorted(r.id for r in stored)  # none of the batch


def test_feature_rows_as_the_api_makes_them_are_stored_value_for_value(
    backend: Backend,
) -> None:
    """The API's records hold FeatureRows sharing one names tuple, read by position; rows in
    another order, over other tuples or mixed with dicts take the mapping path."""
    names = ("x", "y", "z", "colour", "city")
    index = FeatureRow.index_of(names)

    def as_rows(records: list[PredictionRecord], order: tuple[str, ...]) -> None:
        shared = FeatureRow.index_of(order)
        for rec in records:
            rec.features = FeatureRow(order, [rec.features[n] for n in order], shared)

    api = common_batch(200, first=5000, prefix="api")
    for i, rec in enumerate(api):
        values = [[1.5, -math.inf, math.nan, 0.0][i % 4], 2.0, float(i), "red", UNICODE[i % 6]]
        rec.features = FeatureRow(names, values, index)
    reordered = common_batch(30, first=6000, prefix="rev")
    as_rows(reordered, tuple(reversed(names)))
    mixed = common_batch(30, first=7000, prefix="mix")
    as_rows(mixed[::2], names)
    unshared = common_batch(30, first=8000, prefix="own")
    for rec in unshared:  # equal names, but a tuple of their own for each row
        rec.features = FeatureRow(tuple(list(names)), [rec.features[n] for n in names])
    for batch in (api, reordered, mixed, unshared):
        assert backend.store.write_predictions(batch) == len(batch)
    assert_stored(backend, CLASSIFIER, api + reordered + mixed + unshared)


@pytest.mark.parametrize("seed", range(4))
def test_random_mixes_of_shapes_are_stored_value_for_value(backend: Backend, seed: int) -> None:
    """Batches drawn from the common and the odd shapes, in random sizes and orders."""
    rng = np.random.default_rng(seed)
    pool = common_batch(120, first=seed * 1000, prefix=f"m{seed}-") + odd_batch(
        first=seed * 1000 + 900
    )
    written: list[PredictionRecord] = []
    while pool:
        take = int(rng.integers(1, 40))
        picks = sorted(rng.choice(len(pool), size=min(take, len(pool)), replace=False))[::-1]
        batch = [pool.pop(int(i)) for i in picks]
        if rng.random() < 0.3 and written:  # a known id among them
            batch.append(written[int(rng.integers(len(written)))])
        new = len({r.id for r in batch} - {r.id for r in written})
        assert backend.store.write_predictions(batch) == new
        written += batch
    assert_stored(backend, CLASSIFIER, written)


@pytest.mark.postgres
def test_a_write_on_a_connection_the_server_dropped_is_transient_then_written(
    postgres_url: str,
) -> None:
    """A write may reuse a connection given back moments ago without pinging it first: if
    the server dropped it meanwhile, the write fails as transient (the log writer retries)
    and the broken connection leaves the pool, so the retry writes the batch."""
    name = f"ds-drop-write-{uuid.uuid4().hex[:8]}"
    store = SQLStore(StoreSettings(url=SecretStr(_with_app_name(postgres_url, name))))
    store.open()
    try:
        store.register_model(CLASSIFIER)
        assert store.write_predictions(common_batch(10)) == 10
        assert terminate(postgres_url, name) >= 1
        batch = common_batch(10, first=10)
        try:
            written = store.write_predictions(batch)
        except StoreError as exc:
            assert exc.transient is True, exc
            written = store.write_predictions(batch)
        assert written == 10
        assert store.count_predictions("clf", T0, T0 + timedelta(hours=1)) == (20, 3)
    finally:
        store.close()


# -- PredictionBatch: the API's predictions held by column -----------------------------------------
NUMERIC = ModelSchema(
    "num", (FeatureSpec("x"), FeatureSpec("y"), FeatureSpec("z")), "classification", CLASSES
)


def batch_and_records(
    model: str,
    names: tuple[str, ...],
    features: list[list[Any]],
    *,
    classes: tuple[str, ...] | None = CLASSES,
    prefix: str,
    at: datetime = T0,
    dtype: Any = np.float64,
) -> tuple[PredictionBatch, list[PredictionRecord]]:
    """A batch over ``features`` (rows in ``names`` order) and, made here from the same
    values and not from the batch, the records it stands for."""
    n = len(features)
    rng = np.random.default_rng(len(prefix) + n)
    ids = [f"{prefix}{i:04d}" for i in range(n)]
    predictions: list[Any] = (
        [CLASSES[i % 3] for i in range(n)] if classes is not None else [0.5 * i for i in range(n)]
    )
    proba = None if classes is None else rng.dirichlet(np.ones(len(classes)), size=n)
    latencies: list[float | None] = [None] * n
    latencies[0] = 2.5
    table = np.empty((n, len(names)), dtype=dtype)
    table[:] = features
    batch = PredictionBatch(
        model,
        ids,
        [at] * n,
        names,
        table,
        predictions,
        classes=classes,
        probabilities=proba,
        latencies=latencies,
    )
    records = [
        PredictionRecord(
            id=ids[i],
            model=model,
            timestamp=at,
            features=dict(zip(names, features[i], strict=True)),
            prediction=predictions[i],
            probabilities=(
                None if proba is None else dict(zip(classes or (), proba[i].tolist(), strict=True))
            ),
            latency_ms=latencies[i],
        )
        for i in range(n)
    ]
    return batch, records


def numeric_rows(n: int, seed: int) -> list[list[Any]]:
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(n, 3)).tolist()
    for i, row in enumerate(rows):
        if i % 5 == 0:
            row[i % 3] = [math.nan, math.inf, -math.inf][i % 3]
    return rows


@pytest.mark.parametrize("n", [1, 7, 300])
def test_prediction_batches_as_the_api_makes_them_are_stored_value_for_value(
    backend: Backend, n: int
) -> None:
    """Float features in the schema's order with every class (the API's numeric model), in
    another order, and with a class missing; one row (a durable request) to a batch past a
    multi-row statement."""
    store = backend.store
    store.register_model(NUMERIC)
    given, given_records = batch_and_records(
        "num", ("x", "y", "z"), numeric_rows(n, 1), prefix="given"
    )
    rows = numeric_rows(n, 2)
    reordered, reordered_records = batch_and_records(
        "num", ("z", "x", "y"), [[r[2], r[0], r[1]] for r in rows], prefix="order"
    )
    fewer, fewer_records = batch_and_records(
        "num", ("x", "y", "z"), numeric_rows(n, 3), classes=("c", "a"), prefix="fewer"
    )
    for batch in (given, reordered, fewer):
        assert store.write_predictions(batch) == n
    assert_stored(backend, NUMERIC, given_records + reordered_records + fewer_records)


def test_prediction_batches_with_categories_and_joined_batches_are_stored_value_for_value(
    backend: Backend,
) -> None:
    """Object arrays (a model with a categorical feature: numbers may be ints there), a
    regressor's, and batches of several requests joined into one, each at its own time."""
    store = backend.store
    names = ("city", "x", "colour", "y", "z")
    rows = [
        [["Oslo", "Zürich", None][i % 3], i, UNICODE[i % 6], 0.5 * i, [1, math.nan][i % 2]]
        for i in range(40)
    ]
    mixed, mixed_records = batch_and_records("clf", names, rows, prefix="cat", dtype=object)
    regression, regression_records = batch_and_records(
        "reg",
        ("x", "city"),
        [[float(i), "Oslo"] for i in range(9)],
        classes=None,
        prefix="regr",
        dtype=object,
    )
    parts = [
        batch_and_records(
            "clf",
            names,
            rows[k : k + 5],
            prefix=f"part{k}-",
            dtype=object,
            at=T0 + timedelta(seconds=k),
        )
        for k in (0, 5, 10)
    ]
    joined = PredictionBatch.join([batch for batch, _ in parts])
    assert isinstance(joined, PredictionBatch) and len(joined) == 15
    assert store.write_predictions(mixed) == 40
    assert store.write_predictions(regression) == 9
    assert store.write_predictions(joined) == 15
    joined_records = [rec for _, records in parts for rec in records]
    assert_stored(backend, CLASSIFIER, mixed_records + joined_records)
    assert_stored(backend, REGRESSOR, regression_records)


def test_a_prediction_batch_naming_an_unknown_feature_is_refused_naming_a_record(
    backend: Backend,
) -> None:
    batch, _ = batch_and_records("num", ("x", "y", "w"), numeric_rows(3, 4), prefix="unk")
    backend.store.register_model(NUMERIC)
    with pytest.raises(StoreError, match=r"unk0000.*unknown feature.*'w'"):
        backend.store.write_predictions(batch)
    assert backend.stored("num") == {}
