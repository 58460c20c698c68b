"""Liveness and readiness; the only endpoints an API key never guards."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from driftscope.apps.api.deps import StateDep
from driftscope.apps.api.schemas import Check, HealthResponse, ReadyResponse
from driftscope.apps.api.state import readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse, summary="The process is up")
async def healthz() -> HealthResponse:
    """Always 200 while the process serves HTTP."""
    return HealthResponse(status="ok")


@router.get(
    "/readyz",
    response_model=ReadyResponse,
    responses={503: {"model": ReadyResponse, "description": "A check failed."}},
    summary="The process can serve",
)
async def readyz(state: StateDep) -> JSONResponse:
    """Store reachable, models loaded, scheduler running (if enabled), prediction log healthy,
    alert delivery running; 503 when a check fails. Disabled notifiers and failed deliveries
    are listed as warnings."""
    ready, checks, warnings = await readiness(state)
    body = ReadyResponse(
        ready=ready, checks={k: Check(**v) for k, v in checks.items()}, warnings=warnings
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ready else 503)
