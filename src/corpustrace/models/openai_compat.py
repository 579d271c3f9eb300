"""Any OpenAI-compatible chat endpoint (vLLM, llama.cpp server, Ollama, TGI), streamed.

One `POST {base_url}/chat/completions` with `"stream": true` per reply; the answer is
server-sent events whose `data:` payloads are `chat.completion.chunk` objects, ended
by `data: [DONE]`. A server that ignores `stream` and answers one JSON completion is
accepted too.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import httpx

from corpustrace.errors import ModelError
from corpustrace.models.base import Messages

DEFAULT_TIMEOUT = 120.0
CONNECT_TIMEOUT = 10.0
DONE = "[DONE]"
_MAX_ERROR_CHARS = 300


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

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    async def stream(
        self, messages: Messages, *, max_tokens: int, temperature: float
    ) -> AsyncIterator[str]:
        payload = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
        }
        headers = {"Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        timeout = httpx.Timeout(self.timeout, connect=min(CONNECT_TIMEOUT, self.timeout))
        try:
            async with (
                httpx.AsyncClient(timeout=timeout) as client,
                client.stream("POST", self.url, json=payload, headers=headers) as response,
            ):
                if response.status_code >= 400:
                    body = (await response.aread()).decode("utf-8", "replace")
                    raise ModelError(
                        f"{self.url} answered {response.status_code}: {error_message(body)}"
                    )
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    text = completion_text((await response.aread()).decode("utf-8", "replace"))
                    if text:
                        yield text
                    return
                async for data in sse_data(response.aiter_lines()):
                    if data.strip() == DONE:
                        return
                    delta = chunk_delta(data)
                    if delta:
                        yield delta
        except httpx.ConnectError as exc:
            raise ModelError(
                f"cannot connect to {self.url} (is the model server running?): {exc}"
            ) from exc
        except httpx.TimeoutException as exc:
            raise ModelError(f"{self.url} did not answer within {self.timeout:g}s") from exc
        except httpx.HTTPError as exc:
            raise ModelError(f"{self.url}: {type(exc).__name__}: {exc}") from exc


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
    chunk = _json_object(data, "stream chunk")
    if "error" in chunk:
        raise ModelError(f"the model server reported an error: {_error_text(chunk['error'])}")
    choices = chunk.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return ""  # e.g. a final usage-only chunk
    delta = choices[0].get("delta") or {}
    content = delta.get("content") if isinstance(delta, dict) else None
    return content if isinstance(content, str) else ""


def completion_text(body: str) -> str:
    """`choices[0].message.content` of a non-streamed `chat.completion`."""
    completion = _json_object(body, "completion")
    try:
        content = completion["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise ModelError(f"not a chat completion: {body[:_MAX_ERROR_CHARS]!r}") from exc
    return content if isinstance(content, str) else ""


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
