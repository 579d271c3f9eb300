"""Chunks of the index's token stream against a slow twin walking every document."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import servertools
from corpustrace.index.reader import Index
from corpustrace.index.writer import build_from_tokens
from corpustrace.influence.examples import as_chunk, chunk_table, chunk_tokens_of
from influencetools import bpe_tokenizer


@pytest.fixture(scope="module")
def sharded(tmp_path_factory: pytest.TempPathFactory) -> Index:
    tok = bpe_tokenizer()
    docs = [(tok.encode(text), meta) for text, meta in servertools.corpus()]
    docs.insert(3, (tok.encode(""), {"id": "empty"}))
    docs.insert(5, (tok.encode("a"), {"id": "one-token"}))
    out: Path = tmp_path_factory.mktemp("chunks") / "index"
    build_from_tokens(out, tok, docs, shard_tokens=300)
    return Index.open(out)


def slow_chunks(index: Index, size: int, max_documents: int | None) -> list[tuple[int, ...]]:
    rows = []
    doc = 0
    for shard_no, shard in enumerate(index.shards):
        for local in range(shard.n_docs):
            if max_documents is not None and doc >= max_documents:
                return rows
            start, end = shard.doc_span(local)
            for lo in range(0, end - start, size):
                hi = min(lo + size, end - start)
                if hi - lo >= 2:
                    rows.append((shard_no, local, doc, lo, hi))
            doc += 1
    return rows


@pytest.mark.parametrize("size", [2, 7, 32, 1000])
@pytest.mark.parametrize("limit", [None, 1, 4, 9])
def test_chunk_table_equals_a_walk_over_documents(
    sharded: Index, size: int, limit: int | None
) -> None:
    assert len(sharded.shards) > 1
    got = [tuple(int(v) for v in row) for row in chunk_table(sharded, size, limit)]
    assert got == slow_chunks(sharded, size, limit)


def test_chunk_tokens_are_the_documents_tokens(sharded: Index) -> None:
    table = chunk_table(sharded, 16)
    for row in table:
        chunk = as_chunk(row)
        shard = sharded.shards[chunk.shard]
        start, _ = shard.doc_span(chunk.doc_local)
        want = np.asarray(shard.tokens[start + chunk.start : start + chunk.end])
        np.testing.assert_array_equal(chunk_tokens_of(sharded, row), want)
        assert sharded.locate(chunk.doc) == (shard, chunk.doc_local)


def test_chunk_size_must_allow_a_prediction(sharded: Index) -> None:
    with pytest.raises(ValueError):
        chunk_table(sharded, 1)
    assert chunk_table(sharded, 8, 0).shape == (0, 5)
