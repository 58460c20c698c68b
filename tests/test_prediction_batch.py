"""``PredictionBatch``: the API's predictions held by column, a sequence of records.

Each record a batch gives is compared with one made here from the same values; joining
keeps a batch only when every part has the same model, features, classes and dtype.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from driftscope import FeatureRow, PredictionBatch, PredictionRecord

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NAMES = ("x", "y")
CLASSES = ("no", "yes")


def batch(n: int = 3, *, start: int = 0, at: datetime = T0, **changes: object) -> PredictionBatch:
    values = {
        "model": "m",
        "ids": [f"id{start + i}" for i in range(n)],
        "timestamps": [at] * n,
        "feature_names": NAMES,
        "features": np.arange(start * 2, (start + n) * 2, dtype=np.float64).reshape(n, 2),
        "predictions": [CLASSES[i % 2] for i in range(n)],
        "classes": CLASSES,
        "probabilities": np.array([[0.25, 0.75]] * n),
        "latencies": [1.5] + [None] * (n - 1),
    }
    values.update(changes)
    return PredictionBatch(
        values.pop("model"),  # type: ignore[arg-type]
        values.pop("ids"),  # type: ignore[arg-type]
        values.pop("timestamps"),  # type: ignore[arg-type]
        values.pop("feature_names"),  # type: ignore[arg-type]
        values.pop("features"),  # type: ignore[arg-type]
        values.pop("predictions"),  # type: ignore[arg-type]
        **values,  # type: ignore[arg-type]
    )


def test_each_row_is_the_record_of_its_values() -> None:
    rows = batch(3)
    assert len(rows) == 3
    assert rows[1] == PredictionRecord(
        id="id1",
        model="m",
        timestamp=T0,
        features={"x": 2.0, "y": 3.0},
        prediction="yes",
        probabilities={"no": 0.25, "yes": 0.75},
        latency_ms=None,
    )
    assert rows[-1].id == "id2" and rows[0].latency_ms == 1.5
    assert isinstance(rows[0].features, FeatureRow)
    assert [r.id for r in rows] == ["id0", "id1", "id2"]
    with pytest.raises(IndexError):
        rows[3]


def test_a_slice_is_a_batch_of_those_rows() -> None:
    rows = batch(4)
    part = rows[1:3]
    assert isinstance(part, PredictionBatch)
    assert list(part) == list(rows)[1:3]


def test_a_regressor_batch_has_no_probabilities() -> None:
    rows = batch(2, predictions=[0.5, 1.5], classes=None, probabilities=None)
    assert rows[1].prediction == 1.5 and rows[1].probabilities is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"features": np.zeros((3, 3))}, r"features must be \(3, 2\)"),
        ({"features": np.zeros(6)}, r"features must be \(3, 2\)"),
        ({"timestamps": [T0]}, "3 ids but 1 timestamps"),
        ({"predictions": ["no"]}, "3 ids but 3 timestamps and 1 predictions"),
        ({"probabilities": None}, "probabilities and classes go together"),
        ({"probabilities": np.zeros((3, 3))}, r"probabilities must be \(3, 2\)"),
        ({"latencies": [None]}, "3 ids but 1 latencies"),
    ],
)
def test_columns_that_do_not_line_up_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        batch(3, **changes)


def test_batches_alike_join_into_one_batch_in_order() -> None:
    first, second = batch(2), batch(3, start=2, at=T0 + timedelta(seconds=1))
    joined = PredictionBatch.join([first, second])
    assert isinstance(joined, PredictionBatch)
    assert list(joined) == list(first) + list(second)
    assert PredictionBatch.join([first]) is first


@pytest.mark.parametrize(
    "other",
    [
        batch(2, start=5, model="other"),
        batch(2, start=5, feature_names=("y", "x")),
        batch(2, start=5, classes=("yes", "no")),
        batch(2, start=5, features=np.zeros((2, 2), dtype=object)),
    ],
    ids=["model", "features", "classes", "dtype"],
)
def test_batches_that_differ_join_into_a_list_of_their_records(other: PredictionBatch) -> None:
    first = batch(2)
    joined = PredictionBatch.join([first, other])
    assert isinstance(joined, list)
    assert joined == list(first) + list(other)


def test_records_and_batches_join_into_a_list() -> None:
    loose = [batch(1, start=9)[0]]
    joined = PredictionBatch.join([batch(2), loose])
    assert isinstance(joined, list) and [r.id for r in joined] == ["id0", "id1", "id9"]
