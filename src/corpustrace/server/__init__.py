"""The HTTP service: JSON API under /api, HTML pages, chat streaming (see docs/api.md)."""

from corpustrace.server.app import create_app
from corpustrace.server.serve import serve
from corpustrace.server.settings import Settings

__all__ = ["Settings", "create_app", "serve"]
