"""Training examples: fixed-size chunks of the index's documents, read from its token
stream, so every example maps back to (shard, document, token range) for the document view.

A document of n tokens gives ceil(n / chunk_tokens) chunks [0, c), [c, 2c), ...; the last
may be shorter. `corpustrace train` trains on exactly these chunks, so they are the
examples "as the model saw them". Token ranges are relative to the document's first token.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from corpustrace.index.reader import Index

CHUNK_FIELDS = 5  # shard, local document, global document, token start, token end


@dataclass(frozen=True)
class Chunk:
    shard: int
    doc_local: int
    doc: int  # global document index (the document view's number)
    start: int  # first token, relative to the document
    end: int  # end token (exclusive)


def chunk_table(index: Index, chunk_tokens: int, max_documents: int | None = None) -> np.ndarray:
    """int64 [N, 5] rows (shard, local doc, global doc, start, end) of every chunk, in index
    order, over the first `max_documents` documents (all by default). Empty documents
    give no chunk; chunks of one token are dropped (no next-token loss to take)."""
    if chunk_tokens < 2:
        raise ValueError("chunk_tokens must be at least 2")
    rows: list[np.ndarray] = []
    remaining = index.total_documents if max_documents is None else max_documents
    for shard_no, shard in enumerate(index.shards):
        n = min(shard.n_docs, remaining)
        if n <= 0:
            break
        remaining -= n
        starts = shard.docs[:n].astype(np.int64) + 1
        ends = np.empty(n, dtype=np.int64)
        ends[:-1] = shard.docs[1:n].astype(np.int64)
        ends[-1] = shard.docs[n].astype(np.int64) if n < shard.n_docs else shard.n_tokens
        lengths = ends - starts
        counts = -(-lengths // chunk_tokens)
        doc = np.repeat(np.arange(n, dtype=np.int64), counts)
        first = np.repeat(np.cumsum(counts) - counts, counts)
        k = np.arange(len(doc), dtype=np.int64) - first
        lo = k * chunk_tokens
        hi = np.minimum(lo + chunk_tokens, lengths[doc])
        table = np.stack(
            [np.full_like(doc, shard_no), doc, doc + int(index.doc_offsets[shard_no]), lo, hi], 1
        )
        rows.append(table[hi - lo >= 2])
    if not rows:
        return np.zeros((0, CHUNK_FIELDS), dtype=np.int64)
    return np.concatenate(rows).astype(np.int64)


def chunk_tokens_of(index: Index, row: np.ndarray) -> np.ndarray:
    """The token ids (int64) of one chunk-table row."""
    shard = index.shards[int(row[0])]
    begin = int(shard.docs[int(row[1])]) + 1
    out: np.ndarray = np.asarray(shard.tokens[begin + int(row[3]) : begin + int(row[4])])
    return out.astype(np.int64)


def as_chunk(row: np.ndarray) -> Chunk:
    return Chunk(*(int(v) for v in row[:CHUNK_FIELDS]))


def batches(rows: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for lo in range(0, len(rows), size):
        yield rows[lo : lo + size]
