"""POST /api/chat: the answer streamed as server-sent events, then the trace of it.

Events, in order: `status` ({"state": "loading" | "waiting"}), `delta` ({"text"}) for
every piece of the answer, `finish` ({"reason": "stop" | "length", "max_tokens"}) once
it is complete, `status` ({"state": "tracing"}) and `trace` (the TraceResult of the
whole answer, with `cached`), or `error` ({"code", "message"}) when the model or the
trace fails, and always `done` last. Problems found before the model is asked (unknown
model, none configured, bad parameters) are plain JSON errors. A client that leaves
(the UI's Stop) cancels the stream, and closing the backend's stream ends its generation.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from corpustrace.errors import CorpusTraceError, ModelError, NotFound
from corpustrace.models.base import ChatBackend, Sampling
from corpustrace.server import queries
from corpustrace.server.errors import ServiceError, TooLarge
from corpustrace.server.routes_api import ERRORS
from corpustrace.server.schemas import ChatRequest, ErrorResponse
from corpustrace.server.security import require_token
from corpustrace.server.settings import Settings
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


def sampling(req: ChatRequest, settings: Settings) -> Sampling:
    """The request's sampling, each value defaulting to its setting; tokens capped."""

    def pick(value: float | None, default: float) -> float:
        return default if value is None else value

    return Sampling(
        max_tokens=min(req.max_tokens or settings.chat_max_tokens, settings.chat_max_tokens),
        temperature=pick(req.temperature, settings.chat_temperature),
        top_p=pick(req.top_p, settings.chat_top_p),
        repetition_penalty=pick(req.repetition_penalty, settings.chat_repetition_penalty),
    )


async def events(
    state: AppState, backend: ChatBackend, req: ChatRequest, params: TraceParams
) -> AsyncIterator[str]:
    settings = state.settings
    messages = [m.model_dump() for m in req.messages]
    how = sampling(req, settings)
    parts: list[str] = []
    finished: list[str] = []
    yield sse("status", {"state": "waiting" if backend.loaded else "loading"})
    try:
        reply = backend.stream(
            messages,
            max_tokens=how.max_tokens,
            temperature=how.temperature,
            top_p=how.top_p,
            repetition_penalty=how.repetition_penalty,
            on_finish=finished.append,
        )
        # aclosing: a client that leaves cancels this generator; the backend's stream is
        # closed at once, which stops the generation (not left to the garbage collector).
        async with aclosing(reply) as deltas:
            async for delta in deltas:
                if delta:
                    parts.append(delta)
                    yield sse("delta", {"text": delta})
        reason = finished[0] if finished else "stop"
        yield sse("finish", {"reason": reason, "max_tokens": how.max_tokens})
        answer = "".join(parts)
        if req.trace and answer.strip():
            yield sse("status", {"state": "tracing"})
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
