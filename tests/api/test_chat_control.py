"""Chat answers under control (issue 10, point 3): sampling that avoids loops reaches the
backends, an answer cut at the token limit says so, the status tells a loading model from
a writing one, and a client that leaves stops the generation on the server."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

import servertools
from corpustrace.models import LocalBackend, OpenAIBackend
from corpustrace.models.base import Sampling
from corpustrace.models.local import generate_options
from corpustrace.server import Settings, create_app
from corpustrace.server.chat import events
from corpustrace.server.schemas import ChatRequest
from corpustrace.trace import TraceParams
from servertools import ClientFactory
from servertools import FakeOpenAI as Fake


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def chat(client: Any, **body: Any) -> list[tuple[str, Any]]:
    with client.stream("POST", "/api/chat", json=body) as r:
        assert r.status_code == 200
        return servertools.parse_sse("".join(r.iter_text()))


def test_sampling_defaults_and_per_request_values(
    make_client: ClientFactory, fake_openai: Fake
) -> None:
    client = make_client(openai_base_url=fake_openai.url, openai_model="m")
    chat(client, messages=user("the river?"), trace=False)
    sent = fake_openai.requests[-1]
    assert sent["top_p"] == 0.9 and sent["temperature"] == 0.7
    assert sent["repetition_penalty"] == 1.15 and sent["repeat_penalty"] == 1.15

    chat(client, messages=user("the river?"), top_p=0.5, repetition_penalty=1.3, trace=False)
    sent = fake_openai.requests[-1]
    assert sent["top_p"] == 0.5 and sent["repetition_penalty"] == 1.3

    client = make_client(
        openai_base_url=fake_openai.url,
        openai_model="m",
        chat_top_p=1.0,
        chat_repetition_penalty=1.0,
    )
    chat(client, messages=user("the river?"), trace=False)
    sent = fake_openai.requests[-1]  # 1 switches each off: not sent at all
    assert "top_p" not in sent and "repetition_penalty" not in sent


def test_sampling_values_are_bounded(make_client: ClientFactory, fake_openai: Fake) -> None:
    client = make_client(openai_base_url=fake_openai.url, openai_model="m")
    bads = [{"top_p": 0}, {"top_p": 1.5}, {"repetition_penalty": 0.5}, {"repetition_penalty": 3}]
    for bad in bads:
        r = client.post("/api/chat", json={"messages": user("hi"), **bad})
        assert r.status_code == 422, bad
    for bad_setting in ({"chat_top_p": 0}, {"chat_repetition_penalty": 2.5}):
        with pytest.raises(ValidationError):
            Settings(**bad_setting)


def test_answer_cut_at_the_token_limit_says_so(
    make_client: ClientFactory, fake_openai: Fake
) -> None:
    client = make_client(openai_base_url=fake_openai.url, openai_model="m")
    got = chat(client, messages=user("Tell me about the mill"), max_tokens=4)
    answer = "".join(d["text"] for name, d in got if name == "delta")
    assert answer == " ".join(servertools.MILL_REPLY.split(" ")[:4])
    assert ("finish", {"reason": "length", "max_tokens": 4}) in got
    got = chat(client, messages=user("Tell me about the mill"), max_tokens=400)
    assert ("finish", {"reason": "stop", "max_tokens": 400}) in got


def test_client_that_leaves_stops_the_generation(index_dir: Path) -> None:
    """Through a real uvicorn server: the UI's Stop closes the connection, and the
    model server's stream ends at once, far before its last word."""
    with servertools.fake_openai_server() as fake:
        settings = Settings(index=index_dir, openai_base_url=fake.url, openai_model="m")
        with (
            servertools.live_server(create_app(settings)) as url,
            httpx.Client(timeout=20) as http,
            http.stream("POST", url + "/api/chat", json={"messages": user("slowly")}) as r,
        ):
            deltas = 0
            for line in r.iter_lines():
                deltas += line.startswith("event: delta")
                if deltas == 3:
                    break
        deadline = time.monotonic() + 10
        while not fake.streams:
            assert time.monotonic() < deadline, "the model's stream was not closed"
            time.sleep(0.05)
    words = len(servertools.SLOW_REPLY.split(" "))
    assert fake.streams == [{"sent": fake.streams[0]["sent"], "complete": False}]
    assert fake.streams[0]["sent"] < words // 4


