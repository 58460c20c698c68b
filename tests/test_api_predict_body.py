"""The predict body's envelope through HTTP: each malformed body's exact 422 (type, loc,
message), which error wins when the model is also wrong, and how refusals are counted; and
the exact problems of the record and label value checks.

The expected problems are written out by hand from the published error contract (the
messages clients match on), not produced by the parser under test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from driftscope.apps.api.main import create_app
from driftscope.core.config.environment import DeploymentSettings
from support.api_helpers import (
    api_client,
    demo_rows,
    make_demo_config,
    records_only_config,
)

pytestmark = pytest.mark.anyio
PREDICT = "/v1/models/cancer/predict"
JSON = {"Content-Type": "application/json"}
ENVELOPE = 'expected an object: {"features": {...}} or {"rows": [...]}'
ONE_OF = 'give exactly one of "features" or "rows"'
NOT_EMPTY = "expected a non-empty array of rows"


def _missing() -> dict[str, Any]:
    return {"type": "missing", "loc": ["body"], "msg": ONE_OF}


def _extra(key: str) -> dict[str, Any]:
    return {"type": "extra_forbidden", "loc": ["body", key], "msg": "unknown field"}


@pytest.fixture
async def client(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    config = make_demo_config(
        tmp_path, sqlite_url, api={"max_batch_rows": 5}, model_folder=demo_dir
    )
    async with api_client(create_app(DeploymentSettings(config=config, scheduler=False))) as c:
        yield c


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            b"{not json",
            [
                {
                    "type": "json_invalid",
                    "loc": ["body"],
                    "msg": "the body is not valid JSON: key must be a string at line 1 column 2",
                }
            ],
        ),
        (b"", None),  # checked below: an empty body is invalid JSON too
        (b"[]", [{"type": "model_type", "loc": ["body"], "msg": ENVELOPE}]),
        (b'"rows"', [{"type": "model_type", "loc": ["body"], "msg": ENVELOPE}]),
        (b"{}", [_missing()]),
        (b'{"features": {}, "rows": [{}]}', [_missing()]),
        (b'{"features": {}, "extra": 1}', [_extra("extra")]),
        (b'{"a": 1, "b": 2}', [_extra("a"), _extra("b"), _missing()]),
        (b'{"rows": []}', [{"type": "list_type", "loc": ["body", "rows"], "msg": NOT_EMPTY}]),
        (b'{"rows": {"a": 1}}', [{"type": "list_type", "loc": ["body", "rows"], "msg": NOT_EMPTY}]),
        (b'{"rows": null}', [{"type": "list_type", "loc": ["body", "rows"], "msg": NOT_EMPTY}]),
    ],
    ids=[
        "invalid-json",
        "empty-body",
        "array",
        "string",
        "empty-object",
        "both",
        "extra-key",
        "two-extra-keys-and-neither",
        "empty-rows",
        "rows-object",
        "rows-null",
    ],
)
async def test_malformed_body_gives_its_exact_problems(
    client: httpx.AsyncClient, body: bytes, detail: list[dict[str, Any]] | None
) -> None:
    response = await client.post(PREDICT, content=body, headers=JSON)
    assert response.status_code == 422
    if detail is None:
        (problem,) = response.json()["detail"]
        assert problem["type"] == "json_invalid" and problem["loc"] == ["body"]
        assert problem["msg"].startswith("the body is not valid JSON: ")
    else:
        assert response.json()["detail"] == detail


async def test_at_most_twenty_unknown_keys_are_named(client: httpx.AsyncClient) -> None:
    keys = [f"k{i:02d}" for i in range(25)]
    body = "{" + ", ".join(f'"{k}": 1' for k in keys) + "}"
    response = await client.post(PREDICT, content=body, headers=JSON)
    assert response.status_code == 422
    assert response.json()["detail"] == [*(_extra(k) for k in keys[:20]), _missing()]


NUMBER_AS_TEXT = (
    "expected a JSON number, got the string '7': numeric features do not take text, even "
    "text that reads as a number (send 7, not '7')"
)


async def test_row_problems_are_located_under_features_or_rows(
    client: httpx.AsyncClient, demo_dir: Path
) -> None:
    row = demo_rows(demo_dir, 1)[0]
    name = next(iter(row))
    bad = {**row, name: "7"}
    single = await client.post(PREDICT, json={"features": bad})
    assert single.status_code == 422
    assert single.json()["detail"] == [
        {
            "type": "number_type",
            "loc": ["body", "features", name],
            "msg": NUMBER_AS_TEXT,
            "row": 0,
            "field": name,
        }
    ]
    batch = await client.post(PREDICT, json={"rows": [row, bad, 3]})
    assert batch.status_code == 422
    assert batch.json()["detail"] == [
        {
            "type": "number_type",
            "loc": ["body", "rows", 1, name],
            "msg": NUMBER_AS_TEXT,
            "row": 1,
            "field": name,
        },
        {
            "type": "row_type",
            "loc": ["body", "rows", 2],
            "msg": "expected an object of feature values, got number",
            "row": 2,
        },
    ]


async def test_the_model_is_checked_before_the_body(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> None:
    """An unknown model is 404 and a records-only model 409 whatever the body holds."""
    config = records_only_config(tmp_path, sqlite_url, demo_dir)
    async with api_client(create_app(DeploymentSettings(config=config, scheduler=False))) as client:
        for body in (b"{not json", b"[]", b'{"rows": []}'):
            unknown = await client.post("/v1/models/nope/predict", content=body, headers=JSON)
            assert unknown.status_code == 404, body
            served = await client.post("/v1/models/outside/predict", content=body, headers=JSON)
            assert served.status_code == 409, body


async def test_refused_bodies_are_counted_by_reason(
    client: httpx.AsyncClient, demo_dir: Path
) -> None:
    assert (await client.post(PREDICT, content=b"{not json", headers=JSON)).status_code == 422
    assert (await client.post(PREDICT, content=b'{"rows": []}', headers=JSON)).status_code == 422
    too_many = {"rows": demo_rows(demo_dir, 6)}
    assert (await client.post(PREDICT, json=too_many)).status_code == 413
    text = (await client.get("/metrics")).text
    errors = {
        s.labels["reason"]: s.value
        for f in text_string_to_metric_families(text)
        if f.name == "driftscope_prediction_errors"
        for s in f.samples
        if s.name == "driftscope_prediction_errors_total" and s.labels["model"] == "cancer"
    }
    assert errors == {"validation": 2.0, "too_large": 1.0}


def _at(loc: list[Any], type_: str, msg: str, field: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type_, "loc": loc, "msg": msg, "row": loc[2]}
    if field is not None:
        out["field"] = field
    return out


async def test_record_and_label_values_give_their_exact_problems(
    client: httpx.AsyncClient, demo_dir: Path
) -> None:
    row = demo_rows(demo_dir, 1)[0]
    bad = {
        "features": row,
        "id": "a\x00b",
        "prediction": "p" * 257,
        "label": "x\x00",
        "probabilities": {"2": 0.5, "1": 1.5},
        "timestamp": "0001-01-01T00:00:00+01:00",
    }
    body = {"rows": [{"features": row, "prediction": 1}, bad]}
    response = await client.post("/v1/models/cancer/records", json=body)
    assert response.status_code == 422
    where = ["body", "rows", 1]
    assert response.json()["detail"] == [
        _at(
            [*where, "id"],
            "string_nul",
            "text must not contain NUL (\\u0000) characters; found one at character 1",
            "id",
        ),
        _at(
            [*where, "prediction"],
            "string_too_long",
            "at most 256 characters, got 257",
            "prediction",
        ),
        _at(
            [*where, "label"],
            "string_nul",
            "text must not contain NUL (\\u0000) characters; found one at character 1",
            "label",
        ),
        _at(
            [*where, "probabilities", "2"],
            "unknown_class",
            "unknown class; the model's classes are ['0', '1']",
        ),
        _at(
            [*where, "probabilities", "1"],
            "probability",
            "expected a probability between 0 and 1",
        ),
        _at(
            [*where, "timestamp"],
            "datetime_range",
            "time 0001-01-01T00:00:00+01:00 is outside what the store keeps: "
            "0001-01-01T00:00:00+00:00 to 9999-12-31T23:59:59.999999+00:00 (UTC)",
            "timestamp",
        ),
    ]
    labels = {"labels": [{"id": "ok", "label": 1}, {"id": "a\x00", "label": "q" * 257}]}
    response = await client.post("/v1/models/cancer/feedback", json=labels)
    assert response.status_code == 422
    assert response.json()["detail"] == [
        _at(
            ["body", "labels", 1, "id"],
            "string_nul",
            "text must not contain NUL (\\u0000) characters; found one at character 1",
            "id",
        ),
        _at(
            ["body", "labels", 1, "label"],
            "string_too_long",
            "at most 256 characters, got 257",
            "label",
        ),
    ]
