"""Every error path answers JSON {"error": {"code", "message"}} with a 4xx/5xx status,
and bad input never gives a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from corpustrace.errors import IndexFormatError
from corpustrace.server import Settings, create_app
from servertools import ClientFactory


def error_of(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return str(body["error"]["message"])


def test_malformed_json(client: TestClient) -> None:
    r = client.post(
        "/api/trace", content=b'{"response": "x",', headers={"Content-Type": "application/json"}
    )
    error_of(r, 422, "invalid_json")


def test_missing_and_wrong_fields(client: TestClient) -> None:
    assert "response" in error_of(client.post("/api/trace", json={}), 422, "invalid_request")
    error_of(client.post("/api/trace", json={"response": ""}), 422, "invalid_request")
    error_of(client.post("/api/trace", json={"response": "x", "spam": 1}), 422, "invalid_request")
    error_of(client.post("/api/trace", json=["not", "an", "object"]), 422, "invalid_request")
    error_of(client.post("/api/count", json={}), 422, "invalid_request")
    error_of(client.post("/api/count", json={"query": "a", "ids": [1]}), 422, "invalid_request")
    error_of(client.get("/api/count"), 422, "invalid_request")
    error_of(client.get("/api/count", params={"ids": "1,x"}), 422, "invalid_request")
    error_of(client.post("/api/search", json={"offset": 0}), 422, "invalid_request")
    error_of(client.post("/api/search", json={"query": "a", "offset": -1}), 422, "invalid_request")
    error_of(client.post("/api/infgram", json={"mode": "prob"}), 422, "invalid_request")


def test_bad_trace_params(client: TestClient) -> None:
    msg = error_of(
        client.post("/api/trace", json={"response": "x", "span_density": 2}), 400, "bad_query"
    )
    assert "span_density" in msg
    error_of(
        client.post("/api/trace", json={"response": "x", "delimiters": [""]}), 400, "bad_query"
    )
    error_of(
        client.post("/api/trace", json={"response": "x", "min_span_length": 0}), 400, "bad_query"
    )
    error_of(
        client.post("/api/trace", json={"response": "x", "span_density": "much"}),
        422,
        "invalid_request",
    )


def test_bad_query_values(client: TestClient) -> None:
    error_of(client.post("/api/count", json={"ids": [300]}), 400, "bad_query")
    error_of(client.post("/api/count", json={"ids": [255]}), 400, "bad_query")  # the separator
    error_of(client.post("/api/prob", json={"prompt": "a", "next_token": "ab"}), 400, "bad_query")
    error_of(client.post("/api/search", json={"clauses": [[]]}), 400, "bad_query")
    error_of(client.post("/api/search", json={"clauses": [["a", ""]]}), 400, "bad_query")


def test_limits(make_client: ClientFactory) -> None:
    client = make_client(
        max_query_tokens=8,
        max_response_chars=50,
        max_page_size=5,
        max_support=10,
        max_marks=2,
        max_clauses=2,
    )
    error_of(client.post("/api/count", json={"query": "a" * 9}), 413, "too_large")
    error_of(client.post("/api/count", json={"ids": [97] * 9}), 413, "too_large")
    error_of(client.get("/api/count", params={"q": "a" * 10_000}), 413, "too_large")
    error_of(client.post("/api/ntd", json={"prompt": "a" * 9}), 413, "too_large")
    error_of(client.post("/api/ntd", json={"prompt": "a", "max_support": 11}), 413, "too_large")
    error_of(client.post("/api/trace", json={"response": "a" * 51}), 413, "too_large")
    error_of(
        client.post("/api/trace", json={"response": "a", "prompt": "b" * 51}), 413, "too_large"
    )
    error_of(client.post("/api/search", json={"query": "a", "limit": 6}), 413, "too_large")
    error_of(client.post("/api/search", json={"clauses": [["a"], ["b"], ["c"]]}), 413, "too_large")
    error_of(client.get("/api/documents/0", params={"mark": ["a", "b", "c"]}), 413, "too_large")
    assert client.post("/api/count", json={"query": "a" * 8}).status_code == 200


def test_document_window_is_clipped(make_client: ClientFactory) -> None:
    client = make_client(max_document_tokens=10)
    doc = client.get("/api/documents/0", params={"start": 5, "end": 500}).json()
    assert (doc["start"], doc["end"]) == (5, 15)


def test_oversize_body(make_client: ClientFactory) -> None:
    client = make_client(max_body_bytes=2048)
    big = {"response": "x" * 5000}
    error_of(client.post("/api/trace", json=big), 413, "too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        yield b'{"response": "'
        for _ in range(10):
            yield b"y" * 500
        yield b'"}'

    r = client.post("/api/trace", content=chunks(), headers={"Content-Type": "application/json"})
    error_of(r, 413, "too_large")
    assert client.post("/api/trace", json={"response": "small"}).status_code == 200


def test_unknown_document(client: TestClient) -> None:
    error_of(client.get("/api/documents/99999"), 404, "not_found")
    error_of(client.get("/api/documents/-1"), 422, "invalid_request")
    error_of(client.get("/api/documents/abc"), 422, "invalid_request")


def test_unknown_route_and_method(client: TestClient) -> None:
    error_of(client.get("/api/nope"), 404, "not_found")
    error_of(client.get("/api/trace"), 405, "method_not_allowed")


def test_unknown_page_is_html_for_browsers(client: TestClient) -> None:
    r = client.get("/documents/99999", headers={"Accept": "text/html"})
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    assert "does not exist" in r.text
    # Not a document id at all: the same HTML 404 page, not a raw JSON 422.
    for bad in ("abc", "-1", "1.5"):
        r = client.get(f"/documents/{bad}", headers={"Accept": "text/html"})
        assert r.status_code == 404 and "text/html" in r.headers["content-type"], bad
        assert "<html" in r.text.lower() and "doc" in r.text
    assert client.get("/documents/abc").status_code == 422  # an API client: JSON still


def test_time_limit_gives_504(make_client: ClientFactory) -> None:
    client = make_client(request_timeout_s=1e-6)
    error_of(client.post("/api/trace", json={"response": "The river " * 200}), 504, "timeout")
    assert client.get("/api/health").status_code == 200


def test_auth_token(make_client: ClientFactory) -> None:
    client = make_client(api_token="s3cret")
    assert client.get("/api/health").status_code == 200  # stays open for probes
    r = client.get("/api/info")
    error_of(r, 401, "unauthorized")
    assert r.headers["www-authenticate"] == "Bearer"
    error_of(
        client.get("/api/info", headers={"Authorization": "Bearer wrong"}), 401, "unauthorized"
    )
    error_of(
        client.get("/api/info", headers={"Authorization": "Basic s3cret"}), 401, "unauthorized"
    )
    error_of(client.post("/api/trace", json={"response": "x"}), 401, "unauthorized")
    error_of(client.post("/api/chat", json={"messages": []}), 401, "unauthorized")
    ok = {"Authorization": "Bearer s3cret"}
    assert client.get("/api/info", headers=ok).status_code == 200
    assert client.post("/api/count", json={"query": "a"}, headers=ok).status_code == 200
    assert client.get("/").status_code == 200  # pages hold no data; their API calls need it


def test_cors_off_by_default(client: TestClient) -> None:
    origin = {"Origin": "https://elsewhere.example"}
    r = client.get("/api/info", headers=origin)
    assert "access-control-allow-origin" not in r.headers
    pre = client.options("/api/trace", headers={**origin, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in pre.headers
    assert pre.status_code in (404, 405)


def test_cors_when_configured(make_client: ClientFactory) -> None:
    client = make_client(cors_origins=["https://ui.example"])
    r = client.get("/api/info", headers={"Origin": "https://ui.example"})
    assert r.headers["access-control-allow-origin"] == "https://ui.example"
    other = client.get("/api/info", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


BAD_BODIES = [
    None,
    1,
    "x",
    [],
    {"query": None},
    {"query": 5},
    {"ids": "abc"},
    {"ids": [-1]},
    {"ids": [1.5]},
    {"ids": [10**30]},
    {"prompt": "a", "next_id": -3},
    {"max_support": 0},
    {"clauses": "a"},
    {"clauses": [["a"]], "limit": 0},
    {"response": 5},
    {"messages": "hi"},
    {"messages": [{"role": "assistant", "content": "x"}]},
    {"window": 10_000, "query": "a"},
]


@pytest.mark.parametrize(
    "path",
    [
        "/api/count",
        "/api/find",
        "/api/prob",
        "/api/ntd",
        "/api/infgram",
        "/api/search",
        "/api/trace",
        "/api/chat",
    ],
)
def test_bad_input_never_gives_500(client: TestClient, path: str) -> None:
    for body in BAD_BODIES:
        r = client.post(path, json=body)
        assert 400 <= r.status_code < 500 or r.status_code == 503, (path, body, r.text)
        assert "error" in r.json()


def test_missing_index_fails_at_start(tmp_path: Path) -> None:
    app = create_app(Settings(index=tmp_path / "missing"))  # the factory opens nothing
    with pytest.raises(IndexFormatError), TestClient(app):
        pass
