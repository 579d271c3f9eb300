"""Any OpenAI-compatible chat endpoint (vLLM, llama.cpp server, Ollama, TGI), streamed.

One `POST {base_url}/chat/completions` with `"stream": true` per reply; the answer is
server-sent events whose `data:` payloads are `chat.completion.chunk` objects, ended
by `data: [DONE]`. A server that ignores `stream` and answers one JSON completion is
accepted too.

`top_p` is standard; `repetition_penalty` is not (vLLM and TGI accept it, llama.cpp's
server reads it as `repeat_penalty`): it is sent when it is not 1, and a server that
refuses the request with it (400/422) is asked again without it, and from then on never.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from typing import Any

import httpx

from corpustrace.errors import ModelError
from corpustrace.models.base import Messages, OnFinish

DEFAULT_TIMEOUT = 120.0
CONNECT_TIMEOUT = 10.0
DONE = "[DONE]"
_MAX_ERROR_CHARS = 300
PENALTY_FIELDS = ("repetition_penalty", "repeat_penalty")


class OpenAIBackend:
    """A model served behind an OpenAI-compatible `/v1` URL, e.g. http://127.0.0.1:8080/v1."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ModelError(f"{base_url!r}: the base URL must start with http:// or https://")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.name = model
        self.description = f"{model} at {self.base_url}"
        self.send_penalty = True  # until the server refuses it
        self.loaded = True  # a remote server loads its model on its own

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def payload(
        self, messages: Messages, max_tokens: int, temperature: float, top_p: float, penalty: float
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
        }
        if top_p < 1.0:  # 1 is everyone's default: sent only when it changes something
            payload["top_p"] = top_p
        if penalty != 1.0 and self.send_penalty:
            payload.update(dict.fromkeys(PENALTY_FIELDS, penalty))
        return payload

    async def stream(
        self,
        messages: Messages,
        *,
        max_tokens: int,
        temperature: float,
        top_p: float = 1.0,
        repetition_penalty: float = 1.0,
        on_finish: OnFinish | None = None,
    ) -> AsyncGenerator[str, None]:
        headers = {"Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        timeout = httpx.Timeout(self.timeout, connect=min(CONNECT_TIMEOUT, self.timeout))
        finish: str | None = None
        try:
            async with httpx.AsyncClient(timeout=timeout) as client:
                for retry in (True, False):
                    payload = self.payload(
                        messages, max_tokens, temperature, top_p, repetition_penalty
                    )
                    async with client.stream(
                        "POST", self.url, json=payload, headers=headers
                    ) as response:
                        refused = response.status_code in (400, 422)
                        if refused and retry and PENALTY_FIELDS[0] in payload:
                            self.send_penalty = False  # a strict server: ask again without
                            continue
                        if response.status_code >= 400:
                            body = (await response.aread()).decode("utf-8", "replace")
                            raise ModelError(
                                f"{self.url} answered {response.status_code}: {error_message(body)}"
                            )
                        if "text/event-stream" not in response.headers.get("content-type", ""):
                            body = (await response.aread()).decode("utf-8", "replace")
                            text = completion_text(body)
                            finish = completion_finish(body)
                            if text:
                                yield text
                            break
                        async for data in sse_data(response.aiter_lines()):
                            if data.strip() == DONE:
                                break
                            delta, reason = chunk_parts(data)
                            finish = reason or finish
                            if delta:
                                yield delta
                        break
        except httpx.ConnectError as exc:
            raise ModelError(
                f"cannot connect to {self.url} (is the model server running?): {exc}"
            ) from exc
        except httpx.TimeoutException as exc:
            raise ModelError(f"{self.url} did not answer within {self.timeout:g}s") from exc
        except httpx.HTTPError as exc:
            raise ModelError(f"{self.url}: {type(exc).__name__}: {exc}") from exc
        if on_finish:
            on_finish("length" if finish == "length" else "stop")


async def sse_data(lines: AsyncIterable[str]) -> AsyncIterator[str]:
    """The `data` of each server-sent event (multi-line data joined by newlines).

    Comments (`: keep-alive`), `event:`/`id:`/`retry:` fields are skipped; an event
    ends at a blank line or at the end of the stream.
    """
    parts: list[str] = []
    async for line in lines:
        if not line:
            if parts:
                yield "\n".join(parts)
                parts = []
            continue
        field, _, value = line.partition(":")
        if field == "data":
            parts.append(value.removeprefix(" "))
    if parts:
        yield "\n".join(parts)


def chunk_delta(data: str) -> str:
    """The text one `chat.completion.chunk` adds (`choices[0].delta.content`), maybe ""."""
    return chunk_parts(data)[0]


def chunk_parts(data: str) -> tuple[str, str | None]:
    """The text of one `chat.completion.chunk` and its `finish_reason` (None until the last)."""
    chunk = _json_object(data, "stream chunk")
    if "error" in chunk:
        raise ModelError(f"the model server reported an error: {_error_text(chunk['error'])}")
    choices = chunk.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return "", None  # e.g. a final usage-only chunk
    reason = choices[0].get("finish_reason")
    delta = choices[0].get("delta") or {}
    content = delta.get("content") if isinstance(delta, dict) else None
    return (content if isinstance(content, str) else ""), (
        reason if isinstance(reason, str) else None
    )


def completion_text(body: str) -> str:
    """`choices[0].message.content` of a non-streamed `chat.completion`."""
    completion = _json_object(body, "completion")
    try:
        content = completion["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise ModelError(f"not a chat completion: {body[:_MAX_ERROR_CHARS]!r}") from exc
    return content if isinstance(content, str) else ""


def completion_finish(body: str) -> str | None:
    """`choices[0].finish_reason` of a non-streamed `chat.completion`, if it says one."""
    try:
        reason = json.loads(body)["choices"][0].get("finish_reason")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None
    return reason if isinstance(reason, str) else None


def error_message(body: str) -> str:
    """The message of an error answer (`{"error": {"message": ...}}` and variants)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:_MAX_ERROR_CHARS] or "(empty body)"
    if isinstance(data, dict):
        for key in ("error", "detail", "message"):
            if key in data:
                return _error_text(data[key])
    return body.strip()[:_MAX_ERROR_CHARS]


def _error_text(error: Any) -> str:
    if isinstance(error, dict) and "message" in error:
        return str(error["message"])[:_MAX_ERROR_CHARS]
    return str(error)[:_MAX_ERROR_CHARS]


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ModelError(f"the model server sent a malformed {what}: {text[:100]!r}") from exc
    if not isinstance(data, dict):
        raise ModelError(f"the model server sent a malformed {what}: {text[:100]!r}")
    return data
