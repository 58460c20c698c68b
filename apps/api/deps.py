"""Dependencies of the route functions, as ``Annotated`` aliases.

Every dependency is ``async def``: FastAPI runs plain ``def`` dependencies on a thread pool,
a hop that would cost more than scoring a row.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from driftscope.apps.api.state import ApiState
from driftscope.core.config.environment import Settings
from driftscope.core.runtime import Runtime
from driftscope.core.serving.log_writer import PredictionLogger
from driftscope.core.serving.metrics import ApiMetrics
from driftscope.core.serving.service import PredictionService

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The API key (DRIFTSCOPE_API_KEY)."
)
bearer = HTTPBearer(auto_error=False, description="The API key as a bearer token.")


async def get_state(request: Request) -> ApiState:
    state: ApiState | None = getattr(request.app.state, "api", None)
    if state is None:
        raise HTTPException(503, "the API is starting up", headers={"Retry-After": "1"})
    return state


StateDep = Annotated[ApiState, Depends(get_state)]


async def get_runtime(state: StateDep) -> Runtime:
    return state.runtime


async def get_service(state: StateDep) -> PredictionService:
    return state.service


async def get_logger(state: StateDep) -> PredictionLogger | None:
    return state.logger


async def get_metrics(state: StateDep) -> ApiMetrics:
    return state.metrics


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ServiceDep = Annotated[PredictionService, Depends(get_service)]
LoggerDep = Annotated[PredictionLogger | None, Depends(get_logger)]
MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def require_api_key(
    request: Request,
    key: Annotated[str | None, Security(api_key_header)],
    token: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> None:
    """401 unless the request carries the configured key (``X-API-Key`` or
    ``Authorization: Bearer``); a no-op when no key is configured."""
    expected: bytes | None = request.app.state.api_key
    if expected is None:
        return
    supplied = key if key is not None else (token.credentials if token is not None else None)
    # ASGI servers decode header bytes as latin-1: encoding back gives the bytes the client
    # sent, so a UTF-8 key matches; compare_digest runs in time independent of the content
    if supplied is None or not hmac.compare_digest(supplied.encode("latin-1"), expected):
        raise HTTPException(
            401, "a valid API key is required", headers={"WWW-Authenticate": "Bearer"}
        )


ApiKey = Depends(require_api_key)
