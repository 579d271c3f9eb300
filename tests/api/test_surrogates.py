"""A lone surrogate (valid JSON, not valid Unicode) in any text field is a 4xx, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

BAD = "\ud800"
CASES: list[tuple[str, dict[str, Any]]] = [
    ("/api/count", {"query": BAD}),
    ("/api/count", {"query": "the " + BAD + " river"}),
    ("/api/find", {"query": BAD}),
    ("/api/search", {"query": BAD}),
    ("/api/search", {"clauses": [["river"], [BAD]]}),
    ("/api/ntd", {"prompt": BAD}),
    ("/api/infgram", {"prompt": BAD, "mode": "prob", "next_token": "a"}),
    ("/api/infgram", {"prompt": "the", "mode": "prob", "next_token": BAD}),
    ("/api/prob", {"prompt": "the mil", "next_token": BAD}),
    ("/api/prob", {"prompt": BAD, "next_token": "l"}),
    ("/api/trace", {"response": "the river " + BAD}),
    ("/api/trace", {"response": "the river", "prompt": BAD}),
    ("/api/trace", {"response": "the river", "delimiters": [BAD]}),
]


@pytest.mark.parametrize(("path", "body"), CASES)
def test_lone_surrogate_is_a_json_400(client: TestClient, path: str, body: dict[str, Any]) -> None:
    raw = json.dumps(body)  # ensure_ascii: the surrogate travels as the escape \ud800
    assert "\\ud800" in raw
    r = client.post(path, content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422), r.text  # 422 where the schema itself refuses it
    error = r.json()["error"]
    assert error["code"] in ("bad_query", "invalid_request")
    assert "surrogate" in error["message"] or "unicode" in error["message"]
    assert client.get("/api/health").status_code == 200
