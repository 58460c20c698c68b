"""Alert states and their history."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from driftscope.apps.api.deps import READ, RuntimeDep
from driftscope.apps.api.schemas import (
    AlertEventOut,
    AlertEventsResponse,
    AlertOut,
    AlertsResponse,
    AlertStateName,
)
from driftscope.core.validation import MAX_NAME_CHARS, require_text, require_time

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])


@router.get("", response_model=AlertsResponse, dependencies=[READ], summary="Current alert states")
async def list_alerts(
    runtime: RuntimeDep,
    state: Annotated[AlertStateName | None, Query(description="Only keys in this state.")] = None,
) -> AlertsResponse:
    """The alert state of every (monitor, detector, feature) key, optionally one state only."""
    states = await asyncio.to_thread(runtime.store.list_alert_states, state)
    return AlertsResponse(alerts=[AlertOut.of(s) for s in states])


@router.get(
    "/events", response_model=AlertEventsResponse, dependencies=[READ], summary="Alert history"
)
async def list_events(
    runtime: RuntimeDep,
    monitor: Annotated[str | None, Query(max_length=MAX_NAME_CHARS)] = None,
    since: Annotated[datetime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AlertEventsResponse:
    """State changes newest first."""
    if monitor is not None:
        require_text(monitor, ("query", "monitor"))
    events = await asyncio.to_thread(
        runtime.store.list_alert_events,
        monitor=monitor,
        since=require_time(since, ("query", "since")),
        limit=limit,
    )
    return AlertEventsResponse(events=[AlertEventOut.of(e) for e in events])
