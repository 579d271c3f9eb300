"""Run the service with uvicorn (what `corpustrace serve` calls)."""

from __future__ import annotations

import uvicorn

from corpustrace.index.verify import require_intact
from corpustrace.server.app import create_app
from corpustrace.server.settings import Settings


def serve(settings: Settings | None = None) -> None:
    """Serve `settings.index` on settings.host:settings.port until interrupted (after
    hashing every file of it when `settings.verify_index`)."""
    settings = settings if settings is not None else Settings()
    if settings.verify_index:
        require_intact(settings.index)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=5,
    )
