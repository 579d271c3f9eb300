"""`corpustrace build --lexical`, `lexical build` and `search --lexical` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpustrace.cli import main

DOCS = [
    {"id": "everest", "title": "Mount Everest", "text": "Mount Everest is the highest mountain."},
    {"id": "k2", "title": "K2", "text": "K2 is the second highest mountain on Earth."},
    {"id": "bread", "title": "Bread", "text": "Bread is a staple food made of flour."},
]


def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    return path


def test_build_with_lexical_then_search(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ix"
    assert (
        main(["build", str(corpus(tmp_path)), "-o", str(out), "-t", "bytes", "-q", "--lexical"])
        == 0
    )
    assert "lexical index of 3 documents" in capsys.readouterr().out
    assert main(["search", str(out), "highest mountain Everest", "--lexical", "--json"]) == 0
    page = json.loads(capsys.readouterr().out)
    assert page["count"] == 2
    first = page["hits"][0]
    assert first["meta"]["title"] == "Mount Everest" and first["doc"] == 0
    assert first["matched"] == ["everest", "highest", "mountain"]
    assert first["score"] > page["hits"][1]["score"] > 0
    assert main(["search", str(out), "flour", "--lexical"]) == 0
    text = capsys.readouterr().out
    assert "1 documents match" in text and "[2] Bread" in text
    assert main(["verify", str(out)]) == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    assert "lexical      BM25 over" in capsys.readouterr().out
    assert main(["info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["lexical"]["documents"] == 3


def test_lexical_build_adds_the_part_to_an_existing_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ix"
    assert main(["build", str(corpus(tmp_path)), "-o", str(out), "-t", "bytes", "-q"]) == 0
    assert main(["search", str(out), "bread", "--lexical"]) == 1
    assert "corpustrace lexical build" in capsys.readouterr().err
    assert main(["lexical", "build", str(out)]) == 0
    assert main(["search", str(out), "bread", "--lexical", "--json", "--limit", "1"]) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1])["hits"][0]["doc"] == 2
    assert main(["verify", str(out)]) == 0


def test_trace_ranking_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ix"
    assert main(["build", str(corpus(tmp_path)), "-o", str(out), "-t", "bytes", "-q"]) == 0
    capsys.readouterr()
    response = "Mount Everest is the highest mountain."
    for ranking, level in (("coverage", "high"), ("olmotrace", "low")):
        args = ["trace", str(out), "--response", response, "--ranking", ranking, "--json"]
        assert main(args) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["params"]["ranking"] == ranking
        assert data["documents"][0]["meta"]["title"] == "Mount Everest"
        assert data["documents"][0]["level"] == level
