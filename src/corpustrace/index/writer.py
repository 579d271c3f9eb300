"""Token documents -> shards -> manifest. Used by the corpus builder and by tests.

The main thread fills a shard buffer while a writer thread writes the previous one
(divsufsort releases the GIL; large shards are sorted in processes of their own, see
`suffix_sort`), so tokenizing and suffix sorting overlap, with at most two buffers in
memory. A full buffer of a large corpus becomes several shards sorted side by side, so
that the sort, which runs on one core per shard, keeps every core busy.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

import corpustrace
from corpustrace.errors import BuildError
from corpustrace.index import format as fmt
from corpustrace.index.progress import Progress
from corpustrace.index.shard_counts import read_counts
from corpustrace.index.shard_writer import ShardBuffer, shards_for, write_shards_of
from corpustrace.tokenizer import Tokenizer


@dataclass
class TokenizedDoc:
    ids: np.ndarray
    meta: bytes  # one JSON object
    source_end: tuple[int, int]  # input position just after this document


def write_shards(
    items: Iterable[TokenizedDoc],
    tokenizer: Tokenizer,
    out: Path,
    number: int,
    per_shard: int,
    progress: Progress,
    state: dict[str, Any],
    stats: Callable[[], dict[str, Any]] = dict,
    sort_workers: int = 1,
) -> int:
    """Write shards numbered from `number`; returns how many were written. A full buffer
    of a large corpus becomes up to `sort_workers` shards sorted side by side."""
    written = 0
    pending: Future[list[fmt.ShardInfo]] | None = None
    buf = ShardBuffer(tokenizer.dtype, tokenizer.separator)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="shard-writer") as writer:

        def seal(full: ShardBuffer) -> None:
            nonlocal pending, number, written
            if pending is not None:
                pending.result()  # at most one shard sorting while the next fills
            check_disk(out, full, tokenizer.width)
            names = [fmt.shard_name(number + k) for k in range(shards_for(full, sort_workers))]
            snapshot = stats()
            pending = writer.submit(_write_and_record, full, out, names, tokenizer, state, snapshot)
            number += len(names)
            written += len(names)

        for item in items:
            n = len(item.ids)
            if n and int(item.ids.max()) >= id_limit(tokenizer):
                raise BuildError(bad_id_message(tokenizer, int(item.ids.max()), item.meta))
            if buf.n_docs and buf.n_positions + 1 + n > per_shard:
                seal(buf)
                buf = ShardBuffer(tokenizer.dtype, tokenizer.separator)
            buf.add(item.ids, item.meta, item.source_end)
            progress.update(1, n)
        if buf.n_docs:
            seal(buf)
        if pending is not None:
            pending.result()
    return written


def _write_and_record(
    buf: ShardBuffer,
    out: Path,
    names: list[str],
    tokenizer: Tokenizer,
    state: dict[str, Any],
    snapshot: dict[str, Any],
) -> list[fmt.ShardInfo]:
    try:
        infos = write_shards_of(buf, out, names, tokenizer.vocab_size)
    except OSError as exc:
        raise BuildError(f"writing {out / names[0]} failed: {exc.strerror or exc}") from exc
    except RuntimeError as exc:  # a sorting process that failed (out of memory, killed)
        raise BuildError(f"writing {out / names[0]} failed: {exc}") from exc
    if state:
        state["stats"] = snapshot
        fmt.write_json_atomic(out / fmt.BUILD_STATE, state)
    return infos


def id_limit(tokenizer: Tokenizer) -> int:
    """One past the largest id a document may hold: inside the vocabulary, never the
    separator (only the UTF-8 bytes tokenizer has the separator among its ids)."""
    return min(tokenizer.vocab_size, tokenizer.separator)


def bad_id_message(tokenizer: Tokenizer, token: int, meta: bytes) -> str:
    data = orjson.loads(meta)
    data = data if isinstance(data, dict) else {}
    source, ident = data.get("source"), data.get("id")
    where = f"{source} ({ident})" if source is not None else f"document {ident}"
    if token == tokenizer.separator:
        return f"{where}: token id {token} collides with the separator {tokenizer.separator}"
    return (
        f"{where}: token id {token} is not in the vocabulary of the tokenizer "
        f"(ids 0..{id_limit(tokenizer) - 1})"
    )


def checked_ids(ids: Sequence[int] | np.ndarray, tokenizer: Tokenizer, number: int) -> np.ndarray:
    """A document's ids in the token dtype, after checking each is a real token id."""
    array = np.asarray(ids)
    if array.size == 0:
        return np.empty(0, dtype=tokenizer.dtype)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise BuildError(f"document {number}: token ids must be a flat sequence of integers")
    bad = (array < 0) | (array >= id_limit(tokenizer))
    if bad.any():
        token = int(array[bad][0])
        raise BuildError(bad_id_message(tokenizer, token, orjson.dumps({"id": number})))
    return array.astype(tokenizer.dtype)


