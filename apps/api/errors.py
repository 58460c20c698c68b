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

from core.errors import StoreError
from core.logging_queue import LoggingUnavailable
from core.predict import BatchTooLargeError, ModelNotServedError, UnknownModelError
from core.validation import RequestValidationFailed

log = logging.getLogger("driftscope.api")


class BodyTooLarge(HTTPException):
    """A request body is larger than ``api.max_body_bytes``."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the limit of {limit} bytes")


class BodySizeLimitMiddleware:
    """Refuse bodies above a limit: by Content-Length before the app runs, and while the
    body streams in (chunked uploads, or a Content-Length that lies).

    The limit is read per request from ``limit()``, because it comes from the config the
    lifespan loads after the middleware stack exists.
    """

    def __init__(self, app: ASGIApp, limit: Callable[[], int]) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit()
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    response = JSONResponse(
                        {"detail": BodyTooLarge(limit).detail},
                        status_code=413,
                        headers={"Connection": "close"},
                    )
                    await response(scope, receive, send)
                    return
                break
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited, send)


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
    app.add_exception_handler(BatchTooLargeError, _too_large)
    app.add_exception_handler(LoggingUnavailable, _unavailable)
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(Exception, _unexpected)
