"""`corpustrace serve A B` / `extra_indexes`: several indexes as one corpus over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import servertools
from corpustrace.cli import main
from corpustrace.tokenizer_load import load_tokenizer


@pytest.fixture(scope="module")
def phases(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    docs = servertools.corpus()
    root = tmp_path_factory.mktemp("phases")
    half = len(docs) // 2
    tok = load_tokenizer("bytes")
    return [
        servertools.build_index(root / "pretrain", tok, docs[:half]),
        servertools.build_index(root / "midtrain", tok, docs[half:]),
    ]


def test_two_indexes_are_one_corpus(make_client: Any, phases: list[Path], index_dir: Path) -> None:
    several = make_client(index=phases[0], extra_indexes=[phases[1]])
    one = make_client(index=index_dir)  # the same documents in one index
    info = several.get("/api/info").json()
    assert [(p["name"], p["first_doc"]) for p in info["indexes"]] == [
        ("pretrain", 0),
        ("midtrain", info["indexes"][0]["documents"]),
    ]
    assert info["documents"] == one.get("/api/info").json()["documents"]
    assert info["tokens"] == one.get("/api/info").json()["tokens"]
    for q in ("the river", "mill", " the"):
        assert (
            several.get("/api/count", params={"q": q}).json()["count"]
            == (one.get("/api/count", params={"q": q}).json()["count"])
        )
    body = {"response": servertools.RIVER_REPLY, "max_documents_per_span": 100}
    a, b = several.post("/api/trace", json=body).json(), one.post("/api/trace", json=body).json()
    assert [(s["start"], s["end"], s["count"]) for s in a["spans"]] == [
        (s["start"], s["end"], s["count"]) for s in b["spans"]
    ]
    first_mid = info["indexes"][1]["first_doc"]
    for d in a["documents"]:
        assert d["index"] == ("pretrain" if d["doc"] < first_mid else "midtrain")
    assert {d["index"] for d in a["documents"]} == {"pretrain", "midtrain"}
    view = several.get(f"/api/documents/{first_mid}").json()
    assert view["index"] == "midtrain"
    hits = several.post("/api/search", json={"query": "river", "limit": 100}).json()["hits"]
    assert {h["index"] for h in hits} == {"pretrain", "midtrain"}


def test_serve_refuses_indexes_with_different_tokenizers(
    phases: list[Path], bpe_index_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from corpustrace.engine.engine import Engine
    from corpustrace.errors import IndexFormatError

    with pytest.raises(IndexFormatError, match="must share one tokenizer"):
        Engine.open([phases[0], bpe_index_dir])
    assert main(["serve", str(phases[0]), str(bpe_index_dir), "--port", "0"]) != 0
    assert "must share one tokenizer" in capsys.readouterr().err
