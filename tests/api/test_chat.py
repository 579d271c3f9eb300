"""POST /api/chat against a real fake OpenAI-compatible server on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

import servertools
from corpustrace.engine.engine import Engine
from corpustrace.trace import trace
from servertools import ClientFactory
from servertools import FakeOpenAI as Fake


def chat(client: TestClient, **body: Any) -> tuple[int, list[tuple[str, Any]]]:
    with client.stream("POST", "/api/chat", json=body) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
        return r.status_code, servertools.parse_sse(text)


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_models_lists_the_backend(make_client: ClientFactory, fake_openai: Fake) -> None:
    client = make_client(openai_base_url=fake_openai.url, openai_model="fake-model")
    models = client.get("/api/models").json()
    assert models["default"] == "fake-model"
    assert [m["name"] for m in models["models"]] == ["fake-model"]
    assert client.get("/api/info").json()["chat"] is True


def test_chat_streams_then_traces(
    make_client: ClientFactory, fake_openai: Fake, index_dir: Path
) -> None:
    client = make_client(openai_base_url=fake_openai.url, openai_model="fake-model")
    status, events = chat(client, messages=user("Tell me about the mill"), max_tokens=64)
    assert status == 200
    names = [name for name, _ in events]
    assert names[0] == "status" and events[0][1] == {"state": "waiting"}
    assert names[-4:] == ["finish", "status", "trace", "done"]
    assert events[-4][1] == {"reason": "stop", "max_tokens": 64}
    assert events[-3][1] == {"state": "tracing"}
    assert set(names[1:-4]) == {"delta"} and len(names) > 8  # streamed word by word
    answer = "".join(data["text"] for name, data in events if name == "delta")
    assert answer == servertools.MILL_REPLY
    traced = events[-2][1]
    with Engine.open(index_dir) as engine:
        expected = trace(engine, answer, "Tell me about the mill").to_dict()
    assert traced["spans"] == expected["spans"] and traced["documents"] == expected["documents"]
    assert traced["prompt"] == "Tell me about the mill"
    assert events[-1][1]["chars"] == len(answer)


def test_chat_sends_conversation_and_options(make_client: ClientFactory, fake_openai: Fake) -> None:
    client = make_client(openai_base_url=fake_openai.url, openai_model="m", chat_max_tokens=100)
    conversation = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "the river?"},
    ]
    status, events = chat(
        client, messages=conversation, max_tokens=5000, temperature=0.1, trace=False
    )
    assert status == 200
    # trace=False: no trace event
    assert [n for n, _ in events if n != "delta"] == ["status", "finish", "done"]
    sent = fake_openai.requests[-1]
    assert sent["model"] == "m" and sent["stream"] is True
    assert sent["max_tokens"] == 100  # capped by the setting
    assert sent["temperature"] == 0.1
    assert sent["messages"] == conversation


def test_model_error_is_an_event(make_client: ClientFactory, fake_openai: Fake) -> None:
    client = make_client(openai_base_url=fake_openai.url, openai_model="m")
    status, events = chat(client, messages=user("please fail"))
    assert status == 200
    assert [n for n, _ in events] == ["status", "error", "done"]
    assert events[1][1]["code"] == "model_error"
    assert "the fake model broke" in events[1][1]["message"]


def test_unreachable_model_is_an_event(make_client: ClientFactory) -> None:
    sock = servertools.free_socket()  # bound, never listening: connection refused
    port = sock.getsockname()[1]
    try:
        client = make_client(openai_base_url=f"http://127.0.0.1:{port}/v1", openai_model="m")
        status, events = chat(client, messages=user("hi"))
    finally:
        sock.close()
    assert status == 200
    assert [n for n, _ in events] == ["status", "error", "done"]
    assert events[1][1]["code"] == "model_error"


def test_no_model_configured(client: TestClient) -> None:
    r = client.post("/api/chat", json={"messages": user("hi")})
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "model_error"


def test_unknown_model(make_client: ClientFactory, fake_openai: Fake) -> None:
    client = make_client(openai_base_url=fake_openai.url, openai_model="m")
    r = client.post("/api/chat", json={"messages": user("hi"), "model": "other"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_bad_chat_requests(make_client: ClientFactory, fake_openai: Fake) -> None:
    client = make_client(
        openai_base_url=fake_openai.url,
        openai_model="m",
        max_chat_messages=2,
        max_response_chars=20,
    )
    assert client.post("/api/chat", json={"messages": []}).status_code == 422
    last_is_model = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    assert client.post("/api/chat", json={"messages": last_is_model}).status_code == 422
    three = [{"role": "user", "content": "a"}] * 3
    assert client.post("/api/chat", json={"messages": three}).status_code == 413
    assert client.post("/api/chat", json={"messages": user("x" * 21)}).status_code == 413
    bad = {"messages": user("hi"), "trace_options": {"span_density": 5}}
    assert client.post("/api/chat", json=bad).json()["error"]["code"] == "bad_query"
