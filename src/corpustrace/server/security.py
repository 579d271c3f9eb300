"""Optional bearer token for the API, and CORS only when origins are configured."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from corpustrace.server.errors import Unauthorized
from corpustrace.server.settings import Settings
from corpustrace.server.state import AppState, get_state

bearer = HTTPBearer(auto_error=False, description="Needed when CORPUSTRACE_API_TOKEN is set.")


async def require_token(
    state: Annotated[AppState, Depends(get_state)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """Let the request through when no token is configured or the right one is sent."""
    expected = state.settings.api_token
    if expected is None:
        return
    sent = credentials.credentials if credentials is not None else ""
    if not secrets.compare_digest(sent.encode(), expected.get_secret_value().encode()):
        raise Unauthorized(
            "this server needs 'Authorization: Bearer <token>' (CORPUSTRACE_API_TOKEN)",
            headers={"WWW-Authenticate": "Bearer"},
        )


def install_cors(app: FastAPI, settings: Settings) -> None:
    """No CORS headers at all unless origins are listed (same-origin pages need none)."""
    if not settings.cors_origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type"],
        max_age=600,
    )
