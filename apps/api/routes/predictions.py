"""Predictions: serve a model, log predictions made elsewhere, attach labels, read stats."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from driftscope.apps.api.bodies import parse_predict_body
from driftscope.apps.api.deps import READ, WRITE, ServiceDep
from driftscope.apps.api.schemas import (
    AlreadyLabelledResponse,
    ErrorResponse,
    FeedbackRequest,
    FeedbackResponse,
    PredictRequest,
    PredictResponse,
    RecordsRequest,
    RecordsResponse,
    StatsResponse,
)
from driftscope.core.validation import require_duration

router = APIRouter(prefix="/v1/models", tags=["predictions"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Unknown model."},
    413: {"model": ErrorResponse, "description": "Too many rows, or the body is too large."},
    422: {"model": ErrorResponse, "description": "Invalid values, each with its row and field."},
    503: {"model": ErrorResponse, "description": "The log queue is full: retry after a while."},
}

# The predict body is read by hand (apps/api/bodies.py) and its rows checked by
# driftscope.core.serving.validation, for speed, rather than by FastAPI; the schema is still
# published so clients and schemathesis know its shape.
_PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": PredictRequest.model_json_schema()}},
    }
}


@router.post(
    "/{model}/predict",
    dependencies=[WRITE],
    response_model=PredictResponse,
    responses={**_ERRORS, 409: {"model": ErrorResponse, "description": "Records-only model."}},
    openapi_extra=_PREDICT_BODY,
    summary="Predict one row or a batch",
)
async def predict(model: str, request: Request, service: ServiceDep) -> Response:
    """Score `{"features": {...}}` or `{"rows": [...]}`; one prediction id per row, in order."""
    body = await request.body()
    result = await service.predict(model, partial(parse_predict_body, body), body)
    return Response(result.to_json(), media_type="application/json")


@router.post(
    "/{model}/records",
    dependencies=[WRITE],
    response_model=RecordsResponse,
    responses=_ERRORS,
    summary="Log predictions made elsewhere",
)
async def records(model: str, body: RecordsRequest, service: ServiceDep) -> RecordsResponse:
    """Log a batch of predictions a model served outside driftscope made."""
    ids = await service.log_records(model, [row.model_dump() for row in body.rows])
    return RecordsResponse(accepted=len(ids), ids=ids)


@router.post(
    "/{model}/feedback",
    dependencies=[WRITE],
    response_model=FeedbackResponse,
    responses={
        **_ERRORS,
        409: {
            "model": AlreadyLabelledResponse,
            "description": "Some predictions already have a label (and `overwrite` is not "
            "true): nothing was written; each is listed with its label.",
        },
        422: {
            "model": ErrorResponse,
            "description": "Invalid values, each with its row and field: a label that is not "
            "one of a classifier's classes, an id given twice without `overwrite`.",
        },
    },
    summary="Attach ground-truth labels",
)
async def feedback(model: str, body: FeedbackRequest, service: ServiceDep) -> FeedbackResponse:
    """Labels by prediction id; unknown ids come back. A prediction is labelled once unless
    `overwrite` is true (then replaced labels count as updated)."""
    update = await service.feedback(
        model, [(item.id, item.label) for item in body.labels], overwrite=body.overwrite
    )
    return FeedbackResponse(updated=update.updated, unknown_ids=update.unknown_ids)


@router.get(
    "/{model}/stats",
    dependencies=[READ],
    response_model=StatsResponse,
    responses={404: _ERRORS[404], 422: _ERRORS[422]},
    summary="Prediction count, rate, latency and labelled share",
)
async def stats(
    model: str,
    service: ServiceDep,
    last: Annotated[
        str, Query(description="Window ending now: 90s, 15m, 1h, 7d.", max_length=32)
    ] = "1h",
) -> StatsResponse:
    """A model's predictions over the window ending now."""
    result = await service.stats(model, require_duration(last, ("query", "last")))
    return StatsResponse(**result.to_dict())
