"""Every JSON endpoint, in-process, on a real index; answers compared with brute force."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import servertools
from corpustrace.engine.engine import Engine
from corpustrace.trace import TraceParams, trace

TEXTS = [text for text, _ in servertools.corpus()]


def occurrences(needle: bytes) -> int:
    """The slow, obviously correct count: overlapping matches in every document."""
    total = 0
    for text in TEXTS:
        data = text.encode("utf-8")
        at = data.find(needle)
        while at >= 0:
            total += 1
            at = data.find(needle, at + 1)
    return total


def without_timings(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in {"timings_ms", "cached"}}


def test_health(client: TestClient) -> None:
    r = client.get("/api/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_info(client: TestClient, index_dir: Path) -> None:
    info = client.get("/api/info").json()
    assert info["documents"] == len(TEXTS)
    assert info["tokens"] == sum(len(t.encode("utf-8")) for t in TEXTS)
    assert info["token_width"] == 1
    assert info["tokenizer"]["name"] == "bytes"
    assert len(info["shards"]) == 1 and info["shards"][0]["documents"] == len(TEXTS)
    assert (
        info["sizes"]["total_bytes"] == info["sizes"]["shard_bytes"] + info["sizes"]["other_bytes"]
    )
    assert info["limits"]["max_query_tokens"] == 1000
    assert info["chat"] is False


def test_models_empty_without_configuration(client: TestClient) -> None:
    assert client.get("/api/models").json() == {"models": [], "default": None}


@pytest.mark.parametrize(
    "text", ["the river", "mill", "e", "Naïve", "🌊🐟", "no such phrase at all"]
)
def test_count_matches_brute_force(client: TestClient, text: str) -> None:
    expected = occurrences(text.encode("utf-8"))
    post = client.post("/api/count", json={"query": text}).json()
    assert post["count"] == expected
    assert post["tokens"] == list(text.encode("utf-8"))
    get = client.get("/api/count", params={"q": text}).json()
    assert get["count"] == expected
    ids = ",".join(str(b) for b in text.encode("utf-8"))
    assert client.get("/api/count", params={"ids": ids}).json()["count"] == expected
    assert client.post("/api/count", json={"ids": list(text.encode())}).json()["count"] == expected


def test_find_ranges_sum_to_count(client: TestClient) -> None:
    r = client.post("/api/find", json={"query": "the "}).json()
    assert r["count"] == occurrences(b"the ")
    assert sum(x["end"] - x["start"] for x in r["ranges"]) == r["count"]


def test_prob(client: TestClient) -> None:
    r = client.post("/api/prob", json={"prompt": "the mil", "next_token": "l"}).json()
    assert r["count"] == occurrences(b"the mill")
    assert r["prompt_count"] == occurrences(b"the mil")
    assert r["prob"] == pytest.approx(r["count"] / r["prompt_count"])
    by_id = client.post("/api/prob", json={"prompt_ids": list(b"the mil"), "next_id": ord("l")})
    assert by_id.json() == r


def test_ntd(client: TestClient) -> None:
    r = client.post("/api/ntd", json={"prompt": "the r", "max_support": 10}).json()
    total = sum(e["count"] for e in r["entries"])
    assert total == r["prompt_count"]
    for entry in r["entries"]:
        assert entry["count"] == occurrences(b"the r" + entry["token_text"].encode())
    assert sum(e["prob"] for e in r["entries"]) == pytest.approx(1.0)


def test_infgram_backs_off(client: TestClient) -> None:
    r = client.post("/api/infgram", json={"prompt": "qqqq the mil", "mode": "ntd"}).json()
    assert r["mode"] == "ntd"
    assert r["suffix_text"] == " the mil"
    assert r["ntd"]["entries"][0]["token_text"] == "l"
    p = client.post(
        "/api/infgram", json={"prompt": "qqqq the mil", "mode": "prob", "next_token": "l"}
    ).json()
    assert p["prob"] == pytest.approx(1.0) and p["ntd"] is None


def test_search_pages_cover_every_occurrence(client: TestClient) -> None:
    expected = occurrences(b"river")
    seen = []
    offset = 0
    while True:
        r = client.post("/api/search", json={"query": "river", "offset": offset, "limit": 4})
        page = r.json()
        assert page["count"] == expected and page["mode"] == "ngram"
        if not page["hits"]:
            break
        for hit in page["hits"]:
            assert hit["text"][hit["match_char_start"] : hit["match_char_end"]] == "river"
            seen.append((hit["doc"], hit["position"]))
        offset += 4
    assert len(seen) == len(set(seen)) == expected


def test_search_cnf(client: TestClient) -> None:
    r = client.post("/api/search", json={"clauses": [["mill"], ["baker", "weavers"]]}).json()
    expected = [i for i, t in enumerate(TEXTS) if "mill" in t and ("baker" in t or "weavers" in t)]
    assert r["mode"] == "cnf"
    assert r["count"] == len(expected)
    assert [d["doc"] for d in r["documents"]] == expected
    assert TEXTS[expected[0]].startswith(r["documents"][0]["preview"])


def test_document_window_and_marks(client: TestClient) -> None:
    r = client.get("/api/documents/1", params={"start": 4, "end": 40, "mark": ["mill", "built"]})
    doc = r.json()
    text = TEXTS[1].encode()[4:40].decode()
    assert doc["text"] == text and (doc["start"], doc["end"]) == (4, 40)
    assert doc["meta"]["id"] == "sample-1"
    assert doc["length"] == len(TEXTS[1].encode())
    for mark in doc["marks"]:
        assert doc["text"][mark["char_start"] : mark["char_end"]] == ["mill", "built"][mark["mark"]]
    assert {m["mark"] for m in doc["marks"]} == {0, 1}


def test_document_of_markup_is_returned_verbatim(client: TestClient) -> None:
    doc = client.get(f"/api/documents/{len(TEXTS) - 1}").json()
    assert doc["text"] == servertools.SCRIPT_DOC
    assert doc["meta"]["title"] == "<i>markup</i> document"


def test_trace_matches_library_and_is_cached(client: TestClient, index_dir: Path) -> None:
    body = {"prompt": "Tell me about the mill", "response": servertools.MILL_REPLY}
    first = client.post("/api/trace", json=body)
    assert first.status_code == 200
    data = first.json()
    assert data["cached"] is False
    with Engine.open(index_dir) as engine:
        expected = trace(engine, body["response"], body["prompt"]).to_dict()
    assert without_timings(data) == without_timings(expected)
    assert data["spans"], "the mill sentence is in the corpus"
    again = client.post("/api/trace", json=body).json()
    assert again["cached"] is True
    assert without_timings(again) == without_timings(data)


def test_trace_parameters_are_passed_through(client: TestClient, index_dir: Path) -> None:
    params = {
        "span_density": 1.0,
        "delimiters": [],
        "word_boundaries": False,
        "leading_space": False,
        "min_span_length": 3,
        "max_frequency": 50,
        "max_documents_per_span": 2,
        "context_tokens": 30,
        "snippet_tokens": 5,
        "seed": 7,
        "ranking": "olmotrace",
    }
    r = client.post("/api/trace", json={"response": servertools.RIVER_REPLY, **params}).json()
    assert r["params"] == params
    with Engine.open(index_dir) as engine:
        expected = trace(engine, servertools.RIVER_REPLY, "", TraceParams(**params)).to_dict()
    assert without_timings(r) == without_timings(expected)
    assert all(s["end"] - s["start"] >= 3 for s in r["spans"])


def test_trace_on_bpe_index(make_client: Any, bpe_index_dir: Path) -> None:
    client = make_client(index=bpe_index_dir)
    info = client.get("/api/info").json()
    assert len(info["shards"]) > 1 and info["token_width"] == 2
    r = client.post("/api/trace", json={"response": servertools.MILL_REPLY}).json()
    assert r["spans"] and r["documents"]
    for doc in r["documents"]:
        for sn in doc["snippets"]:
            assert sn["text"][sn["char_start"] : sn["char_end"]] == r["spans"][sn["span"]]["text"]
    count = client.get("/api/count", params={"q": " the mill"}).json()
    assert len(count["tokens"]) == 2  # " the", " mill": BPE tokens, counted as such
    assert count["count"] == occurrences(b" the mill")
