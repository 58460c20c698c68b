"""Checking request rows and values against a model's schema, before anything is scored or
logged.

Rows are validated by hand rather than through a per-request pydantic model because single-row
predict latency matters (the demo model scores a row in under a millisecond): a batch of
well-formed numeric rows takes a fast path (key-set comparison, a type check, one
``np.array`` call, one ``isfinite``), and only a batch that fails it is walked field by field
to name every problem with its row.

What every store can hold (NUL characters, lone surrogates, text lengths, time range) is
defined once in :mod:`driftscope.core.validation`; this module applies it to the values of
prediction rows, logged records and labels. Each ``clean_*``/``check_*`` function appends
the :class:`Problem` it finds to a list, so one request's problems are all named at once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import Any

import msgspec
import numpy as np
from msgspec.structs import astuple

from driftscope.core.contracts.store import FeatureRow, ModelSchema
from driftscope.core.monitoring.model_loading import class_label
from driftscope.core.validation import (
    MAX_ID_CHARS,
    MAX_LABEL_CHARS,
    Problem,
    RequestValidationFailed,
    as_utc,
    shown,
    text_problem,
    time_problem,
)

# characters msgspec refuses in the key a struct field is renamed to
_UNMATCHABLE = re.compile(r'[\\"\x00-\x1f]')
# a 10,000-row batch of bad rows would otherwise answer with 300,000 problems
MAX_PROBLEMS = 1000
_NUMBER_TYPES = frozenset({int, float})


def type_name(value: Any) -> str:
    """The JSON type of ``value`` as an error message names it."""
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
        self.index = FeatureRow.index_of(self.names)
        self.kinds = {f.name: f.kind for f in schema.features}
        self.all_numeric = all(f.kind == "numeric" for f in schema.features)
        getter = itemgetter(*self.names)
        self._values: Callable[[dict[str, Any]], tuple[Any, ...]] = (
            getter if len(self.names) > 1 else (lambda row: (getter(row),))
        )
        self._body_decoder = _numeric_body_decoder(self.names) if self.all_numeric else None

    def decode_numeric(self, body: bytes) -> tuple[np.ndarray, tuple[str, ...]] | None:
        """An all-numeric model's predict body decoded and checked in one pass: the model
        input and where its rows are in the body (as :func:`parse_predict_body` names them),
        or ``None`` when the body is anything else than exactly one of ``features`` (a row)
        or ``rows`` (a non-empty array of rows) whose rows give a finite JSON number for
        each feature and nothing more. The usual path then parses it again and names every
        problem, so this only decides how fast a good body goes, never what is accepted.
        """
        if self._body_decoder is None:
            return None
        try:
            envelope = self._body_decoder.decode(body)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None
        rows, features = envelope.rows, envelope.features
        if features is msgspec.UNSET:
            if rows is msgspec.UNSET or not rows:
                return None
            loc: tuple[str, ...] = ("body", "rows")
        elif rows is msgspec.UNSET:
            rows, loc = [features], ("body", "features")
        else:
            return None
        out = np.array(list(map(astuple, rows)), dtype=np.float64)
        if not np.isfinite(out).all():  # a number past a double's range reads as infinity
            return None
        return out, loc

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
                        f"expected an object of feature values, got {type_name(row)}",
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
            if isinstance(value, str):
                return ("number_type", numeric_text_problem(value))
            if type(value) is bool or not isinstance(value, int | float):
                return ("number_type", f"expected a number, got {type_name(value)}")
            try:
                finite = math.isfinite(float(value))
            except OverflowError:
                finite = False
            if not finite:
                return ("finite_number", f"expected a finite number, got {value!r}")
            return None
        if not isinstance(value, str):
            return ("string_type", f"expected a string (categorical), got {type_name(value)}")
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


def _numeric_body_decoder(names: Sequence[str]) -> msgspec.json.Decoder[Any] | None:
    """A decoder of ``{"features": ROW}`` or ``{"rows": [ROW, ...]}`` whose ROW is an object
    with exactly a number (not a boolean, string or null) for each of ``names``; ``None``
    when a name has a character msgspec cannot match a key on (a backslash, a double quote,
    a control character): such a model's bodies all take the usual path."""
    if any(_UNMATCHABLE.search(name) for name in names):
        return None
    fields = [f"f{i}" for i in range(len(names))]
    row = msgspec.defstruct(
        "PredictRow",
        [(field, float) for field in fields],
        rename=dict(zip(fields, names, strict=True)),
        forbid_unknown_fields=True,
        gc=False,
    )
    envelope = msgspec.defstruct(
        "PredictBody",
        [
            ("features", row | msgspec.UnsetType, msgspec.UNSET),
            ("rows", list[row] | msgspec.UnsetType, msgspec.UNSET),  # type: ignore[valid-type]
        ],
        forbid_unknown_fields=True,
    )
    return msgspec.json.Decoder(envelope)


