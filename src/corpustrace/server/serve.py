"""Run the service with uvicorn (what `corpustrace serve` calls)."""

from __future__ import annotations

from typing import Any

import uvicorn

from corpustrace.index.verify import require_intact
from corpustrace.server.app import create_app
from corpustrace.server.settings import Settings
from corpustrace.server.slowclients import header_timeout_protocol


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn.Config options that bound slow and numerous clients (docs/api.md)."""
    return {
        "http": header_timeout_protocol(settings.header_timeout_s),
        "timeout_keep_alive": settings.keep_alive_timeout_s,
        "limit_concurrency": settings.max_connections,
    }


def serve(settings: Settings | None = None) -> None:
    """Serve `settings.index` on settings.host:settings.port until interrupted (after
    hashing every file of it when `settings.verify_index`)."""
    settings = settings if settings is not None else Settings()
    if settings.verify_index:
        for path in settings.index_paths:
            require_intact(path)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=5,
        **uvicorn_options(settings),
    )
