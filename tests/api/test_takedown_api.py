"""`serve --takedown FILE`: taken-down documents leave every answer, reloaded on change."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import servertools


def test_takedown_file_removes_documents_and_is_reloaded(make_client: Any, tmp_path: Path) -> None:
    path = tmp_path / "takedown.txt"
    path.write_text("", encoding="utf-8")
    client = make_client(takedown=path, cache_size=8)
    body = {"response": servertools.RIVER_REPLY, "span_density": 1, "max_documents_per_span": 100}
    before = client.post("/api/trace", json=body).json()
    sources = sorted({d["doc"] for d in before["documents"]})
    assert len(sources) >= 2
    gone = sources[0]
    path.write_text(f"# removed on request\n{gone}\n", encoding="utf-8")
    stamp = time.time() + 5
    os.utime(path, (stamp, stamp))
    after = client.post("/api/trace", json=body).json()
    assert after["cached"] is False  # the list changed: not the old cached answer
    assert gone not in {d["doc"] for d in after["documents"]}
    assert set(sources) - {gone} <= {d["doc"] for d in after["documents"]}
    r = client.get(f"/api/documents/{gone}")
    assert r.status_code == 404 and "taken down" in r.json()["error"]["message"]
    hits = client.post("/api/search", json={"query": "river", "limit": 100}).json()["hits"]
    assert gone not in {h["doc"] for h in hits}
    path.write_text("", encoding="utf-8")
    os.utime(path, (stamp + 5, stamp + 5))
    assert client.get(f"/api/documents/{gone}").status_code == 200


def test_pii_documents_are_dropped_by_default(make_client: Any, tmp_path: Path) -> None:
    from corpustrace.tokenizer_load import load_tokenizer

    docs = [
        ("The mill by the river grinds grain. Mail miller@example.org for flour.", {"id": "a"}),
        ("The mill by the river grinds grain every day.", {"id": "b"}),
    ]
    index = servertools.build_index(tmp_path / "pii", load_tokenizer("bytes"), docs)
    body = {"response": "The mill by the river grinds grain", "span_density": 1}
    shown = make_client(index=index).post("/api/trace", json=body).json()
    assert [d["meta"]["id"] for d in shown["documents"]] == ["b"]
    everything = make_client(index=index, pii_filter=False).post("/api/trace", json=body).json()
    assert sorted(d["meta"]["id"] for d in everything["documents"]) == ["a", "b"]


def _occurrences(seq: list[int], tokens: list[int]) -> int:
    """Brute force: the places where `seq` starts in `tokens`."""
    n = len(seq)
    return sum(1 for i in range(len(tokens) - n + 1) if tokens[i : i + n] == seq)


def test_count_leaves_out_taken_down_documents(make_client: Any, tmp_path: Path) -> None:
    path = tmp_path / "takedown.txt"
    path.write_text("", encoding="utf-8")
    client = make_client(takedown=path)
    typed = client.post("/api/count", json={"query": " river", "leading_space": False}).json()
    query = {"ids": typed["tokens"]}
    before = client.post("/api/count", json=query).json()
    assert before["count"] >= 2
    hits = client.post("/api/search", json={**query, "limit": 100}).json()["hits"]
    gone = sorted({h["doc"] for h in hits})[:2]
    inside = sum(
        _occurrences(query["ids"], client.get(f"/api/documents/{d}").json()["tokens"]) for d in gone
    )
    assert inside > 0
    path.write_text("".join(f"{d}\n" for d in gone), encoding="utf-8")
    stamp = time.time() + 5
    os.utime(path, (stamp, stamp))
    after = client.post("/api/count", json=query).json()
    assert after["count"] == before["count"] - inside
    text = client.post("/api/count", json={"query": " river"}).json()
    assert text["count"] == after["count"]
