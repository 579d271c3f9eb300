"""Queries try the text as typed and with a leading space (issue 10, point 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from corpustrace.engine.engine import Engine


def test_count_tries_both_spellings_and_says_which(make_client: Any, bpe_index_dir: Path) -> None:
    client = make_client(index=bpe_index_dir)
    with Engine.open(bpe_index_dir) as engine:
        typed = engine.count(engine.tokenizer.encode("the river"))
        spaced = engine.count(engine.tokenizer.encode(" the river"))
    assert spaced > typed  # a BPE: "the" and " the" are different tokens
    r = client.post("/api/count", json={"query": "the river"}).json()
    assert r["count"] == spaced and r["query_used"] == " the river"
    assert [(v["text"], v["count"]) for v in r["variants"]] == [
        ("the river", typed),
        (" the river", spaced),
    ]
    off = client.post("/api/count", json={"query": "the river", "leading_space": False}).json()
    assert off["count"] == typed and off["query_used"] == "the river"
    assert len(off["variants"]) == 1
    already = client.post("/api/count", json={"query": " the river"}).json()
    assert already["count"] == spaced and len(already["variants"]) == 1
    ids = client.post("/api/count", json={"ids": r["tokens"]}).json()
    assert ids["count"] == spaced and ids["variants"] == []


def test_ntd_answers_the_spelling_with_more_continuations(
    make_client: Any, bpe_index_dir: Path
) -> None:
    client = make_client(index=bpe_index_dir)
    with Engine.open(bpe_index_dir) as engine:
        expected = engine.ntd(engine.tokenizer.encode(" the"), 1000)
        typed = engine.ntd(engine.tokenizer.encode("the"), 1000)
    r = client.post("/api/ntd", json={"prompt": "the", "max_support": 1000}).json()
    assert r["prompt_used"] == " the" and r["prompt_count"] == expected.prompt_count
    assert [(e["token"], e["count"]) for e in r["entries"]] == [
        (e.token, e.count) for e in expected.entries
    ]
    assert [v["count"] for v in r["variants"]] == [typed.prompt_count, expected.prompt_count]
