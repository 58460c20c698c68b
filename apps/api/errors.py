"""Error responses: core exceptions mapped to HTTP statuses, a body size limit, and a
catch-all that never shows a stack trace or a secret to the client."""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from driftscope.core.errors import StoreError
from driftscope.core.serving.log_writer import LoggingUnavailable
from driftscope.core.serving.service import (
    AlreadyLabelledError,
    BatchTooLargeError,
    ModelNotServedError,
    UnknownModelError,
)
from driftscope.core.validation import RequestValidationFailed

log = logging.getLogger("driftscope.api")


class BodyTooLarge(HTTPException):
    """A request body is larger than ``api.max_body_bytes``."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the limit of {limit} bytes")


BODY_RETRY_AFTER = 1  # seconds: bodies in flight are usually done within that


class BodiesInFlight(HTTPException):
    """Other requests' bodies already hold ``api.max_body_bytes_in_flight``."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            503,
            f"the server is busy reading other request bodies (at most {limit} bytes at "
            "once); retry later",
            headers={"Retry-After": str(BODY_RETRY_AFTER)},
        )


class BodyBudget:
    """The request body bytes one process holds at once, and their bound.

    Only the event loop touches it (the middleware), so plain integers are enough. A
    request's bytes are held until its response is sent, since the route keeps the body
    (and what it parsed from it) until then.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self.refused = 0

    def take(self, size: int) -> bool:
        """Reserve ``size`` bytes if they fit under the bound."""
        if self.in_flight + size > self.limit:
            self.refused += 1
            return False
        self.in_flight += size
        return True

    def give_back(self, size: int) -> None:
        self.in_flight -= size


class BodySizeLimitMiddleware:
    """Refuse bodies above a limit, and bound the bytes of all bodies in flight.

    One body: by Content-Length before the app runs (413), and while the body streams in
    (chunked uploads, or a Content-Length that lies). All bodies: a declared Content-Length
    is reserved from ``budget`` before the app runs, and bytes past it as they arrive; a
    request that does not fit gets 503 with Retry-After, so concurrent large uploads cannot
    take the process's memory.

    The per-body limit is read per request from ``limit()``, and ``budget.limit`` is set by
    the lifespan, because both come from the config it loads after the middleware exists.
    """

    def __init__(self, app: ASGIApp, limit: Callable[[], int], budget: BodyBudget) -> None:
        self.app = app
        self.limit = limit
        self.budget = budget

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit()
        declared = 0
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = max(0, int(value))
                except ValueError:
                    declared = 0
                break
        if declared > limit:
            await _refuse(scope, receive, send, BodyTooLarge(limit))
            return
        budget = self.budget
        if not budget.take(declared):
            await _refuse(scope, receive, send, BodiesInFlight(budget.limit))
            return
        held = declared
        received = 0

        async def limited() -> Message:
            nonlocal received, held
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
                if received > held:
                    if not budget.take(received - held):
                        raise BodiesInFlight(budget.limit)
                    held = received
            return message

        try:
            await self.app(scope, limited, send)
        finally:
            budget.give_back(held)


async def _refuse(scope: Scope, receive: Receive, send: Send, exc: HTTPException) -> None:
    # the body is not read: close the connection rather than leave it for the next request
    response = JSONResponse(
        {"detail": exc.detail},
        status_code=exc.status_code,
        headers={**(exc.headers or {}), "Connection": "close"},
    )
    await response(scope, receive, send)


def _error(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


async def _validation_failed(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationFailed)
    return _error(422, exc.to_list())


async def _request_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # keep loc/msg/type; the default also echoes the input, which may be large (pydantic
    # reports a key it cannot encode as U+FFFD, so a loc here is always printable)
    errors = [
        {"type": e.get("type"), "loc": list(e.get("loc", ())), "msg": e.get("msg")}
        for e in exc.errors()[:1000]
    ]
    return _error(422, errors)


async def _unknown_model(_: Request, exc: Exception) -> JSONResponse:
    return _error(404, str(exc))


async def _not_served(_: Request, exc: Exception) -> JSONResponse:
    return _error(409, str(exc))


async def _already_labelled(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AlreadyLabelledError)
    labelled = [{"id": i, "label": label} for i, label in exc.labels.items()]
    return JSONResponse({"detail": str(exc), "already_labelled": labelled}, status_code=409)


async def _too_large(_: Request, exc: Exception) -> JSONResponse:
    return _error(413, str(exc))


async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LoggingUnavailable)
    return _error(503, str(exc), _retry_after(exc.retry_after))


async def _store_error(request: Request, exc: Exception) -> JSONResponse:
    request_id = uuid.uuid4().hex
    log.error(
        "request %s %s %s: store error: %s", request_id, request.method, request.url.path, exc
    )
    return JSONResponse(
        {"detail": "the store is unavailable", "request_id": request_id},
        status_code=503,
        headers=_retry_after(5),
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    request_id = uuid.uuid4().hex
    log.error("request %s %s %s failed", request_id, request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        {"detail": "internal server error", "request_id": request_id}, status_code=500
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler on ``app``."""
    app.add_exception_handler(RequestValidationFailed, _validation_failed)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(UnknownModelError, _unknown_model)
    app.add_exception_handler(ModelNotServedError, _not_served)
    app.add_exception_handler(AlreadyLabelledError, _already_labelled)
    app.add_exception_handler(BatchTooLargeError, _too_large)
    app.add_exception_handler(LoggingUnavailable, _unavailable)
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(Exception, _unexpected)
