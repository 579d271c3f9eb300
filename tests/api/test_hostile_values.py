"""Issue 9, point 7: every endpoint fed hostile values (huge and negative integers,
NaN and infinities, wrong types, huge strings, deep JSON, control characters) answers
with a 4xx JSON error or a proper answer, never a 500, and a kept-alive connection keeps
working after each one (a 500 would reset it). Lone surrogates are left to the
tokenizer's own tests (issue 9, point 5)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

import servertools
from corpustrace.server import Settings, create_app

HUGE_STRING = "x" * 300_000
DEEP = "[" * 50_000 + "]" * 50_000
VALUES: list[Any] = [
    2**64,
    10**30,
    -(2**63) - 1,
    -1,
    0,
    1e308,
    -1e308,
    1.5,
    True,
    None,
    "",
    "text",
    HUGE_STRING,
    "\x00\x01\x7f",
    [],
    [2**64],
    [-1, 3],
    ["a", "b"],
    {},
    {"a": 1},
]
RAW_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e999", "-0", "123456789" * 50]
ENDPOINTS: dict[str, dict[str, Any]] = {
    "/api/count": {"query": "the river"},
    "/api/find": {"query": "the river"},
    "/api/prob": {"prompt": "the", "next_token": " "},
    "/api/ntd": {"prompt": "the", "max_support": 5},
    "/api/infgram": {"prompt": "the", "mode": "ntd", "max_support": 5},
    "/api/search": {"query": "the", "offset": 0, "limit": 2, "window": 5},
    "/api/trace": {
        "response": servertools.MILL_REPLY,
        "prompt": "about",
        "span_density": 0.5,
        "delimiters": ["."],
        "word_boundaries": True,
        "min_span_length": 1,
        "max_frequency": 100,
        "max_documents_per_span": 3,
        "context_tokens": 20,
        "snippet_tokens": 5,
        "seed": 1,
    },
    "/api/chat": {
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 5,
        "temperature": 0.5,
        "trace": True,
        "trace_options": {"span_density": 0.5},
    },
}
EXTRA_FIELDS = {
    "/api/count": ["ids"],
    "/api/find": ["ids"],
    "/api/prob": ["prompt_ids", "next_id"],
    "/api/ntd": ["prompt_ids"],
    "/api/infgram": ["next_token", "next_id", "prompt_ids"],
    "/api/search": ["ids", "clauses"],
    "/api/trace": [],
    "/api/chat": ["model"],
}
QUERY_ROUTES = {
    "/api/count": ["q", "ids"],
    "/api/documents/0": ["start", "end", "mark"],
}
QUERY_VALUES = ["18446744073709551616", "-1", "nan", "1e999", "", "x" * 5000, "1,2,,3", "%00"]
OK = {200, 400, 401, 404, 408, 413, 422}


def bodies(path: str) -> list[bytes]:
    """The valid body with each field (and each extra field) set to each hostile value,
    as raw JSON so that NaN, Infinity and numbers too big for a float get through."""
    base = ENDPOINTS[path]
    out = []
    for name in [*base, *EXTRA_FIELDS[path]]:
        for value in VALUES:
            out.append(json.dumps({**base, name: value}).encode())
        for raw in [*RAW_NUMBERS, DEEP]:
            text = json.dumps({**base, name: "@@"}).replace('"@@"', raw)
            out.append(text.encode())
    out += [b"", b"null", b"[]", b'"x"', DEEP.encode(), b"{" * 10_000, b"\xff\xfe", b"{}"]
    return out


def check(r: httpx.Response, what: object, allow_503: bool = False) -> None:
    allowed = OK | {503} if allow_503 else OK
    assert r.status_code in allowed, (what, r.status_code, r.text[:300])
    if r.status_code != 200:
        assert set(r.json()) == {"error"}, (what, r.text[:300])


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_hostile_bodies_never_give_500(client: TestClient, path: str) -> None:
    for body in bodies(path):
        r = client.post(path, content=body, headers={"Content-Type": "application/json"})
        check(r, body[:120], allow_503=path == "/api/chat")  # 503: no chat model here


@pytest.mark.parametrize("path", list(QUERY_ROUTES))
def test_hostile_query_strings_never_give_500(client: TestClient, path: str) -> None:
    for name in QUERY_ROUTES[path]:
        for value in QUERY_VALUES:
            check(client.get(path, params={name: value}), (path, name, value[:40]))
    for doc in ["18446744073709551616", "-1", "1e3", "nan", "x"]:
        check(client.get(f"/api/documents/{doc}"), doc)


def test_a_kept_alive_connection_survives_hostile_requests(index_dir: Path) -> None:
    app = create_app(Settings(index=index_dir))
    with (
        servertools.live_server(app) as url,
        httpx.Client(base_url=url, limits=httpx.Limits(max_connections=1)) as http,
    ):
        for path in ENDPOINTS:
            for body in bodies(path)[::7]:
                r = http.post(path, content=body, headers={"Content-Type": "application/json"})
                check(r, (path, body[:80]), allow_503=path == "/api/chat")
        assert http.get("/api/health").status_code == 200
