"""The app factory: one `create_app(settings)`; nothing is built at import time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

import corpustrace
from corpustrace.models.base import backends_from_settings
from corpustrace.server import chat, routes_api, routes_lexical, routes_pages
from corpustrace.server.apidocs import install_api_docs
from corpustrace.server.errors import BodyLimitMiddleware, install_handlers
from corpustrace.server.headers import SecurityHeadersMiddleware
from corpustrace.server.routes_influence import install_influence, open_influence
from corpustrace.server.security import install_cors
from corpustrace.server.settings import Settings
from corpustrace.server.slowclients import BodyTimeoutMiddleware
from corpustrace.server.state import AppState

DESCRIPTION = (
    "Trace language-model output back to its training data (OLMoTrace) and query the "
    'corpus index (infini-gram). Errors are `{"error": {"code", "message"}}`.'
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI app serving `settings.index`. Nothing is opened here: the engine opens at
    start-up (lifespan; IndexFormatError then) and closes at shutdown after the work in
    flight, so an app built only to export its OpenAPI schema holds no index.
    Raises ModelError for a bad chat setup."""
    settings = settings if settings is not None else Settings()
    backends = backends_from_settings(
        settings.openai_base_url,
        settings.openai_model,
        _secret(settings.openai_api_key),
        settings.local_model,
        settings.local_gguf_file,
    )
    state = AppState(settings, backends)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.open()
        open_influence(state)
        state.warm_up()
        try:
            yield
        finally:
            # Off the event loop: close() waits for the jobs still on the pool.
            await asyncio.get_running_loop().run_in_executor(None, state.close)

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
    policies = install_api_docs(app)
    app.include_router(routes_lexical.router)
    for router in (routes_api.public, routes_api.router, chat.router, routes_pages.router):
        app.include_router(router)
    install_influence(app, state)
    app.mount("/static", StaticFiles(directory=routes_pages.web_dir() / "static"), name="static")
    install_cors(app, settings)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(BodyTimeoutMiddleware, seconds=settings.body_timeout_s)
    app.add_middleware(SecurityHeadersMiddleware, policies=policies)
    return app


def _secret(value: object) -> str | None:
    get = getattr(value, "get_secret_value", None)
    return str(get()) if get is not None else None
