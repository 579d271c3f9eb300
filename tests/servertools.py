"""Test helpers shared by tests/api and tests/e2e: a fixture corpus and index, a real
uvicorn server on a free loopback port, and a fake OpenAI-compatible chat server."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from corpustrace.index.writer import build_from_tokens
from corpustrace.tokenizer import Tokenizer

DATA = Path(__file__).parent / "data"
SCREENSHOTS = Path(__file__).parents[1] / "test-output" / "screenshots"
ClientFactory = Callable[..., Any]  # make_client(**settings) -> a started TestClient
SCRIPT_DOC = (
    "Markup test: <script>window.__pwned = true; alert('pwned')</script> <b>not bold</b> & done."
)
MILL_REPLY = (
    "The mill was built in the eighteenth century by a family of weavers. "
    "Today a baker grinds flour there."
)
RIVER_REPLY = "The river begins as a thin line of melt water high in the mountains, they say."
# A long answer (a question with "slowly" in it), streamed a word every SLOW_DELAY seconds.
SLOW_REPLY = "\n".join(f"Line {i}: the mill by the river grinds flour." for i in range(80))
SLOW_DELAY = 0.03


def corpus() -> list[tuple[str, dict[str, Any]]]:
    """The fixture corpus: each line of sample.txt, plus a document holding markup."""
    lines = (DATA / "sample.txt").read_text(encoding="utf-8").splitlines()
    docs: list[tuple[str, dict[str, Any]]] = [
        (
            line,
            {
                "id": f"sample-{i}",
                "title": f"Sample line {i}",
                "source": "tests/data/sample.txt",
                "url": f"https://example.org/sample/{i}",
            },
        )
        for i, line in enumerate(lines)
        if line.strip()
    ]
    docs.append((SCRIPT_DOC, {"id": "markup", "title": "<i>markup</i> document", "source": "t"}))
    return docs


def build_index(
    out: Path, tokenizer: Tokenizer, docs: Sequence[tuple[str, dict[str, Any]]]
) -> Path:
    build_from_tokens(out, tokenizer, [(tokenizer.encode(text), meta) for text, meta in docs])
    return out


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def live_server(app: Any, timeout: float = 20.0, **options: Any) -> Iterator[str]:
    """Serve `app` with a real uvicorn server on 127.0.0.1 (free port) in a thread;
    yields the base URL. The socket is bound before the server starts (no port race).
    `options` go to uvicorn.Config (e.g. `corpustrace.server.serve.uvicorn_options`)."""
    sock = free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", timeout_graceful_shutdown=3, **options
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()


def fake_reply(messages: list[dict[str, str]]) -> str:
    last = messages[-1]["content"].lower() if messages else ""
    if "slowly" in last:
        return SLOW_REPLY
    if "mill" in last:
        return MILL_REPLY
    if "markup" in last:
        return "It said: " + SCRIPT_DOC
    return RIVER_REPLY


def fake_openai_app(delay: float = 0.005) -> FastAPI:
    """An OpenAI-compatible chat server: streams `chat.completion.chunk` events word by
    word (a word is a token: at most `max_tokens` of them, then `finish_reason` "length"),
    then `data: [DONE]`. A message containing "fail" gets an HTTP 500 error, one with
    "slowly" a long answer streamed slowly. The requests it received are kept in
    `app.state.requests`; for each stream, `app.state.streams` gets {"sent": chunks sent,
    "complete": whether it reached the end} when it ends (cancelled or not)."""
    app = FastAPI()
    app.state.requests = []
    app.state.streams = []

    @app.post("/v1/chat/completions", response_model=None)
    async def completions(request: Request) -> Response:
        body = await request.json()
        app.state.requests.append(body)
        messages = body.get("messages", [])
        if messages and "fail" in messages[-1]["content"].lower():
            return JSONResponse({"error": {"message": "the fake model broke"}}, status_code=500)
        reply = fake_reply(messages)
        pause = SLOW_DELAY if reply == SLOW_REPLY else delay
        words = reply.split(" ")
        limit = int(body.get("max_tokens") or len(words))
        reason = "length" if limit < len(words) else "stop"
        words = words[:limit]

        async def chunks() -> AsyncIterator[str]:
            record = {"sent": 0, "complete": False}
            try:
                for i, word in enumerate(words):
                    last = i == len(words) - 1
                    piece = word if last else word + " "
                    choice = {"index": 0, "delta": {"content": piece}, "finish_reason": None}
                    if last:
                        choice["finish_reason"] = reason
                    chunk = {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion.chunk",
                        "model": body.get("model"),
                        "choices": [choice],
                    }
                    yield f"data: {json.dumps(chunk)}\n\n"
                    record["sent"] += 1
                    await asyncio.sleep(pause)
                yield "data: [DONE]\n\n"
                record["complete"] = True
            finally:
                app.state.streams.append(record)

        return StreamingResponse(chunks(), media_type="text/event-stream")

    return app


@dataclass
class FakeOpenAI:
    url: str  # base URL, ending in /v1
    requests: list[dict[str, Any]]  # bodies received, oldest first
    streams: list[dict[str, Any]]  # how each stream ended (see fake_openai_app)


@contextmanager
def fake_openai_server() -> Iterator[FakeOpenAI]:
    app = fake_openai_app()
    with live_server(app) as url:
        yield FakeOpenAI(url + "/v1", app.state.requests, app.state.streams)


def parse_sse(text: str) -> list[tuple[str, Any]]:
    """(event, data) pairs of a text/event-stream body."""
    events = []
    for block in text.split("\n\n"):
        name, data = "message", []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events


def open_tab(page: Any, link: Any) -> Any:
    """Click `link` (which opens a new tab, as document links do) and return that tab."""
    with page.context.expect_page() as opened:
        link.click()
    tab = opened.value
    tab.wait_for_load_state()
    return tab


def screenshot(page: Any, name: str) -> None:
    """A full-page screenshot under test-output/screenshots/ (gitignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


# Point 1 of issue 9: a corpus document that repeats one sentence, and a trace request
# that asks for unbounded work on it (every size parameter huge, one span of the whole text).
REPEATED_SENTENCE = "The quick brown fox jumps over the lazy dog. "
HOSTILE_TRACE_OPTIONS: dict[str, Any] = {
    "span_density": 1,
    "delimiters": ["\u0001"],
    "word_boundaries": False,
    "max_documents_per_span": 1_000_000,
    "context_tokens": 10_000_000,
    "snippet_tokens": 10_000_000,
}


def repeated_corpus(times: int = 500) -> list[tuple[str, dict[str, Any]]]:
    return [
        (REPEATED_SENTENCE * times, {"id": "repeated", "title": "one sentence, repeated"}),
        ("An ordinary document about a river and a mill.", {"id": "plain"}),
    ]


def repeated_text(chars: int) -> str:
    """`chars` characters of the repeated sentence: found verbatim in the repeated document,
    and slow to trace (every suffix matches for its whole length)."""
    return (REPEATED_SENTENCE * (chars // len(REPEATED_SENTENCE) + 1))[:chars]
