"""A damaged index is never served silently: refused at start (or by `serve --verify`),
or answered with 503 `bad_index` naming the file, never a 500 or a wrong document."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

import servertools
from corpustrace.cli import main
from corpustrace.errors import IndexFormatError
from corpustrace.index import format as fmt
from corpustrace.index.verify import require_intact
from corpustrace.index.writer import build_from_tokens
from corpustrace.server import Settings, create_app
from corpustrace.tokenizer_load import load_tokenizer

SHARD = "shard-00000"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, bpe_path: Path) -> Path:
    tok = load_tokenizer(bpe_path)
    out = tmp_path_factory.mktemp("bad-index") / "index"
    build_from_tokens(out, tok, [(tok.encode(t), m) for t, m in servertools.corpus()])
    return out


@pytest.fixture
def copy(pristine: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "index"))


Serve = Callable[[], TestClient]


@pytest.fixture
def serve(copy: Path) -> Iterator[Serve]:
    """A client of the damaged copy, opened after the test has damaged it."""
    clients: list[TestClient] = []

    def make() -> TestClient:
        client = TestClient(create_app(Settings(index=copy)), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def write_at(path: Path, offset: int, data: bytes) -> None:
    with path.open("r+b") as fh:
        fh.seek(offset)
        fh.write(data)


def bad_index(response: Any, name: str) -> None:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "bad_index" and f"{SHARD}/{name}" in error["message"], error


def doc_start(copy: Path, doc: int) -> int:
    return int(np.fromfile(copy / SHARD / fmt.DOCS, dtype="<u8")[doc])


def test_out_of_vocabulary_token_is_a_503(copy: Path, serve: Serve) -> None:
    at = doc_start(copy, 2) + 4
    write_at(copy / SHARD / fmt.TOKENS, at * 2, (60000).to_bytes(2, "little"))
    client = serve()
    bad_index(client.get("/api/documents/2"), fmt.TOKENS)
    assert client.get("/api/documents/1").status_code == 200
    text = client.get("/api/documents/2", params={"end": 3}).json()["text"]
    bad_index(client.post("/api/trace", json={"response": text * 3}), fmt.TOKENS)
    assert client.get("/api/health").status_code == 200


def test_out_of_range_suffix_array_position_is_a_503(copy: Path, serve: Serve) -> None:
    client = serve()
    query = " the"
    first = client.post("/api/find", json={"query": query}).json()["ranges"][0]
    lo, hi = (first["start"], first["end"]) if isinstance(first, dict) else first
    assert hi - lo > 3
    write_at(copy / SHARD / fmt.SA, ((lo + hi) // 2) * 2 + 1, b"\xff")
    client = serve()
    bad_index(client.post("/api/search", json={"query": query, "limit": 100}), fmt.SA)
    r = client.post("/api/trace", json={"response": servertools.RIVER_REPLY, "span_density": 1})
    assert r.status_code in (200, 503), r.text


def test_metadata_that_is_not_json_is_a_503(copy: Path, serve: Serve) -> None:
    offsets = np.fromfile(copy / SHARD / fmt.META_OFFSETS, dtype="<u8")
    write_at(copy / SHARD / fmt.META, int(offsets[3]), b"!")
    client = serve()
    bad_index(client.get("/api/documents/3"), fmt.META)
    assert client.get("/api/documents/4").status_code == 200


@pytest.mark.parametrize("name", [fmt.DOCS, fmt.META_OFFSETS, fmt.UNIGRAM])
def test_structural_damage_stops_the_app_at_start(copy: Path, name: str) -> None:
    path = copy / (name if name == fmt.UNIGRAM else f"{SHARD}/{name}")
    raw = bytearray(path.read_bytes())
    raw[8 + 1] ^= 0xFF
    path.write_bytes(bytes(raw))
    app = create_app(Settings(index=copy))  # the factory opens nothing
    with pytest.raises(IndexFormatError, match=name), TestClient(app):
        pass


def test_a_damaged_tokenizer_stops_the_app_at_start(copy: Path) -> None:
    """The library parses tokenizer.json(.zst) on first use; the server before serving."""
    path = copy / "tokenizer" / "tokenizer.json.zst"
    path.write_bytes(b"\0" * path.stat().st_size)  # same size, not a tokenizer any more
    app = create_app(Settings(index=copy))
    with pytest.raises(IndexFormatError, match="tokenizer"), TestClient(app):
        pass


def test_serve_verify_refuses_what_only_hashing_finds(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_intact(copy)
    at = doc_start(copy, 5) + 2
    write_at(copy / SHARD / fmt.TOKENS, at * 2, (7).to_bytes(2, "little"))  # a valid id
    with TestClient(create_app(Settings(index=copy))) as client:  # opening cannot see it
        assert client.get("/api/health").status_code == 200
    with pytest.raises(IndexFormatError, match="SHA-256"):
        require_intact(copy)
    capsys.readouterr()
    assert main(["serve", str(copy), "--verify", "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert "not serving it" in err and f"{SHARD}/{fmt.TOKENS}" in err
