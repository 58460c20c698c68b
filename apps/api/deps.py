"""Dependencies of the route functions, as ``Annotated`` aliases.

Every dependency is ``async def``: FastAPI runs plain ``def`` dependencies on a thread pool,
a hop that would cost more than scoring a row.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from driftscope.apps.api.state import ApiState
from driftscope.core.auth import ApiKeyring, Scope
from driftscope.core.config.environment import DeploymentSettings
from driftscope.core.runtime import Runtime
from driftscope.core.serving.log_writer import PredictionLogWriter
from driftscope.core.serving.metrics import ApiMetrics
from driftscope.core.serving.service import PredictionService

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="An API key of the endpoint's scope (read, write or admin).",
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


async def get_logger(state: StateDep) -> PredictionLogWriter | None:
    return state.logger


async def get_metrics(state: StateDep) -> ApiMetrics:
    return state.metrics


async def get_settings(request: Request) -> DeploymentSettings:
    settings: DeploymentSettings = request.app.state.settings
    return settings


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ServiceDep = Annotated[PredictionService, Depends(get_service)]
LoggerDep = Annotated[PredictionLogWriter | None, Depends(get_logger)]
MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]
SettingsDep = Annotated[DeploymentSettings, Depends(get_settings)]


def _supplied_key(key: str | None, token: HTTPAuthorizationCredentials | None) -> bytes | None:
    supplied = key if key is not None else (token.credentials if token is not None else None)
    # ASGI servers decode header bytes as latin-1: encoding back gives the bytes the client
    # sent, so a UTF-8 key matches
    return None if supplied is None else supplied.encode("latin-1")


def _unauthorised() -> HTTPException:
    return HTTPException(401, "a valid API key is required", headers={"WWW-Authenticate": "Bearer"})


async def caller_scope(
    request: Request,
    key: Annotated[str | None, Security(api_key_header)],
    token: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Scope | None:
    """The scope of the request's key (``X-API-Key`` or ``Authorization: Bearer``).

    ``Scope.ADMIN`` when no key is configured (the API is open); ``None`` when keys are
    configured and the request has none; 401 when it has one that is not configured.
    """
    keyring: ApiKeyring = request.app.state.keyring
    if not keyring.enabled:
        return Scope.ADMIN
    supplied = _supplied_key(key, token)
    if supplied is None:
        return None
    scope = keyring.scope_of(supplied)
    if scope is None:
        raise _unauthorised()
    return scope


CallerScope = Annotated[Scope | None, Depends(caller_scope)]


def require(scope: Scope | None) -> Any:
    """A route dependency: 401 without a valid key, 403 when the key's scope does not
    allow ``scope`` (``None``: any valid key will do)."""

    async def check_scope(caller: CallerScope) -> None:
        if caller is None:
            raise _unauthorised()
        if scope is not None and not caller.allows(scope):
            raise HTTPException(
                403,
                f"this API key has the {caller.value} scope; this endpoint needs {scope.value}",
            )

    check_scope.required_scope = scope  # type: ignore[attr-defined]  # for tests and docs
    return Depends(check_scope)


READ = require(Scope.READ)
WRITE = require(Scope.WRITE)
ADMIN = require(Scope.ADMIN)
ANY_KEY = require(None)
