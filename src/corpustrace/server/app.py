"""The app factory: one `create_app(settings)`; nothing is built at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

import corpustrace
from corpustrace.engine.engine import Engine
from corpustrace.models.base import backends_from_settings
from corpustrace.server import chat, routes_api, routes_pages
from corpustrace.server.apidocs import install_api_docs
from corpustrace.server.errors import BodyLimitMiddleware, install_handlers
from corpustrace.server.routes_influence import install_influence
from corpustrace.server.security import install_cors
from corpustrace.server.settings import Settings
from corpustrace.server.state import AppState

DESCRIPTION = (
    "Trace language-model output back to its training data (OLMoTrace) and query the "
    'corpus index (infini-gram). Errors are `{"error": {"code", "message"}}`.'
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI app serving `settings.index`: the engine opens here, once, and closes
    when the app shuts down. Raises IndexFormatError/ModelError for a bad setup."""
    settings = settings if settings is not None else Settings()
    backends = backends_from_settings(
        settings.openai_base_url,
        settings.openai_model,
        _secret(settings.openai_api_key),
        settings.local_model,
        settings.local_gguf_file,
    )
    state = AppState(settings, Engine.open(settings.index), backends)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.warm_up()
        try:
            yield
        finally:
            state.close()

    app = FastAPI(
        title="corpustrace",
        version=corpustrace.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url=None,  # FastAPI's own /docs loads scripts from a CDN: see install_api_docs
        redoc_url=None,
    )
    app.state.corpustrace = state
    app.state.templates = routes_pages.make_templates()
    install_handlers(app)
    install_api_docs(app)
    for router in (routes_api.public, routes_api.router, chat.router, routes_pages.router):
        app.include_router(router)
    install_influence(app, state)
    app.mount("/static", StaticFiles(directory=routes_pages.web_dir() / "static"), name="static")
    install_cors(app, settings)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    return app


def _secret(value: object) -> str | None:
    get = getattr(value, "get_secret_value", None)
    return str(get()) if get is not None else None
