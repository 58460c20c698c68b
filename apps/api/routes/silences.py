"""Silences: mute a monitor's alert changes for a while, as `driftscope silence` does."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response

from driftscope.apps.api.deps import ADMIN, READ, RuntimeDep
from driftscope.apps.api.schemas import ErrorResponse, SilenceIn, SilenceOut, SilencesResponse
from driftscope.core.alerting.manager import UnknownMonitorError
from driftscope.core.validation import shown

router = APIRouter(prefix="/v1/silences", tags=["alerts"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Unknown monitor or silence."},
    422: {
        "model": ErrorResponse,
        "description": "A bad duration (at most 3650d), an empty reason, or text no store "
        "can hold; each with its field.",
    },
}


@router.post(
    "",
    response_model=SilenceOut,
    status_code=201,
    responses=_ERRORS,
    dependencies=[ADMIN],
    summary="Add a silence",
)
async def add_silence(body: SilenceIn, runtime: RuntimeDep) -> SilenceOut:
    """Mute matching alert changes until the silence ends: they are recorded, not sent."""
    try:
        silence = await asyncio.to_thread(
            runtime.alerts.add_silence,
            body.monitor,
            body.duration,
            body.reason,
            feature=body.feature,
            detector=body.detector,
            created_by=body.created_by,
        )
    except UnknownMonitorError:
        raise HTTPException(404, f"unknown monitor {shown(body.monitor)}") from None
    return SilenceOut.of(silence)


@router.get("", response_model=SilencesResponse, dependencies=[READ], summary="List silences")
async def list_silences(
    runtime: RuntimeDep,
    active: Annotated[bool, Query(description="Only silences in force now.")] = True,
) -> SilencesResponse:
    """Silences, soonest to end first."""
    silences = await asyncio.to_thread(runtime.alerts.list_silences, active_only=active)
    return SilencesResponse(silences=[SilenceOut.of(s) for s in silences])


@router.delete(
    "/{silence_id}",
    status_code=204,
    responses=_ERRORS,
    dependencies=[ADMIN],
    summary="Remove a silence",
)
async def remove_silence(silence_id: str, runtime: RuntimeDep) -> Response:
    """End a silence now."""
    if not await asyncio.to_thread(runtime.alerts.remove_silence, silence_id):
        raise HTTPException(404, "unknown silence")
    return Response(status_code=204)
