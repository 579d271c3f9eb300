"""`/docs`: Swagger UI for the OpenAPI schema, served from the installed
`fastapi-offline` package (which ships Swagger UI 5, the first to render OpenAPI 3.1,
the version FastAPI writes) instead of FastAPI's default CDN, so it works offline."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from corpustrace.server.headers import docs_policy

ASSETS = "/static/swagger-ui"


def swagger_ui_path() -> Path:
    """The directory of Swagger UI's files (swagger-ui-bundle.js, swagger-ui.css)."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def install_api_docs(app: FastAPI) -> dict[str, str]:
    """Mount Swagger UI at /docs; returns {path: Content-Security-Policy} for its page."""
    app.mount(ASSETS, StaticFiles(directory=swagger_ui_path()), "swagger")
    page = get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json",
        title="corpustrace API",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url="/static/favicon.svg",
    )

    @app.get("/docs", include_in_schema=False)
    async def api_docs() -> HTMLResponse:
        return HTMLResponse(bytes(page.body))

    return {"/docs": docs_policy(bytes(page.body).decode())}
