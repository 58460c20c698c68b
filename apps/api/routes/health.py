"""Liveness and readiness: the only endpoints that answer without an API key.

Without a key they say only ``ok``, ``degraded`` or ``down``: the checks' details (store
errors, hosts, queue depths) are for callers with a key of any scope.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from driftscope.apps.api.deps import CallerScope, StateDep
from driftscope.apps.api.schemas import Check, HealthResponse, ReadyResponse, ReadyStatus
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
async def readyz(state: StateDep, caller: CallerScope) -> JSONResponse:
    """Store reachable, models loaded, scheduler running (if enabled), prediction log healthy,
    alert delivery running; 503 when a check fails. Disabled notifiers and failed deliveries
    are warnings (status `degraded`). Checks and warnings are shown only to a request with a
    valid key (any scope), or to every request when the API has no keys."""
    ready, checks, warnings = await readiness(state)
    status: ReadyStatus = "down" if not ready else "degraded" if warnings else "ok"
    code = 200 if ready else 503
    if caller is None:
        return JSONResponse({"status": status}, status_code=code)
    body = ReadyResponse(
        status=status,
        ready=ready,
        checks={k: Check(**v) for k, v in checks.items()},
        warnings=warnings,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=code)
