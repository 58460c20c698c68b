"""The predict body's fast path and the records it makes.

``RowValidator.decode_numeric`` turns a well-formed body of an all-numeric model into the
model input in one pass; anything else must fall through to the usual path (which names the
problems, see test_api_predict_body.py), so here every body it accepts is checked against
Python's own ``json`` module, and every body it must leave alone is listed. ``FeatureRow``
must behave as the dict it stands for.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from driftscope import FeatureRow, FeatureSpec, ModelSchema, PredictionRecord
from driftscope.core.contracts.store import record_from_payload, record_to_payload
from driftscope.core.serving.validation import RowValidator

NAMES = ("mean radius", "x", "ü 🙂", "")
NUMERIC = ModelSchema("m", tuple(FeatureSpec(n) for n in NAMES), classes=("0", "1"))


def row(values: list[Any]) -> dict[str, Any]:
    return dict(zip(NAMES, values, strict=True))


def oracle(body: bytes) -> np.ndarray:
    """The model input as Python's json module reads the body."""
    data = json.loads(body)
    rows = data["rows"] if "rows" in data else [data["features"]]
    return np.array([[float(r[n]) for n in NAMES] for r in rows], dtype=np.float64)


def test_every_number_json_can_write_decodes_to_the_same_double() -> None:
    rng = np.random.default_rng(7)
    values: list[Any] = [
        0,
        -0.0,
        5e-324,
        2.2250738585072014e-308,
        1.7976931348623157e308,
        -1e308,
        0.1,
        1 / 3,
        2**53 + 1,
        -(2**63),
        10**20,
        123456789,
    ]
    values += rng.normal(scale=1e6, size=200).tolist() + rng.integers(-1e9, 1e9, 200).tolist()
    rows = [row(values[i : i + 4]) for i in range(0, len(values) - 3, 4)]
    validator = RowValidator(NUMERIC)
    for body in (
        json.dumps({"rows": rows}).encode(),
        json.dumps({"features": rows[0]}).encode(),
        json.dumps({"rows": rows[:1]}, indent=2).encode(),
        # exponents and spellings json.dumps does not write
        b'{"rows": [{"mean radius": 1E2, "x": -0.5e-3, "\\u00fc \\ud83d\\ude42": 1.0, "": 7}]}',
    ):
        decoded = validator.decode_numeric(body)
        assert decoded is not None
        matrix, loc = decoded
        assert loc == (("body", "rows") if b'"rows"' in body else ("body", "features"))
        assert matrix.dtype == np.float64
        assert np.array_equal(matrix, oracle(body))
        assert np.array_equal(np.signbit(matrix), np.signbit(oracle(body)))


GOOD = row([1.0, 2.0, 3.0, 4.0])


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"rows": [{**GOOD, "x": True}]}),
        json.dumps({"rows": [{**GOOD, "x": "1.0"}]}),
        json.dumps({"rows": [{**GOOD, "x": None}]}),
        json.dumps({"rows": [{**GOOD, "x": [1.0]}]}),
        json.dumps({"rows": [{k: v for k, v in GOOD.items() if k != "x"}]}),
        json.dumps({"rows": [{**GOOD, "extra": 1.0}]}),
        json.dumps({"rows": [GOOD], "features": GOOD}),
        json.dumps({"rows": [GOOD], "other": 1}),
        json.dumps({}),
        json.dumps({"rows": []}),
        json.dumps({"rows": None}),
        json.dumps({"features": None}),
        json.dumps({"rows": [GOOD, 1]}),
        json.dumps({"rows": GOOD}),
        json.dumps([GOOD]),
        '{"rows": [{"mean radius": NaN, "x": 1, "\\u00fc \\ud83d\\ude42": 1, "": 1}]}',
        '{"rows": [{"mean radius": Infinity, "x": 1, "\\u00fc \\ud83d\\ude42": 1, "": 1}]}',
        '{"rows": [{"mean radius": 1e999, "x": 1, "\\u00fc \\ud83d\\ude42": 1, "": 1}]}',
        '{"rows": [{"mean radius": 1' + "0" * 400 + ', "x": 1, "\\u00fc \\ud83d\\ude42": 1, '
        '"": 1}]}',
        '{"rows": [',
        "",
        "\xff",
    ],
)
def test_anything_but_a_well_formed_body_is_left_to_the_usual_path(body: str) -> None:
    assert RowValidator(NUMERIC).decode_numeric(body.encode("utf-8", "surrogatepass")) is None


def test_a_model_with_a_categorical_feature_is_never_decoded_ahead() -> None:
    mixed = ModelSchema("c", (FeatureSpec("x"), FeatureSpec("colour", "categorical")))
    body = json.dumps({"features": {"x": 1.0, "colour": "red"}}).encode()
    assert RowValidator(mixed).decode_numeric(body) is None


@pytest.mark.parametrize("name", ['say "hi"', "back\\slash", "tab\there", "nul\x00"])
def test_a_name_msgspec_cannot_match_leaves_every_body_to_the_usual_path(name: str) -> None:
    schema = ModelSchema("odd", (FeatureSpec("x"), FeatureSpec(name)))
    body = json.dumps({"features": {"x": 1.0, name: 2.0}}).encode()
    validator = RowValidator(schema)
    assert validator.decode_numeric(body) is None
    assert validator.matrix([{"x": 1.0, name: 2.0}], ("body", "features")).tolist() == [[1, 2]]


def test_a_feature_row_is_the_mapping_it_stands_for() -> None:
    names = ("a", "b", "c")
    index = FeatureRow.index_of(names)
    shared = FeatureRow(names, [1.0, "red", None], index)
    plain = {"a": 1.0, "b": "red", "c": None}
    assert shared == plain and plain == shared
    assert dict(shared) == plain and list(shared) == list(names) and len(shared) == 3
    assert shared["b"] == "red" and shared.get("missing") is None and "c" in shared
    assert "missing" not in shared
    assert list(shared.values()) == [1.0, "red", None]
    assert FeatureRow(names, [1.0, "red", None]) == shared  # its own index
    assert repr(shared) == "FeatureRow({'a': 1.0, 'b': 'red', 'c': None})"
    with pytest.raises(KeyError):
        shared["missing"]
    with pytest.raises(ValueError, match="3 feature names but 2 values"):
        FeatureRow(names, [1.0, 2.0])
    # a dead letter keeps it exactly, as the dict it is equal to
    record = PredictionRecord("i", "m", _now(), FeatureRow(names, [math.nan, "\ud800", None]), "1")
    back = record_from_payload(record_to_payload(record))
    assert math.isnan(back.features["a"]) and back.features["b"] == "\ud800"  # type: ignore[arg-type]
    assert back.features["c"] is None


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 1, 1, tzinfo=UTC)
