"""Write one shard: tokens, suffix array, documents, metadata; atomically renamed when done."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydivsufsort

from corpustrace.index import format as fmt


@dataclass
class ShardBuffer:
    """Documents gathered for one shard, in input order, before they are written."""

    token_dtype: np.dtype[Any]
    separator: int
    chunks: list[np.ndarray] = field(default_factory=list)
    metas: list[bytes] = field(default_factory=list)
    n_positions: int = 0
    source_end: tuple[int, int] = (0, 0)

    def add(self, ids: np.ndarray, meta_json: bytes) -> None:
        self.chunks.append(ids)
        self.metas.append(meta_json)
        self.n_positions += 1 + len(ids)

    @property
    def n_docs(self) -> int:
        return len(self.metas)


def shard_arrays(buf: ShardBuffer) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate the documents: one separator before each. Returns (tokens, doc starts)."""
    tokens = np.empty(buf.n_positions, dtype=buf.token_dtype)
    starts = np.empty(buf.n_docs, dtype="<u8")
    pos = 0
    for i, ids in enumerate(buf.chunks):
        starts[i] = pos
        tokens[pos] = buf.separator
        tokens[pos + 1 : pos + 1 + len(ids)] = ids
        pos += 1 + len(ids)
    return tokens, starts


SA_CHUNK = 1 << 24  # byte-level suffix-array entries filtered and written per step


def write_suffix_array(tokens: np.ndarray, width: int, path: Path) -> int:
    """Sort the suffixes of a token sequence (as integer sequences) and write their
    positions as `width`-byte little-endian integers; returns how many were written.

    divsufsort sorts bytes. Token ids stored big-endian compare bytewise exactly as
    integers, so the suffixes that start on a token boundary (byte offsets divisible by
    the token width) come out in token order. Streaming the byte-level result through
    that filter in chunks keeps the peak near 4 bytes per byte of tokens (int32
    output), instead of the several full-size temporaries of a one-shot filter.
    """
    itemsize = tokens.dtype.itemsize
    big = tokens.astype(tokens.dtype.newbyteorder(">"))  # a writable copy, as divsufsort needs
    byte_sa = pydivsufsort.divsufsort(big.view(np.uint8)) if len(big) else np.empty(0, np.int32)
    del big
    written = 0
    with path.open("wb") as fh:
        for lo in range(0, len(byte_sa), SA_CHUNK):
            part = np.asarray(byte_sa[lo : lo + SA_CHUNK])
            if itemsize > 1:
                part = part[part % itemsize == 0] // itemsize
            pack_positions(part, width).tofile(fh)
            written += len(part)
        fh.flush()
        os.fsync(fh.fileno())
    return written


def pack_positions(sa: np.ndarray, width: int) -> np.ndarray:
    """Positions as little-endian integers of `width` bytes each, as a flat uint8 array."""
    native = {1: "<u1", 2: "<u2", 4: "<u4", 8: "<u8"}.get(width)
    if native is not None:
        return sa.astype(native).view(np.uint8)
    wide = sa.astype("<u8").view(np.uint8).reshape(-1, 8)
    return np.ascontiguousarray(wide[:, :width]).reshape(-1)


def write_array(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as fh:
        array.tofile(fh)
        fh.flush()
        os.fsync(fh.fileno())


def write_shard(buf: ShardBuffer, directory: Path, name: str, vocab_size: int) -> fmt.ShardInfo:
    """Write a full shard under `name.tmp`, then rename it to `name` (atomic on POSIX)."""
    final = directory / name
    tmp = directory / (name + fmt.TMP_SUFFIX)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    tokens, starts = shard_arrays(buf)
    buf.chunks.clear()
    width = fmt.sa_width(len(tokens))
    write_array(tmp / fmt.TOKENS, tokens)
    write_array(tmp / fmt.DOCS, starts)
    offsets = np.zeros(buf.n_docs + 1, dtype="<u8")
    offsets[1:] = np.cumsum([len(m) for m in buf.metas])
    write_array(tmp / fmt.META_OFFSETS, offsets)
    with (tmp / fmt.META).open("wb") as fh:
        fh.writelines(buf.metas)
    real = tokens[tokens != buf.separator]
    write_array(tmp / fmt.SHARD_UNIGRAM, np.bincount(real, minlength=vocab_size).astype("<u8"))
    del real
    if write_suffix_array(tokens, width, tmp / fmt.SA) != len(tokens):
        raise RuntimeError("suffix array has the wrong length")  # pragma: no cover
    del tokens
    files = {
        f: fmt.FileInfo(bytes=(tmp / f).stat().st_size, sha256=fmt.sha256_file(tmp / f))
        for f in fmt.SHARD_FILES
    }
    info = fmt.ShardInfo(
        name=name,
        tokens=buf.n_positions,
        documents=buf.n_docs,
        sa_width=width,
        files=files,
        source_end={"source": buf.source_end[0], "record": buf.source_end[1]},
    )
    fmt.write_json_atomic(tmp / fmt.SHARD_INFO, info.to_json())
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return info
