"""The OpenAPI schema, its Swagger UI (/docs) and ReDoc (/redoc): any valid key of any scope
may read them.

Both pages work offline: their scripts, style sheet and icon come from the API itself, served
from the files the installed ``fastapi-offline`` package ships (Swagger UI's bundle and CSS,
ReDoc's standalone script), never from a CDN.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from driftscope.apps.api.deps import ANY_KEY

router = APIRouter(include_in_schema=False)

ASSETS_PATH = "/docs/assets"
#: the only files served from the package's folder, with their media types
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}


# The browser itself keeps the pages to this origin: ReDoc's sidebar, for one, draws a logo
# from its vendor's CDN, which this refuses (the image hides itself when it cannot load).
# Inline scripts and styles: FastAPI's page starts Swagger UI with one, ReDoc styles inline.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)


def _same_origin_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page


def _asset_folder() -> Path:
    return Path(str(files("fastapi_offline").joinpath("static")))


@router.get("/openapi.json", dependencies=[ANY_KEY])
async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs", dependencies=[ANY_KEY])
async def docs(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    page = get_swagger_ui_html(
        openapi_url=f"{root}/openapi.json",
        title="driftscope API",
        swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
        # no badge image from the online validator: the page loads nothing from elsewhere
        swagger_ui_parameters={"validatorUrl": None},
    )
    return _same_origin_only(page)


@router.get("/redoc", dependencies=[ANY_KEY])
async def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    page = get_redoc_html(
        openapi_url=f"{root}/openapi.json",
        title="driftscope API",
        redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
        with_google_fonts=False,
    )
    return _same_origin_only(page)


@router.get(ASSETS_PATH + "/{name}", dependencies=[ANY_KEY])
async def asset(name: str) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:  # a fixed list: no path from the request reaches the file system
        raise HTTPException(404, "unknown documentation asset")
    return FileResponse(
        _asset_folder() / name,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=86400"},
    )
