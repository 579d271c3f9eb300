"""POST /api/chat: the answer streamed as server-sent events, then the trace of it.

Events, in order: `delta` ({"text"}) for every piece of the answer, then `trace` (the
TraceResult of the whole answer, with `cached`), or `error` ({"code", "message"}) when
the model or the trace fails, and always `done` last. Problems found before the model
is asked (unknown model, none configured, bad parameters) are plain JSON errors.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from corpustrace.errors import CorpusTraceError, ModelError, NotFound
from corpustrace.models.base import ChatBackend
from corpustrace.server import queries
from corpustrace.server.errors import ServiceError, TooLarge
from corpustrace.server.routes_api import ERRORS
from corpustrace.server.schemas import ChatRequest, ErrorResponse
from corpustrace.server.security import require_token
from corpustrace.server.state import AppState, get_state
from corpustrace.trace import TraceParams

log = logging.getLogger("corpustrace.server.chat")
router = APIRouter(prefix="/api", dependencies=[Depends(require_token)], tags=["chat"])
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
STREAM_DOC: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    200: {
        "description": "text/event-stream: `delta`* then `trace` or `error`, then `done`",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    503: {"model": ErrorResponse, "description": "No chat model configured"},
}


@router.post("/chat", response_class=StreamingResponse, responses=STREAM_DOC)
async def chat(
    req: ChatRequest, state: Annotated[AppState, Depends(get_state)]
) -> StreamingResponse:
    """Chat with a configured model; the finished answer is traced like POST /api/trace."""
    params = queries.trace_params(req.trace_options, state.settings)
    backend = pick_backend(state, req.model)
    check_conversation(state, req)
    return StreamingResponse(
        events(state, backend, req, params), media_type="text/event-stream", headers=SSE_HEADERS
    )


def pick_backend(state: AppState, name: str | None) -> ChatBackend:
    if not state.backends:
        raise ModelError(
            "no chat model is configured (set CORPUSTRACE_OPENAI_BASE_URL and "
            "CORPUSTRACE_OPENAI_MODEL, or CORPUSTRACE_LOCAL_MODEL)"
        )
    if name is None:
        return next(iter(state.backends.values()))
    if name not in state.backends:
        known = ", ".join(state.backends)
        raise NotFound(f"no chat model named {name!r} (configured: {known})")
    return state.backends[name]


def check_conversation(state: AppState, req: ChatRequest) -> None:
    settings = state.settings
    if len(req.messages) > settings.max_chat_messages:
        raise TooLarge(f"at most {settings.max_chat_messages} messages per conversation")
    for message in req.messages:
        if len(message.content) > settings.max_response_chars:
            raise TooLarge(f"a message is longer than {settings.max_response_chars} characters")


def sse(event: str, data: dict[str, Any]) -> str:
    """One server-sent event; JSON keeps the data on one line."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def events(
    state: AppState, backend: ChatBackend, req: ChatRequest, params: TraceParams
) -> AsyncIterator[str]:
    settings = state.settings
    messages = [m.model_dump() for m in req.messages]
    max_tokens = min(req.max_tokens or settings.chat_max_tokens, settings.chat_max_tokens)
    temperature = req.temperature if req.temperature is not None else settings.chat_temperature
    parts: list[str] = []
    try:
        async for delta in backend.stream(messages, max_tokens=max_tokens, temperature=temperature):
            if delta:
                parts.append(delta)
                yield sse("delta", {"text": delta})
        answer = "".join(parts)
        if req.trace and answer.strip():
            limit = settings.max_response_chars
            prompt = req.messages[-1].content[:limit]
            body, _ = await state.trace(answer[:limit], prompt, params)
            yield f"event: trace\ndata: {body.decode()}\n\n"  # one line of JSON
    except (CorpusTraceError, ServiceError) as exc:
        yield sse("error", {"code": exc.code, "message": str(exc)})
    except Exception as exc:  # the stream has started: report in-band, never drop silently
        log.exception("chat stream failed", exc_info=exc)
        yield sse("error", {"code": "internal", "message": "internal error (see the server log)"})
    yield sse("done", {"chars": sum(map(len, parts))})