def numeric_text_problem(value: str) -> str:
    """Why text is refused for a numeric feature, with the number to send instead when the
    text reads as one.

    Numbers in text are not converted: which of "14,2", "1e3", " 14.2" or "0x10" would be
    a number is a guess, and a client that sends numbers as text has a bug the data-quality
    figures should not hide.
    """
    message = (
        f"expected a JSON number, got the string {shown(value)}: numeric features do not take "
        "text, even text that reads as a number"
    )
    try:
        number = float(value)
    except ValueError:
        return message
    if not math.isfinite(number):
        return message
    text = str(int(number)) if number.is_integer() and abs(number) < 2**53 else repr(number)
    return f"{message} (send {text}, not {shown(value)})"


def clean_label(
    schema: ModelSchema, value: Any, loc: tuple[str | int, ...], problems: list[Problem]
) -> Any:
    """A prediction or label in the store's form: class text, or a finite float."""
    if schema.task == "regression":
        if type(value) is bool or not isinstance(value, int | float):
            problems.append(Problem(loc, f"expected a number, got {type_name(value)}", "number"))
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
            Problem(loc, f"expected a class label, got {type_name(value)}", "class_label")
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


@lru_cache(maxsize=256)
def _class_set(classes: tuple[str, ...]) -> frozenset[str]:
    return frozenset(classes)


def check_class(
    schema: ModelSchema, value: Any, loc: tuple[str | int, ...], problems: list[Problem]
) -> Any:
    """A ground-truth label as :func:`clean_label` gives it, which for a classifier must
    also be one of the model's classes (compared as text: ``1``, ``1.0`` and ``"1"`` are
    one class)."""
    label = clean_label(schema, value, loc, problems)
    classes = schema.classes
    if label is None or schema.task != "classification" or not classes:
        return label
    if label in _class_set(classes):
        return label
    problems.append(
        Problem(
            loc,
            f"{shown(label)} is not one of the model's classes: "
            f"{', '.join(shown(c) for c in classes)}",
            "unknown_class",
            field=str(loc[-1]),
        )
    )
    return None


def check_id(value: Any, loc: tuple[str | int, ...], problems: list[Problem]) -> None:
    """A prediction id must be text the store can key on."""
    if not isinstance(value, str) or not value:
        problems.append(Problem(loc, "expected a non-empty string id", "string_type", field="id"))
        return
    problem = text_problem(value, MAX_ID_CHARS)
    if problem is not None:
        problems.append(Problem(loc, problem[1], problem[0], field="id"))


def clean_timestamp(
    value: datetime | None, now: datetime, loc: tuple[str | int, ...], problems: list[Problem]
) -> datetime:
    """A logged record's time as aware UTC (none means ``now``, naive means UTC); ``now``
    when no store could hold it."""
    timestamp = value or now
    problem = time_problem(timestamp)
    if problem is not None:
        problems.append(Problem(loc, problem[1], problem[0], field="timestamp"))
        return now
    return as_utc(timestamp)


def clean_probabilities(
    schema: ModelSchema,
    classes: set[str],
    value: Any,
    loc: tuple[str | int, ...],
    problems: list[Problem],
) -> dict[str, float] | None:
    """Logged class probabilities keyed by class label, each between 0 and 1; ``None`` when
    the whole value is refused."""
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
