"""Issue 9 through the API: trace sizes bounded by the settings (413 naming the limit),
search offsets bounded, a timed-out request frees the pool, and shutdown drains it."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

import servertools
from corpustrace.server import Settings, create_app
from corpustrace.server.state import AppState
from servertools import ClientFactory

SLOW_TRACE_OPTIONS = {"span_density": 1, "delimiters": ["\u0001"], "word_boundaries": False}


@pytest.mark.parametrize(
    ("name", "setting", "default"),
    [
        ("context_tokens", "max_context_tokens", 1_000),
        ("snippet_tokens", "max_snippet_tokens", 200),
        ("max_documents_per_span", "max_documents_per_span", 100),
    ],
)
def test_trace_sizes_over_the_settings_get_413_naming_the_limit(
    make_client: ClientFactory, name: str, setting: str, default: int
) -> None:
    client = make_client()
    text = servertools.MILL_REPLY
    assert client.post("/api/trace", json={"response": text, name: default}).status_code == 200
    r = client.post("/api/trace", json={"response": text, name: default + 1})
    assert r.status_code == 413, r.text
    assert r.json()["error"] == {
        "code": "too_large",
        "message": f"{name} {default + 1} is above the limit {default} of this server",
    }
    lowered = make_client(**{setting: 5})
    assert lowered.post("/api/trace", json={"response": text, name: 6}).status_code == 413
    huge = client.post("/api/trace", json={"response": text, name: 10**30})
    assert huge.status_code == 413


def test_too_many_delimiters_get_413(client: TestClient) -> None:
    body = {"response": "a. b", "delimiters": [chr(0x4E00 + i) for i in range(17)]}
    r = client.post("/api/trace", json=body)
    assert r.status_code == 413 and "delimiters" in r.json()["error"]["message"]


def test_the_issue_request_is_refused_at_once(
    repeated_index_dir: Path, index_dir: Path, make_client: ClientFactory
) -> None:
    client = make_client(index=repeated_index_dir)
    body = {"response": servertools.repeated_text(20_000), **servertools.HOSTILE_TRACE_OPTIONS}
    r = client.post("/api/trace", json=body)
    assert r.status_code == 413 and "above the limit" in r.json()["error"]["message"]
    chat = {"messages": [{"role": "user", "content": "hi"}], "trace_options": body}
    del chat["trace_options"]["response"]
    assert client.post("/api/chat", json=chat).status_code == 413


@pytest.mark.parametrize("offset", [2**64, 10**30, 1_000_001])
def test_search_offset_is_bounded(client: TestClient, offset: int) -> None:
    r = client.post("/api/search", json={"query": "the", "offset": offset})
    assert r.status_code == 413, r.text
    assert "offset" in r.json()["error"]["message"]
    cnf = client.post("/api/search", json={"clauses": [["the"]], "offset": offset})
    assert cnf.status_code == 413
    assert client.post("/api/search", json={"query": "the", "window": 501}).status_code == 413


def test_the_engine_pages_past_the_end_without_error(client: TestClient) -> None:
    state: AppState = client.app.state.corpustrace  # type: ignore[attr-defined]
    ids = state.engine.tokenizer.encode("the")
    page = state.engine.search_documents(ids, offset=2**64, limit=10)
    assert page.hits == () and page.count > 0


def test_a_timed_out_trace_frees_the_pool_within_seconds(repeated_index_dir: Path) -> None:
    """One worker; a trace that computes for tens of seconds hits the 1 s limit. The
    next request on the pool is answered right after the 504, not when the trace ends."""
    settings = Settings(index=repeated_index_dir, request_timeout_s=1.0, workers=1)
    slow = {"response": servertools.repeated_text(20_000), **SLOW_TRACE_OPTIONS}
    with TestClient(create_app(settings)) as client:
        r = client.post("/api/trace", json=slow)
        assert r.status_code == 504 and r.json()["error"]["code"] == "timeout"
        after_504 = time.monotonic()
        count = client.post("/api/count", json={"query": "quick brown"})
        freed_in = time.monotonic() - after_504
    assert count.status_code == 200 and count.json()["count"] == 500
    assert freed_in < 5.0, f"the pool stayed busy {freed_in:.1f} s after the 504"


def test_close_waits_for_the_work_in_flight(repeated_index_dir: Path) -> None:
    settings = Settings(index=repeated_index_dir, request_timeout_s=30.0, workers=2)
    body = {"response": servertools.repeated_text(5_000), **SLOW_TRACE_OPTIONS}
    results: list[Any] = []
    with TestClient(create_app(settings)) as client:
        state: AppState = client.app.state.corpustrace  # type: ignore[attr-defined]
        worker = threading.Thread(
            target=lambda: results.append(client.post("/api/trace", json=body))
        )
        worker.start()
        # The job is on the pool once the trace is in flight (run() submits it at once);
        # a fixed sleep raced a slow CI machine, where close() came first and gave a 503.
        waited_until = time.monotonic() + 20
        while not state._inflight and time.monotonic() < waited_until:
            time.sleep(0.01)
        assert state._inflight, "the trace never reached the pool"
        state.close()
        still_running = [t.name for t in threading.enumerate() if "corpustrace-work" in t.name]
        assert still_running == [], "close() returned while a job was still running"
        worker.join(30)
        assert results and results[0].status_code == 200, results
        refused = client.post("/api/count", json={"query": "quick"})
        assert refused.status_code == 503 and "shutting down" in refused.text


def test_the_factory_opens_no_index(tmp_path: Path) -> None:
    app = create_app(Settings(index=tmp_path / "no-index-here"))
    schema = app.openapi()  # exporting the schema needs no index
    assert "/api/trace" in schema["paths"]
    state: AppState = app.state.corpustrace
    assert state._engine is None


def test_health_answers_head(client: TestClient) -> None:
    r = client.head("/api/health")
    assert r.status_code == 200 and r.content == b""
    assert client.get("/api/health").json()["status"] == "ok"


def test_health_head_on_a_real_server(index_dir: Path) -> None:
    app = create_app(Settings(index=index_dir))
    with servertools.live_server(app) as url:
        assert httpx.head(url + "/api/health").status_code == 200
