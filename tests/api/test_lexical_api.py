"""POST /api/lexical: hits with metadata, the same ranking as the library, bounded params."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import servertools
from corpustrace.lexical import LexicalIndex, build_lexical
from corpustrace.server import Settings, create_app
from corpustrace.tokenizer_load import load_tokenizer


@pytest.fixture(scope="module")
def lexical_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lexical-api") / "index"
    servertools.build_index(out, load_tokenizer("bytes"), servertools.corpus())
    build_lexical(out)
    return out


@pytest.fixture
def lex_client(lexical_dir: Path) -> TestClient:
    with TestClient(create_app(Settings(index=lexical_dir)), raise_server_exceptions=False) as c:
        yield c


def test_lexical_hits_match_the_library(lex_client: TestClient, lexical_dir: Path) -> None:
    query = "the mill and the baker"
    answer = lex_client.post("/api/lexical", json={"query": query, "limit": 5})
    assert answer.status_code == 200
    body = answer.json()
    count, hits = LexicalIndex.open(lexical_dir).search(query, limit=5)
    assert body["count"] == count and [h["doc"] for h in body["hits"]] == [h.doc for h in hits]
    first = body["hits"][0]
    assert first["meta"]["title"].startswith("Sample line")
    assert first["score"] == pytest.approx(hits[0].score)
    for m in first["marks"]:
        assert first["snippet"][m["char_start"] : m["char_end"]].lower() in first["matched"]
    page = lex_client.post("/api/lexical", json={"query": query, "limit": 2, "offset": 2}).json()
    assert [h["doc"] for h in page["hits"]] == [h.doc for h in hits[2:4]]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"query": "mill", "limit": 101}, 413),
        ({"query": "mill", "offset": 10_001}, 413),
        ({"query": "x" * 40_001}, 413),
        ({"query": ""}, 422),
        ({"query": "mill", "limit": 0}, 422),
        ({"query": "mill", "extra": 1}, 422),
        ({"query": "zzzz qqqq"}, 200),
    ],
)
def test_lexical_params_are_bounded(lex_client: TestClient, body: dict, status: int) -> None:
    answer = lex_client.post("/api/lexical", json=body)
    assert answer.status_code == status, answer.text
    if status != 200:
        assert "error" in answer.json()


def test_status_says_whether_the_part_exists(lex_client: TestClient, client: TestClient) -> None:
    status = lex_client.get("/api/lexical").json()
    assert status["available"] is True and status["documents"] > 0 and status["terms"] > 0
    assert client.get("/api/lexical").json() == {
        "available": False,
        "documents": None,
        "terms": None,
        "postings": None,
    }


def test_index_without_lexical_part_answers_404(client: TestClient) -> None:
    answer = client.post("/api/lexical", json={"query": "mill"})
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "no_lexical_index"


def test_lexical_built_after_the_server_started_is_found(tmp_path: Path, index_dir: Path) -> None:
    copy = tmp_path / "index"
    shutil.copytree(index_dir, copy)
    with TestClient(create_app(Settings(index=copy)), raise_server_exceptions=False) as c:
        assert c.post("/api/lexical", json={"query": "mill"}).status_code == 404
        build_lexical(copy)
        assert c.get("/api/lexical").json()["available"] is True
        assert c.post("/api/lexical", json={"query": "mill"}).status_code == 200
