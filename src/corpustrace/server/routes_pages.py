"""HTML pages (Jinja): chat, trace, playground and the full document view.

Pages carry no corpus text; their scripts fetch it from the API and insert it with
textContent, so a document holding markup is always shown as text.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

import corpustrace
from corpustrace.errors import NotFound
from corpustrace.server.state import AppState, get_state

router = APIRouter(include_in_schema=False)
State = Annotated[AppState, Depends(get_state)]


def web_dir() -> FsPath:
    """The installed `corpustrace.web` package (templates/ and static/)."""
    return FsPath(str(files("corpustrace.web")))


def make_templates() -> Jinja2Templates:
    return Jinja2Templates(directory=web_dir() / "templates")


def page(request: Request, state: AppState, name: str, active: str, **extra: Any) -> HTMLResponse:
    context = {
        "active": active,
        "version": corpustrace.__version__,
        "token_required": state.settings.api_token is not None,
        "models": [{"name": b.name, "description": b.description} for b in state.backends.values()],
        **extra,
    }
    templates: Jinja2Templates = request.app.state.templates
    response: HTMLResponse = templates.TemplateResponse(request, name, context)
    return response


@router.get("/", response_class=HTMLResponse)
async def chat_page(request: Request, state: State) -> HTMLResponse:
    return page(request, state, "chat.html", "chat", title="Chat")


@router.get("/trace", response_class=HTMLResponse)
async def trace_page(request: Request, state: State) -> HTMLResponse:
    return page(request, state, "trace.html", "trace", title="Trace text")


@router.get("/playground", response_class=HTMLResponse)
async def playground_page(request: Request, state: State) -> HTMLResponse:
    return page(request, state, "playground.html", "playground", title="Query playground")


@router.get("/documents/{doc}", response_class=HTMLResponse)
async def document_page(
    request: Request, state: State, doc: Annotated[int, Path(ge=0)]
) -> HTMLResponse:
    total = state.engine.index.total_documents
    if doc >= total:
        raise NotFound(f"document {doc} does not exist ({total} documents)")
    return page(request, state, "document.html", "", title=f"Document {doc}", doc=doc)
