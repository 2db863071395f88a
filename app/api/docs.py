"""FastAPI's API docs (/docs, /redoc, /openapi.json): only with SIGNALBOX_API_DOCS, behind
the API token like /api/*.

Off by default: the pages load Swagger UI and ReDoc from cdn.jsdelivr.net and start them
with inline script, so they get a policy of their own that allows both.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

from app.web.deps import ApiAuth

CDN = "https://cdn.jsdelivr.net"
DOCS_POLICY = "; ".join(
    [
        "default-src 'self'",
        f"script-src 'self' 'unsafe-inline' {CDN}",
        f"style-src 'self' 'unsafe-inline' {CDN} https://fonts.googleapis.com",
        "font-src https://fonts.gstatic.com",
        "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly",
        "worker-src blob:",
        "frame-ancestors 'none'",
    ]
)
OPENAPI_URL = "/openapi.json"

router = APIRouter(dependencies=[ApiAuth], include_in_schema=False)


@router.get(OPENAPI_URL)
async def openapi(request: Request) -> dict[str, Any]:
    schema: dict[str, Any] = request.app.openapi()
    return schema


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return _with_policy(get_swagger_ui_html(openapi_url=OPENAPI_URL, title="Signalbox API"))


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    return _with_policy(get_redoc_html(openapi_url=OPENAPI_URL, title="Signalbox API"))


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    page.headers["content-security-policy"] = DOCS_POLICY
    return page
