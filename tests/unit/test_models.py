"""Chat backends: OpenAIBackend against a real OpenAI-compatible server on loopback, and
LocalBackend on a tiny random llama built here (no download)."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from corpustrace.errors import ModelError
from corpustrace.models import (
    ChatBackend,
    LocalBackend,
    OpenAIBackend,
    backends_from_settings,
    require_local_stack,
)
from corpustrace.models.base import Sampling
from corpustrace.models.local import _generate, encode_chat
from corpustrace.models.openai_compat import chunk_delta, error_message, sse_data

HELLO = ["Hel", "lo", ", wörld", " ✓", "!"]
MESSAGES = [{"role": "user", "content": "Say hello."}]


def collect(stream: AsyncIterator[str]) -> list[str]:
    async def run() -> list[str]:
        return [delta async for delta in stream]

    return asyncio.run(run())


# -- a fake OpenAI-compatible server ---------------------------------------------------


def sse(payload: dict[str, Any] | str) -> str:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n"


def chunk(content: str | None, finish: str | None = None) -> dict[str, Any]:
    delta = {} if content is None else {"content": content}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "fake",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


async def hello_events() -> AsyncIterator[str]:
    yield sse({"choices": [{"index": 0, "delta": {"role": "assistant"}}]})
    yield ": keep-alive\n\n"
    for piece in HELLO:
        yield sse(chunk(piece))
        await asyncio.sleep(0)
    yield sse(chunk(None, finish="stop"))
    yield sse({"choices": [], "usage": {"completion_tokens": 5}})
    yield sse("[DONE]")
    yield sse(chunk("after done: never read"))


async def failing_events() -> AsyncIterator[str]:
    yield sse(chunk("partial"))
    yield sse({"error": {"message": "out of memory", "type": "server_error"}})


async def completions(request: Request) -> Response:
    body = await request.json()
    request.app.state.seen.append({"headers": dict(request.headers), "body": body})
    model = body.get("model")
    if model == "broken":
        return JSONResponse({"error": {"message": "model exploded"}}, status_code=500)
    if model == "needs-key" and request.headers.get("authorization") != "Bearer s3cret":
        return JSONResponse({"error": {"message": "invalid api key"}}, status_code=401)
    if model == "slow":
        await asyncio.sleep(2)
    if model == "no-stream":
        message = {"role": "assistant", "content": "whole answer"}
        return JSONResponse({"object": "chat.completion", "choices": [{"message": message}]})
    events = failing_events() if model == "fails-midway" else hello_events()
    return StreamingResponse(events, media_type="text/event-stream")


@pytest.fixture(scope="module")
def fake_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real OpenAI-compatible server on 127.0.0.1 (free port), run by uvicorn in a thread."""
    app = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])
    app.state.seen = []
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "fake server did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}/v1", app.state.seen
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- OpenAIBackend -----------------------------------------------------------------------


