"""Fixtures of the API tests: small real indexes, an app factory, a fake chat server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import servertools
from corpustrace.server import Settings, create_app
from corpustrace.tokenizer import Tokenizer
from corpustrace.tokenizer_load import load_tokenizer
from servertools import ClientFactory


@pytest.fixture(autouse=True)
def _no_env_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the test alone, never from the developer's environment."""
    for name in list(os.environ):
        if name.startswith("CORPUSTRACE_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture corpus with UTF-8 bytes as tokens."""
    out = tmp_path_factory.mktemp("api-index") / "index"
    return servertools.build_index(out, load_tokenizer("bytes"), servertools.corpus())


@pytest.fixture(scope="session")
def bpe_index_dir(tmp_path_factory: pytest.TempPathFactory, bpe_path: Path) -> Path:
    """The fixture corpus with a small byte-level BPE trained on it, in two shards."""
    from corpustrace.index.writer import build_from_tokens

    tok = load_tokenizer(bpe_path)
    out = tmp_path_factory.mktemp("api-bpe-index") / "index"
    docs = [(tok.encode(text), meta) for text, meta in servertools.corpus()]
    build_from_tokens(out, tok, docs, shard_tokens=600)
    return out


@pytest.fixture(scope="session")
def byte_tokenizer() -> Tokenizer:
    return load_tokenizer("bytes")


@pytest.fixture
def make_client(index_dir: Path) -> Iterator[ClientFactory]:
    """make_client(**settings) -> a started TestClient; all are closed after the test."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        settings = Settings(**{"index": index_dir, **overrides})
        client = TestClient(create_app(settings), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: ClientFactory) -> TestClient:
    return make_client()


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[servertools.FakeOpenAI]:
    """A real fake OpenAI-compatible server on loopback (`.url` ends in /v1)."""
    with servertools.fake_openai_server() as server:
        yield server


@pytest.fixture(scope="session")
def repeated_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A byte-token index whose first document repeats one sentence 500 times."""
    out = tmp_path_factory.mktemp("api-repeated-index") / "index"
    return servertools.build_index(out, load_tokenizer("bytes"), servertools.repeated_corpus())