def strict_app() -> FastAPI:
    """An OpenAI-like server that refuses fields it does not know, as OpenAI's does."""
    app = FastAPI()
    app.state.bodies = []
    known = {"model", "messages", "max_tokens", "temperature", "top_p", "stream"}

    @app.post("/v1/chat/completions", response_model=None)
    async def completions(request: Request) -> Response:
        body = await request.json()
        app.state.bodies.append(body)
        unknown = sorted(set(body) - known)
        if unknown:
            message = f"Unrecognized request argument supplied: {unknown[0]}"
            return JSONResponse({"error": {"message": message}}, status_code=400)
        answer = {"choices": [{"message": {"content": "ok"}, "finish_reason": "length"}]}
        return Response(json.dumps(answer), media_type="application/json")

    return app


def test_a_strict_server_is_asked_again_without_the_penalty() -> None:
    app = strict_app()
    with servertools.live_server(app) as url:
        backend = OpenAIBackend(url + "/v1", "m")
        reasons: list[str] = []

        async def run() -> list[str]:
            stream = backend.stream(
                user("hi"), max_tokens=8, temperature=0.5, top_p=0.8,
                repetition_penalty=1.2, on_finish=reasons.append,
            )  # fmt: skip
            return [d async for d in stream]

        assert asyncio.run(run()) == ["ok"]
        assert reasons == ["length"]
        first, second = app.state.bodies
        assert first["repetition_penalty"] == 1.2 and "repetition_penalty" not in second
        assert second["top_p"] == 0.8
        asyncio.run(run())  # remembered: the next request goes without it at once
        assert len(app.state.bodies) == 3 and "repetition_penalty" not in app.state.bodies[2]


def test_local_model_gets_the_sampling(tiny_llama: Path) -> None:
    """The real tiny model: the options reach model.generate, the penalty changes the
    greedy answer, and a reply cut at max_tokens reports "length"."""
    assert generate_options(Sampling(7, 0.0, 0.5, 1.3)) == {
        "max_new_tokens": 7,
        "do_sample": False,
        "repetition_penalty": 1.3,
    }
    assert generate_options(Sampling(7, 0.8, 0.5, 1.0))["top_p"] == 0.5
    backend = LocalBackend(tiny_llama, threads=1)
    model, _ = backend.load()
    seen: list[dict[str, Any]] = []
    generate = model.generate

    def recording(**kwargs: Any) -> Any:
        seen.append({k: kwargs.get(k) for k in ("repetition_penalty", "top_p", "do_sample")})
        return generate(**kwargs)

    model.generate = recording
    try:

        def answer(**sampling: Any) -> tuple[str, list[str]]:
            reasons: list[str] = []

            async def run() -> str:
                stream = backend.stream(user("the cat"), on_finish=reasons.append, **sampling)
                return "".join([d async for d in stream])

            return asyncio.run(run()), reasons

        plain, reasons = answer(max_tokens=24, temperature=0)
        penalised, _ = answer(max_tokens=24, temperature=0, repetition_penalty=2.0)
        answer(max_tokens=4, temperature=0.9, top_p=0.3)
    finally:
        del model.generate
    assert seen == [
        {"repetition_penalty": 1.0, "top_p": None, "do_sample": False},
        {"repetition_penalty": 2.0, "top_p": None, "do_sample": False},
        {"repetition_penalty": 1.0, "top_p": 0.3, "do_sample": True},
    ]
    assert reasons == ["length"]  # a random model does not stop by itself in 24 tokens
    assert penalised != plain


def test_status_says_loading_until_the_local_model_is_loaded(
    make_client: ClientFactory, tiny_llama: Path
) -> None:
    state = make_client().app.state.corpustrace
    backend = LocalBackend(tiny_llama, threads=1)
    req = ChatRequest.model_validate({"messages": user("the cat"), "max_tokens": 3})

    async def run() -> list[tuple[str, Any]]:
        text = "".join([e async for e in events(state, backend, req, TraceParams())])
        return servertools.parse_sse(text)

    assert not backend.loaded
    first = asyncio.run(run())
    assert first[0] == ("status", {"state": "loading"})
    assert backend.loaded
    assert asyncio.run(run())[0] == ("status", {"state": "waiting"})
    assert ("finish", {"reason": "length", "max_tokens": 3}) in first