def test_openai_streams_deltas_in_order(fake_server: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = fake_server
    backend = OpenAIBackend(url + "/", "fake")
    deltas = collect(backend.stream(MESSAGES, max_tokens=7, temperature=0.25))
    assert deltas == HELLO
    assert "".join(deltas) == "Hello, wörld ✓!"
    request = seen[-1]
    assert request["body"] == {
        "model": "fake",
        "messages": MESSAGES,
        "max_tokens": 7,
        "temperature": 0.25,
        "stream": True,
    }
    assert "authorization" not in request["headers"]
    assert isinstance(backend, ChatBackend)
    assert backend.name == "fake"
    assert url in backend.description


def test_openai_sends_api_key_as_bearer(fake_server: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = fake_server
    backend = OpenAIBackend(url, "needs-key", api_key="s3cret")
    assert (
        "".join(collect(backend.stream(MESSAGES, max_tokens=5, temperature=0))) == "Hello, wörld ✓!"
    )
    assert seen[-1]["headers"]["authorization"] == "Bearer s3cret"
    with pytest.raises(ModelError, match="401: invalid api key"):
        collect(
            OpenAIBackend(url, "needs-key", api_key="wrong").stream(
                MESSAGES, max_tokens=5, temperature=0
            )
        )


def test_openai_error_status_is_model_error(fake_server: tuple[str, list[dict[str, Any]]]) -> None:
    url, _ = fake_server
    with pytest.raises(ModelError, match="answered 500: model exploded"):
        collect(OpenAIBackend(url, "broken").stream(MESSAGES, max_tokens=5, temperature=0))
    with pytest.raises(ModelError, match="404"):
        collect(
            OpenAIBackend(url + "/nowhere", "fake").stream(MESSAGES, max_tokens=5, temperature=0)
        )


def test_openai_error_inside_the_stream(fake_server: tuple[str, list[dict[str, Any]]]) -> None:
    url, _ = fake_server
    received: list[str] = []

    async def run() -> None:
        async for delta in OpenAIBackend(url, "fails-midway").stream(
            MESSAGES, max_tokens=5, temperature=0
        ):
            received.append(delta)

    with pytest.raises(ModelError, match="out of memory"):
        asyncio.run(run())
    assert received == ["partial"]


def test_openai_accepts_a_non_streamed_answer(
    fake_server: tuple[str, list[dict[str, Any]]],
) -> None:
    url, _ = fake_server
    backend = OpenAIBackend(url, "no-stream")
    assert collect(backend.stream(MESSAGES, max_tokens=5, temperature=0)) == ["whole answer"]


def test_openai_timeout_is_model_error(fake_server: tuple[str, list[dict[str, Any]]]) -> None:
    url, _ = fake_server
    backend = OpenAIBackend(url, "slow", timeout=0.3)
    with pytest.raises(ModelError, match=r"did not answer within 0\.3s"):
        collect(backend.stream(MESSAGES, max_tokens=5, temperature=0))


def test_openai_connection_refused_is_model_error() -> None:
    backend = OpenAIBackend(f"http://127.0.0.1:{free_port()}/v1", "fake")
    with pytest.raises(ModelError, match=r"cannot connect to .*is the model server running"):
        collect(backend.stream(MESSAGES, max_tokens=5, temperature=0))


def test_openai_refuses_a_url_without_scheme() -> None:
    with pytest.raises(ModelError, match="http:// or https://"):
        OpenAIBackend("127.0.0.1:8080/v1", "fake")


def test_sse_data_joins_multiline_events_and_skips_fields() -> None:
    lines = [": comment", "event: message", "data: a", "data:b", "id: 7", "", "", "data: c"]

    async def run() -> list[str]:
        async def source() -> AsyncIterator[str]:
            for line in lines:
                yield line

        return [data async for data in sse_data(source())]

    assert asyncio.run(run()) == ["a\nb", "c"]


def test_chunk_parsing() -> None:
    assert chunk_delta(json.dumps(chunk("x"))) == "x"
    assert chunk_delta(json.dumps(chunk(None, finish="stop"))) == ""
    assert chunk_delta('{"choices": [], "usage": {}}') == ""
    with pytest.raises(ModelError, match="malformed"):
        chunk_delta("{not json")
    assert error_message('{"detail": "no such model"}') == "no such model"
    assert error_message("plain text failure\n") == "plain text failure"
    assert error_message("") == "(empty body)"


# -- backends_from_settings ------------------------------------------------------------


def test_backends_from_settings(tmp_path: Path) -> None:
    assert backends_from_settings(None, None, None, None, None) == []
    both = backends_from_settings("http://h:1/v1", "m", "k", str(tmp_path), "model.gguf")
    assert [type(b) for b in both] == [OpenAIBackend, LocalBackend]
    assert isinstance(both[0], OpenAIBackend) and both[0].api_key == "k"
    assert isinstance(both[1], LocalBackend)
    assert (both[1].path, both[1].gguf_file, both[1].name) == (tmp_path, "model.gguf", "model")
    same = backends_from_settings(
        "http://h:1/v1", "model", None, str(tmp_path / "model.gguf"), None
    )
    assert [b.name for b in same] == ["model", "model-2"]
    with pytest.raises(ModelError, match="both a base URL"):
        backends_from_settings("http://h:1/v1", None, None, None, None)
    with pytest.raises(ModelError, match="GGUF"):
        backends_from_settings(None, None, None, None, "model.gguf")


# -- LocalBackend ----------------------------------------------------------------------


def test_local_without_torch_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails
    with pytest.raises(ModelError, match=r"install corpustrace\[local\]") as info:
        require_local_stack()
    assert "torch" in str(info.value)
    backend = LocalBackend("/nonexistent/model")
    with pytest.raises(ModelError, match=r"install corpustrace\[local\]"):
        collect(backend.stream(MESSAGES, max_tokens=3, temperature=0))


def test_local_missing_model_is_model_error(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    with pytest.raises(ModelError, match="no such model directory"):
        collect(LocalBackend(tmp_path / "absent").stream(MESSAGES, max_tokens=3, temperature=0))
    with pytest.raises(ModelError, match="no such GGUF file"):
        collect(LocalBackend(tmp_path, "absent.gguf").stream(MESSAGES, max_tokens=3, temperature=0))
    with pytest.raises(ModelError, match="cannot load it"):
        collect(LocalBackend(tmp_path).stream(MESSAGES, max_tokens=3, temperature=0))


def test_local_streams_from_a_tiny_model(tiny_llama: Path) -> None:
    backend = LocalBackend(tiny_llama, threads=1)
    assert isinstance(backend, ChatBackend)
    deltas = collect(backend.stream(MESSAGES, max_tokens=12, temperature=0))
    assert deltas and all(isinstance(d, str) and d for d in deltas)
    model, tokenizer = backend.load()
    # The streamed text is the greedy continuation of the chat-templated prompt.
    prompt = tokenizer.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("assistant:")
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    out = model.generate(**ids, max_new_tokens=12, do_sample=False, pad_token_id=0)
    expected = tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "".join(deltas) == expected
    # Sampling works as well, and a prompt longer than the context is cut from the left.
    long = [{"role": "user", "content": "the cat sat " * 200}]
    assert encode_chat(tokenizer, long, 10)["input_ids"].shape == (1, 10)
    assert isinstance(collect(backend.stream(long, max_tokens=4, temperature=0.8)), list)


def test_local_generation_stops_when_asked(tiny_llama: Path) -> None:
    model, tokenizer = LocalBackend(tiny_llama, threads=1).load()
    generated: list[int] = []
    generate = model.generate

    def measured_generate(**kwargs: Any) -> Any:
        out = generate(**kwargs)
        generated.append(out.shape[1] - kwargs["input_ids"].shape[1])
        return out

    model.generate = measured_generate
    try:
        _generate(model, tokenizer, MESSAGES, Sampling(60), lambda item: None, threading.Event())
        stop = threading.Event()
        # as when the caller stops reading after the first piece of text
        _generate(model, tokenizer, MESSAGES, Sampling(60), lambda item: stop.set(), stop)
    finally:
        del model.generate
    full, stopped = generated
    assert stopped < full


def test_local_one_generation_at_a_time_and_early_stop(
    tiny_llama: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import corpustrace.models.local as local

    backend = LocalBackend(tiny_llama, threads=1)
    running: list[int] = []
    most = 0
    generate = local._generate

    def counting_generate(*args: Any) -> None:
        nonlocal most
        running.append(1)
        most = max(most, len(running))
        try:
            generate(*args)
        finally:
            running.pop()

    monkeypatch.setattr(local, "_generate", counting_generate)

    async def first_then_stop() -> str:
        stream = backend.stream(MESSAGES, max_tokens=100, temperature=0)
        first = await anext(stream)
        await stream.aclose()  # the consumer leaves: the generation must end too
        return first

    async def run() -> tuple[list[str], list[str], str]:
        a, b = await asyncio.gather(
            collect_async(backend.stream(MESSAGES, max_tokens=6, temperature=0)),
            collect_async(backend.stream(MESSAGES, max_tokens=6, temperature=0)),
        )
        return a, b, await first_then_stop()

    a, b, first = asyncio.run(run())
    assert a == b and a  # both complete, and greedy decoding gives the same answer
    assert most == 1  # never two generations at once
    assert first == a[0]
    deadline = time.monotonic() + 10
    while running:
        assert time.monotonic() < deadline, "generation did not stop after the consumer left"
        time.sleep(0.01)
    assert collect(backend.stream(MESSAGES, max_tokens=6, temperature=0)) == a


async def collect_async(stream: AsyncIterator[str]) -> list[str]:
    return [delta async for delta in stream]


def test_local_sets_torch_threads_only_while_generating(
    tiny_llama: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    import corpustrace.models.local as local

    seen: list[int] = []
    original = local._generate

    def recording(*args: Any) -> None:
        seen.append(torch.get_num_threads())
        original(*args)

    monkeypatch.setattr(local, "_generate", recording)
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        backend = LocalBackend(tiny_llama, threads=1)
        backend.load()
        assert torch.get_num_threads() == 3  # loading leaves the process setting alone
        assert collect(backend.stream(MESSAGES, max_tokens=3, temperature=0))
        assert seen == [1]
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
