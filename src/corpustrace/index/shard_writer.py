"""Write one shard: tokens, suffix array, documents, metadata; atomically renamed when done."""

from __future__ import annotations

import os
import shutil
import subprocess
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from corpustrace.index import format as fmt
from corpustrace.index.shard_counts import write_counts
from corpustrace.index.suffix_sort import start_sort, wait_sort, write_suffix_array


@dataclass
class ShardBuffer:
    """Documents gathered for one shard, in input order, before they are written."""

    token_dtype: np.dtype[Any]
    separator: int
    chunks: list[np.ndarray] = field(default_factory=list)
    metas: list[bytes] = field(default_factory=list)
    n_positions: int = 0
    source_end: tuple[int, int] = (0, 0)
    ends: array[int] = field(default_factory=lambda: array("q"))  # (source, record) per doc

    def add(self, ids: np.ndarray, meta_json: bytes, source_end: tuple[int, int] = (0, 0)) -> None:
        self.chunks.append(ids)
        self.metas.append(meta_json)
        self.n_positions += 1 + len(ids)
        self.ends.extend(source_end)
        self.source_end = source_end

    def end_of(self, doc: int) -> tuple[int, int]:
        """The input position just after document `doc` (where a resumed build goes on)."""
        return int(self.ends[2 * doc]), int(self.ends[2 * doc + 1])

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


def write_array(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as fh:
        array.tofile(fh)
        fh.flush()
        os.fsync(fh.fileno())


# A sealed buffer of at least 2 * PART_MIN_POSITIONS positions is cut into shards that
# are sorted side by side; shards from PROCESS_MIN_POSITIONS on are sorted in a process.
PART_MIN_POSITIONS = 1 << 23
PROCESS_MIN_POSITIONS = 1 << 23
UNIGRAM_CHUNK = 1 << 24  # tokens counted per bincount call (its int64 copy stays small)


def split_buffer(buf: ShardBuffer, parts: int) -> list[ShardBuffer]:
    """The buffer as up to `parts` buffers of consecutive documents and about equal
    positions, each at least PART_MIN_POSITIONS (one part when the buffer is smaller)."""
    parts = max(1, min(parts, buf.n_positions // PART_MIN_POSITIONS, buf.n_docs))
    if parts == 1:
        return [buf]
    ends = np.cumsum(np.fromiter((1 + len(c) for c in buf.chunks), np.int64, buf.n_docs))
    targets = [buf.n_positions * k // parts for k in range(1, parts)]
    cuts = sorted({int(np.searchsorted(ends, t, side="left")) + 1 for t in targets})
    cuts = [c for c in cuts if 0 < c < buf.n_docs] + [buf.n_docs]
    out, lo = [], 0
    for hi in cuts:
        part = ShardBuffer(buf.token_dtype, buf.separator)
        part.chunks, part.metas = buf.chunks[lo:hi], buf.metas[lo:hi]
        part.n_positions = int(ends[hi - 1] - (ends[lo - 1] if lo else 0))
        part.source_end = buf.end_of(hi - 1)
        part.ends = buf.ends[2 * lo : 2 * hi]
        out.append(part)
        lo = hi
    return out


def shard_unigram(tokens: np.ndarray, separator: int, vocab_size: int) -> np.ndarray:
    """Count of every id among the real tokens (uint64), in chunks: np.bincount makes an
    int64 copy of what it counts, 8 bytes per token for the whole shard at once."""
    counts = np.zeros(vocab_size, dtype="<u8")
    for lo in range(0, len(tokens), UNIGRAM_CHUNK):
        chunk = tokens[lo : lo + UNIGRAM_CHUNK]
        real = chunk[chunk != separator]
        if len(real):
            counts += np.bincount(real, minlength=vocab_size)[:vocab_size].astype("<u8")
    return counts


@dataclass
class PendingShard:
    """A shard whose files are written under `tmp` except, maybe, its suffix array."""

    buf: ShardBuffer
    tmp: Path
    final: Path
    width: int
    sorter: subprocess.Popen[bytes] | None = None


def write_shards_of(
    buf: ShardBuffer, directory: Path, names: list[str], vocab_size: int
) -> list[fmt.ShardInfo]:
    """Write the shards `split_buffer` made of `buf` (as many as `names`), each under
    `name.tmp` and renamed to `name` when complete, in order: a build interrupted
    between two renames resumes after the last shard renamed."""
    parts = split_buffer(buf, len(names)) if len(names) > 1 else [buf]
    if len(parts) != len(names):
        raise ValueError(f"{len(names)} shard names for {len(parts)} shards")
    pending = []
    try:
        for part, name in zip(parts, names, strict=True):
            pending.append(
                _write_files(part, directory, name, vocab_size, in_process=len(parts) > 1)
            )
        for shard in pending:
            if shard.sorter is not None:
                wait_sort(shard.sorter, shard.buf.n_positions)
                shard.sorter = None
        return [_finish(shard) for shard in pending]
    finally:
        for shard in pending:  # sorters left by an error: stopped, reaped, pipes closed
            if shard.sorter is not None:
                if shard.sorter.poll() is None:
                    shard.sorter.kill()
                shard.sorter.communicate()
                shard.sorter = None


def shards_for(buf: ShardBuffer, sort_workers: int) -> int:
    """How many shards a sealed buffer becomes (see `split_buffer`)."""
    return len(split_buffer(buf, sort_workers)) if sort_workers > 1 else 1


def _write_files(
    buf: ShardBuffer, directory: Path, name: str, vocab_size: int, in_process: bool
) -> PendingShard:
    final = directory / name
    tmp = directory / (name + fmt.TMP_SUFFIX)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    tokens, starts = shard_arrays(buf)
    buf.chunks = []
    width = fmt.sa_width(len(tokens))
    write_array(tmp / fmt.TOKENS, tokens)
    write_array(tmp / fmt.DOCS, starts)
    offsets = np.zeros(buf.n_docs + 1, dtype="<u8")
    offsets[1:] = np.cumsum([len(m) for m in buf.metas])
    write_array(tmp / fmt.META_OFFSETS, offsets)
    with (tmp / fmt.META).open("wb") as fh:
        fh.writelines(buf.metas)
    write_counts(tmp / fmt.SHARD_UNIGRAM, shard_unigram(tokens, buf.separator, vocab_size))
    shard = PendingShard(buf, tmp, final, width)
    if in_process or len(tokens) >= PROCESS_MIN_POSITIONS:
        dtype = tokens.dtype
        del tokens  # the sorter reads the file
        shard.sorter = start_sort(tmp / fmt.TOKENS, dtype, width, tmp / fmt.SA)
    elif write_suffix_array(tokens, width, tmp / fmt.SA) != buf.n_positions:
        raise RuntimeError("suffix array has the wrong length")  # pragma: no cover
    return shard


def _finish(shard: PendingShard) -> fmt.ShardInfo:
    tmp, buf = shard.tmp, shard.buf
    files = {
        f: fmt.FileInfo(bytes=(tmp / f).stat().st_size, sha256=fmt.sha256_file(tmp / f))
        for f in fmt.SHARD_FILES
    }
    info = fmt.ShardInfo(
        name=shard.final.name,
        tokens=buf.n_positions,
        documents=buf.n_docs,
        sa_width=shard.width,
        files=files,
        source_end={"source": buf.source_end[0], "record": buf.source_end[1]},
    )
    fmt.write_json_atomic(tmp / fmt.SHARD_INFO, info.to_json())
    if shard.final.exists():
        shutil.rmtree(shard.final)
    os.replace(tmp, shard.final)
    return info
