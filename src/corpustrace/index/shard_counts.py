"""A shard's own count of every token id (`unigram.zst`), read and written whole.

The counts of real tokens per id (uint64), which sum to the index's `unigram` over its
shards and, run together, give the suffix-array ranks of each first token
(`Shard.token_starts`). Nothing reads single entries, so the file is zstd-compressed:
GPT-2's 50,257 counts take 402 KB raw and ~60 KB compressed. Shards written before hold
them raw as `unigram`, which is read as it is.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from corpustrace.errors import IndexFormatError
from corpustrace.index import format as fmt

ZSTD_LEVEL = 10


def write_counts(path: Path, counts: np.ndarray) -> None:
    """`counts` as little-endian uint64, compressed, flushed to disk."""
    import zstandard

    raw = np.ascontiguousarray(counts, dtype="<u8").tobytes()
    with path.open("wb") as fh:
        fh.write(zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(raw))
        fh.flush()
        os.fsync(fh.fileno())


def read_counts(shard_dir: Path) -> np.ndarray:
    """The counts of a shard directory (IndexFormatError naming the file if unreadable)."""
    import zstandard

    plain = shard_dir / fmt.PLAIN_SHARD_UNIGRAM
    path = shard_dir / fmt.SHARD_UNIGRAM
    if not path.is_file() and plain.is_file():
        return np.fromfile(plain, dtype="<u8")
    try:
        raw = zstandard.ZstdDecompressor().decompress(path.read_bytes())
    except (OSError, zstandard.ZstdError) as exc:
        raise IndexFormatError(f"{path}: damaged or unreadable ({exc})") from None
    if len(raw) % 8:
        raise IndexFormatError(f"{path}: damaged ({len(raw)} bytes of counts, not 8 per id)")
    return np.frombuffer(raw, dtype="<u8")
