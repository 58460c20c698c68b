"""The OpenAPI schema and its Swagger UI: any valid key of any scope may read them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from driftscope.apps.api.deps import ANY_KEY

router = APIRouter(include_in_schema=False)


@router.get("/openapi.json", dependencies=[ANY_KEY])
async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs", dependencies=[ANY_KEY])
async def docs(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title="driftscope API")
