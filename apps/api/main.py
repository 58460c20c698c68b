"""The driftscope HTTP API: an app factory over core.

``uvicorn driftscope.apps.api.main:create_app --factory`` (what ``driftscope serve`` runs) builds
the app from ``DRIFTSCOPE_*`` settings; the lifespan loads the config, models and store, starts the
prediction log writer, the monitor scheduler and alert delivery, and on shutdown writes every queued
prediction before the process exits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute, APIRouter

from driftscope.apps.api import state as api_state
from driftscope.apps.api.errors import BodyBudget, BodySizeLimitMiddleware, install_error_handlers
from driftscope.apps.api.routes import (
    alerts,
    docs,
    health,
    metrics,
    models,
    monitors,
    predictions,
    silences,
)
from driftscope.core.auth import ApiKeyring
from driftscope.core.config.environment import DeploymentSettings
from driftscope.core.config.yaml_file import ApiConfig
from driftscope.core.runtime import Runtime


def create_app(
    settings: DeploymentSettings | None = None,
    runtime: Runtime | None = None,
    *,
    prediction_logging: bool = True,
) -> FastAPI:
    """Build the API.

    :param settings: Deployment settings; default: read from ``DRIFTSCOPE_*``.
    :param runtime: An already built runtime (tests); the app then leaves closing it to
        the caller. Default: built from ``settings.config`` when the app starts.
    :param prediction_logging: False serves predictions without logging them (only the
        benchmark's baseline uses this).
    """
    settings = settings or DeploymentSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.api = await api_state.start(
            app, settings, runtime, prediction_logging=prediction_logging
        )
        try:
            yield
        finally:
            started, app.state.api = app.state.api, None
            await api_state.stop(started)

    app = FastAPI(
        title="driftscope",
        summary="Serve ML models, log every prediction, detect drift and alert on it.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.api = None
    # a malformed or repeated key stops the app here, naming its variable (never the key)
    app.state.keyring = ApiKeyring.from_settings(settings)
    api = runtime.config.api if runtime is not None else ApiConfig()
    app.state.max_body_bytes = api.max_body_bytes
    assert api.max_body_bytes_in_flight is not None
    app.state.body_budget = BodyBudget(api.max_body_bytes_in_flight)
    app.add_middleware(
        BodySizeLimitMiddleware,
        limit=lambda: app.state.max_body_bytes,
        budget=app.state.body_budget,
    )
    install_error_handlers(app)
    for router in ROUTERS:
        _check_every_route_has_a_scope(router)
        app.include_router(router)
    return app


ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    predictions.router,
    models.router,
    monitors.router,
    alerts.router,
    silences.router,
    metrics.router,
    docs.router,
)

# the only routes without a scope: load balancers ask them without a key, and they then
# answer with a status word only (see routes/health.py)
OPEN_ROUTES = frozenset({"/healthz", "/readyz"})


def _check_every_route_has_a_scope(router: APIRouter) -> None:
    """Refuse to build an app with a route that forgot its scope dependency."""
    for route in router.routes:
        if not isinstance(route, APIRoute) or route.path in OPEN_ROUTES:
            continue
        if not any(hasattr(d.call, "required_scope") for d in route.dependant.dependencies):
            raise RuntimeError(f"route {route.path} has no API key scope (deps.READ, ...)")