def check_disk(out: Path, buf: ShardBuffer, width: int) -> None:
    """Refuse to start a shard that cannot fit on the disk."""
    need = buf.n_positions * (width + fmt.sa_width(buf.n_positions)) + sum(map(len, buf.metas))
    need = int(need * 1.1) + (1 << 20)
    free = shutil.disk_usage(out).free
    if free < need:
        raise BuildError(
            f"not enough disk space in {out}: the next shard needs about "
            f"{need / 1e6:.1f} MB, {free / 1e6:.1f} MB free"
        )


def complete_shards(out: Path, first_shard: int) -> list[fmt.ShardInfo]:
    """Finished shards from `first_shard` on, in order; half-written ones are removed."""
    for tmp in out.glob("shard-*" + fmt.TMP_SUFFIX):
        shutil.rmtree(tmp, ignore_errors=True)
    infos = []
    number = first_shard
    while (out / fmt.shard_name(number) / fmt.SHARD_INFO).is_file():
        data = orjson.loads((out / fmt.shard_name(number) / fmt.SHARD_INFO).read_bytes())
        infos.append(fmt.ShardInfo.from_json(data))
        number += 1
    return infos


def finish_index(
    out: Path,
    tokenizer: Tokenizer,
    shards: list[fmt.ShardInfo],
    base: fmt.Manifest | None,
    run: dict[str, Any],
) -> fmt.Manifest:
    """Sum unigram counts, save the tokenizer, then write the manifest last."""
    unigram = np.zeros(tokenizer.vocab_size, dtype="<u8")
    for info in shards:
        counts = read_counts(out / info.name)
        if len(counts) != len(unigram):
            raise BuildError(
                f"{out / info.name / fmt.SHARD_UNIGRAM}: {len(counts)} counts, "
                f"the tokenizer has {len(unigram)} ids"
            )
        unigram += counts
    tmp = out / (fmt.UNIGRAM + fmt.TMP_SUFFIX)
    unigram.tofile(tmp)
    os.replace(tmp, out / fmt.UNIGRAM)
    tokenizer.save(out / fmt.TOKENIZER_DIR)
    rels = [fmt.UNIGRAM] + [
        f"{fmt.TOKENIZER_DIR}/{p.name}" for p in sorted((out / fmt.TOKENIZER_DIR).iterdir())
    ]
    files = {
        rel: fmt.FileInfo(bytes=(out / rel).stat().st_size, sha256=fmt.sha256_file(out / rel))
        for rel in rels
    }
    runs = [*(base.build.get("runs", []) if base else []), {**run, "finished": now()}]
    manifest = fmt.Manifest(
        format_version=fmt.FORMAT_VERSION,
        corpustrace_version=corpustrace.__version__,
        tokenizer=tokenizer.describe(),
        token_width=tokenizer.width,
        separator=tokenizer.separator,
        shards=shards,
        files=files,
        build={
            "runs": runs,
            "bad_lines": sum(int(r.get("stats", {}).get("bad_lines", 0)) for r in runs),
        },
        created=base.created if base else now(),
    )
    fmt.write_json_atomic(out / fmt.MANIFEST, manifest.to_json())
    (out / fmt.BUILD_STATE).unlink(missing_ok=True)
    return manifest


def build_from_tokens(
    out: Path,
    tokenizer: Tokenizer,
    docs: Iterable[tuple[Sequence[int] | np.ndarray, dict[str, Any]]],
    shard_tokens: int = 1 << 30,
    sort_workers: int = 1,
) -> fmt.Manifest:
    """Write a complete index from already tokenized documents (tests, programmatic use)."""
    out.mkdir(parents=True, exist_ok=True)
    items = (
        TokenizedDoc(checked_ids(ids, tokenizer, i), orjson.dumps(meta), (0, i + 1))
        for i, (ids, meta) in enumerate(docs)
    )
    progress = Progress(quiet=True)
    write_shards(items, tokenizer, out, 0, shard_tokens, progress, {}, sort_workers=sort_workers)
    shards = complete_shards(out, 0)
    return finish_index(out, tokenizer, shards, None, {"source": "tokens"})


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
