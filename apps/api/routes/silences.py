"""Silences: mute a monitor's alert changes for a while, as `driftscope silence` does."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response

from driftscope.apps.api.deps import ADMIN, READ, RuntimeDep
from driftscope.apps.api.schemas import ErrorResponse, SilenceIn, SilenceOut, SilencesResponse
from driftscope.core.alerting.manager import UnknownMonitorError
from driftscope.core.durations import parse_duration

router = APIRouter(prefix="/v1/silences", tags=["alerts"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Unknown monitor or silence."},
    422: {"model": ErrorResponse, "description": "A bad duration or an empty reason."},
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
        duration = parse_duration(body.duration)
    except ValueError as exc:
        raise HTTPException(422, f"duration: {exc}") from None
    try:
        silence = await asyncio.to_thread(
            runtime.alerts.add_silence,
            body.monitor,
            duration,
            body.reason,
            feature=body.feature,
            detector=body.detector,
            created_by=body.created_by,
        )
    except UnknownMonitorError:
        raise HTTPException(404, f"unknown monitor {body.monitor[:80]!r}") from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
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
