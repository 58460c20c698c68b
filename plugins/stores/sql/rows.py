"""Prediction records as the rows of their model's table.

A batch is turned into rows column by column with C-level operations (``attrgetter``,
``itemgetter``, ``map``, ``zip``): one pass per column instead of Python code per value. That
path takes the batches the API hands over — every record of a model with the same features
and classes, values of the common types — and gives up on anything else by raising. The batch
is then built again one record at a time (:func:`rows_one_by_one`), which is the definition of
what is stored: it converts every value the same way, and its errors name the record and the
value that does not fit. Both give the same rows for every batch the first one accepts.
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any, cast

import numpy as np

from driftscope import FeatureRow, PredictionBatch, PredictionRecord, StoreError

from .tables import _Layout
from .values import _EPOCH, _MICROSECOND, _category, _class_text, _number, to_micros

_ID = operator.attrgetter("id")
_TIMESTAMP = operator.attrgetter("timestamp")
_FEATURES = operator.attrgetter("features")
_PREDICTION = operator.attrgetter("prediction")
_LABEL = operator.attrgetter("label")
_LATENCY = operator.attrgetter("latency_ms")
_PROBABILITIES = operator.attrgetter("probabilities")
_NAMES = operator.attrgetter("names")
_DATA = operator.attrgetter("data")
_NONE = type(None)
_TEXT_OR_NONE = frozenset({str, _NONE})
_FLOAT_OR_NONE = frozenset({float, _NONE})


#: Fewer records than this are built one by one: the column-wise path's fixed cost (type
#: sets, a transpose, a list per column) outweighs a handful of records (a durable request's
#: one row: 32 us by column, 10 us one by one; even at 6 rows, 40 us to 43 us)
COLUMN_MIN_ROWS = 6


class _StaleLayout(Exception):
    """The cached layout of a model is older than the records being written."""


class _NotCommon(Exception):
    """The batch is not of the shape the column-wise path handles."""


def prediction_rows(
    layout: _Layout, records: Sequence[PredictionRecord], now: int, *, fresh: bool
) -> list[tuple[Any, ...]]:
    """The rows of ``records`` (one model's) in the order of ``layout.write_columns``.

    ``now`` (microseconds) is the ``labelled_at`` of records that carry a label. Raises
    :class:`_StaleLayout` when a record names a feature or class the layout does not know
    and ``fresh`` is false (the caller reloads the layout and calls again), and a
    non-transient :class:`StoreError` naming the record when a value does not fit.
    """
    if isinstance(records, PredictionBatch):
        # a batch it does not take (a name the layout lacks, a value of the wrong kind) is
        # built record by record below, which says what is wrong
        with contextlib.suppress(_NotCommon, TypeError, ValueError, OverflowError):
            return _rows_of_batch(layout, records)
    elif len(records) >= COLUMN_MIN_ROWS:
        # a batch the column path does not take is built record by record, the reference
        with contextlib.suppress(
            _NotCommon, TypeError, ValueError, KeyError, AttributeError, OverflowError
        ):
            return _rows_by_column(layout, records, now)
    return rows_one_by_one(layout, records, now, fresh=fresh)


def _rows_by_column(
    layout: _Layout, records: Sequence[PredictionRecord], now: int
) -> list[tuple[Any, ...]]:
    n = len(records)
    features: list[Mapping[str, Any]] = list(map(_FEATURES, records))
    first = features[0]
    present = [name for name in layout.features if name in first]
    # every record must hold exactly the first one's features, all of them known: the same
    # length, and each name found (a missing one raises KeyError)
    if len(present) != len(first) or len(set(map(len, features))) != 1:
        raise _NotCommon
    columns: list[Iterable[Any]] = [
        list(map(_ID, records)),
        # aware datetimes only (a naive one cannot be subtracted from the epoch: TypeError)
        list(
            map(
                operator.floordiv,
                map(operator.sub, map(_TIMESTAMP, records), repeat(_EPOCH)),
                repeat(_MICROSECOND),
            )
        ),
    ]
    labels = list(map(_LABEL, records))
    if layout.regression:
        columns.append(_numbers(list(map(_PREDICTION, records))))
        columns.append(_numbers(labels))
    else:
        columns.append(_texts(list(map(_PREDICTION, records)), _class_text))
        columns.append(_texts(labels, _class_text))
    if labels.count(None) == n:
        columns.append(repeat(None, n))
    else:
        columns.append([None if label is None else now for label in cast(list[Any], columns[-1])])
    columns.append(_numbers(list(map(_LATENCY, records))))
    columns += _probability_columns(layout, records)
    numeric, categorical = layout.numeric_names, layout.categorical_names
    feature_column = _feature_columns(features)
    for name in numeric:
        if name in first:
            columns.append(_numbers(feature_column(name)))
        else:
            columns.append(repeat(None, n))
    for name in categorical:
        if name in first:
            columns.append(_texts(feature_column(name), _category))
        else:
            columns.append(repeat(None, n))
    return list(zip(*columns, strict=False))


@dataclass(frozen=True)
class _BatchPlan:
    """Where each written column of a layout comes from in batches with given feature
    names and classes: a position in the batch's probabilities or features, or -1 (the
    batch has no such class or feature: NULL)."""

    classes: list[int]
    numeric: list[int]
    categorical: list[int]
    #: every class and numeric feature present, in the batch's order, no categorical one:
    #: the float columns are the batch's arrays side by side, as they are
    as_given: bool


def _batch_plan(layout: _Layout, batch: PredictionBatch) -> _BatchPlan:
    key = (batch.feature_names, batch.classes)
    plan: _BatchPlan | None = layout.batch_plans.get(key)
    if plan is not None:
        return plan
    if not set(layout.features).issuperset(batch.feature_names):
        raise _NotCommon  # a feature the layout lacks: built record by record, which says so
    classes = batch.classes or ()
    if not set(layout.class_names).issuperset(classes):
        raise _NotCommon
    features = FeatureRow.index_of(batch.feature_names)
    where = FeatureRow.index_of(classes)
    plan = _BatchPlan(
        classes=[where.get(c, -1) for c in layout.class_names],
        numeric=[features.get(n, -1) for n in layout.numeric_names],
        categorical=[features.get(n, -1) for n in layout.categorical_names],
        as_given=(
            list(layout.numeric_names) == list(batch.feature_names)
            and not layout.categorical_names
            and list(layout.class_names) == list(classes)
        ),
    )
    layout.batch_plans[key] = plan
    return plan


def _rows_of_batch(layout: _Layout, batch: PredictionBatch) -> list[tuple[Any, ...]]:
    """The rows of a :class:`PredictionBatch`, from its columns: no record is built."""
    plan = _batch_plan(layout, batch)
    n = len(batch)
    stamps = batch.timestamps
    first = stamps[0]
    if stamps.count(first) == n:  # one request's rows: one moment
        micros: Iterable[int] = repeat(to_micros(first), n)
    else:
        by_stamp = {stamp: to_micros(stamp) for stamp in set(stamps)}
        micros = map(by_stamp.__getitem__, stamps)
    predictions = list(batch.predictions)
    heads = zip(
        batch.ids,
        micros,
        _numbers(predictions) if layout.regression else _texts(predictions, _class_text),
        repeat(None),  # label: a batch is what the API predicted, before any feedback
        repeat(None),  # labelled_at
        _numbers(list(batch.latencies)),
    )
    features, probabilities = batch.features, batch.probabilities
    if (
        plan.as_given
        and features.dtype == np.float64
        and (probabilities is None or probabilities.dtype == np.float64)
    ):
        # the common case, the API's: one float array per row, made by numpy
        floats = (
            features if probabilities is None else np.concatenate((probabilities, features), axis=1)
        )
        return list(map(tuple.__add__, heads, map(tuple, floats.tolist())))
    rest: list[Iterable[Any]] = []
    if probabilities is None:
        rest += [repeat(None, n) for _ in plan.classes]
    else:
        by_class = _float_columns(probabilities)
        rest += [by_class[i] if i >= 0 else repeat(None, n) for i in plan.classes]
    by_feature: list[list[Any]] = features.T.tolist()
    exact = features.dtype == np.float64  # tolist() gave floats: nothing to convert
    for i in plan.numeric:
        if i < 0:
            rest.append(repeat(None, n))
        else:
            rest.append(by_feature[i] if exact else _numbers(by_feature[i]))
    for i in plan.categorical:
        rest.append(repeat(None, n) if i < 0 else _texts(by_feature[i], _category))
    if not rest:
        return list(heads)
    return list(map(tuple.__add__, heads, zip(*rest, strict=False)))


def _float_columns(table: np.ndarray) -> list[list[Any]]:
    """The columns of a 2-D array as lists, each value made ``float`` (``None`` kept)."""
    columns: list[list[Any]] = table.T.tolist()
    if table.dtype == np.float64:
        return columns
    return [_numbers(column) for column in columns]


def _feature_columns(features: list[Mapping[str, Any]]) -> Callable[[str], list[Any]]:
    """A function giving one feature's values over the batch. Rows that are all
    :class:`FeatureRow` over the same names (the API's) are transposed once, by position;
    any other mapping is read feature by feature."""
    first = features[0]
    if type(first) is FeatureRow and set(map(type, features)) == {FeatureRow}:
        rows = cast(list[FeatureRow], features)
        if len(set(map(id, map(_NAMES, rows)))) == 1:
            transposed = list(zip(*map(_DATA, rows), strict=True))
            position = {name: i for i, name in enumerate(first.names)}
            return lambda name: list(transposed[position[name]])
    return lambda name: list(map(operator.itemgetter(name), features))


def _probability_columns(
    layout: _Layout, records: Sequence[PredictionRecord]
) -> list[Iterable[Any]]:
    n = len(records)
    classes = layout.class_names
    found: list[Mapping[Any, Any] | None] = list(map(_PROBABILITIES, records))
    if not any(found):
        return [repeat(None, n) for _ in classes]
    if not all(found):
        raise _NotCommon
    everywhere = cast(list[Mapping[Any, Any]], found)
    first = everywhere[0]
    present = [c for c in classes if c in first]
    if len(present) != len(first) or len(set(map(len, everywhere))) != 1:
        raise _NotCommon
    return [
        _numbers(list(map(operator.itemgetter(c), everywhere))) if c in first else repeat(None, n)
        for c in classes
    ]


def _numbers(values: list[Any]) -> list[float | None]:
    """``float(v)``, ``None`` kept (what :func:`_number` does, one column at a time)."""
    if set(map(type, values)) <= _FLOAT_OR_NONE:
        return values
    if None in values:
        return [None if v is None else float(v) for v in values]
    return list(map(float, values))


def _texts(values: list[Any], convert: Callable[[Any], Any]) -> list[Any]:
    """``convert`` applied to each value unless all are text or ``None`` already."""
    kinds = set(map(type, values))
    if kinds <= _TEXT_OR_NONE:
        return values
    if kinds == {int}:  # a classifier's integer classes: str() is what convert gives them
        return list(map(str, values))
    return list(map(convert, values))


def rows_one_by_one(
    layout: _Layout, records: Sequence[PredictionRecord], now: int, *, fresh: bool
) -> list[tuple[Any, ...]]:
    """The rows of ``records``, built record by record: every value converted, every
    unknown name and value that does not fit reported with its record's id."""
    numeric = layout.numeric_names
    categorical = layout.categorical_names
    known = set(layout.features)
    class_names = layout.class_names
    class_set = set(class_names)
    as_label: Any = _number if layout.regression else _class_text
    empty: tuple[Any, ...] = (None,) * len(class_names)
    rows: list[tuple[Any, ...]] = []
    for rec in records:
        feats = rec.features
        if not known.issuperset(feats):
            _unknown(layout, "feature", set(feats) - known, rec.id, fresh)
        probs = rec.probabilities
        if probs:
            if not class_set.issuperset(probs):
                probs = {str(k): v for k, v in probs.items()}
                if not class_set.issuperset(probs):
                    _unknown(layout, "class", set(probs) - class_set, rec.id, fresh)
            prob_values = tuple([_number(probs.get(c)) for c in class_names])
        else:
            prob_values = empty
        try:
            values = [feats.get(n) for n in numeric]
            numbers: list[float | None]
            if None in values:
                numbers = [None if v is None else float(v) for v in values]
            else:  # the common case, kept to one C-level map(float): no None in values
                numbers = list(map(float, cast(list[float | str], values)))
            label = as_label(rec.label)
            rows.append(
                (
                    rec.id,
                    to_micros(rec.timestamp),
                    as_label(rec.prediction),
                    label,
                    None if label is None else now,
                    _number(rec.latency_ms),
                    *prob_values,
                    *numbers,
                    *[_category(feats.get(n)) for n in categorical],
                )
            )
        except (TypeError, ValueError, OverflowError) as exc:
            raise StoreError(
                f"prediction {rec.id!r} of model {layout.name!r} has a value that does "
                f"not fit its column: {exc}",
                transient=False,
            ) from None
    return rows


def _unknown(layout: _Layout, what: str, names: Iterable[Any], record_id: str, fresh: bool) -> None:
    if not fresh:  # another process may have widened the model: reload once
        raise _StaleLayout
    raise StoreError(
        f"prediction {record_id!r} names unknown {what}(s) "
        f"{sorted(map(str, names))} of model {layout.name!r}; register the model again "
        f"with its new {what}s first",
        transient=False,
    )
