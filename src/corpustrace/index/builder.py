"""`corpustrace build`: stream a corpus into bounded, atomically written shards.

A shard is renamed into place only when complete and the manifest is written last,
so an interrupted build never looks finished; running the same command again
resumes after the last complete shard (`build-state.json` records what it was).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psutil

from corpustrace.corpus import Document, ReadStats, Source, expand_inputs, iter_documents
from corpustrace.errors import BuildError
from corpustrace.index import format as fmt
from corpustrace.index.progress import Progress
from corpustrace.index.writer import (
    TokenizedDoc,
    complete_shards,
    finish_index,
    now,
    write_shards,
)
from corpustrace.tokenizer import Tokenizer
from corpustrace.tokenizer_load import load_tokenizer

BATCH_CHARS = 4 << 20
BATCH_DOCS = 2048
FIXED_OVERHEAD = 512 << 20  # interpreter, tokenizer, one batch in flight
BYTES_PER_POSITION = 9  # times the token width; see shard_tokens_for
# divsufsort gives int32 positions over the token bytes up to 2^31 - 1 bytes.
MAX_SHARD_BYTES = (1 << 31) - 1


@dataclass
class BuildOptions:
    inputs: Sequence[str]
    out: Path
    tokenizer: str | None = None  # None: the existing index's tokenizer (append)
    text_field: str = "text"
    workers: int | None = None
    max_memory: int | None = None  # bytes
    shard_tokens: int | None = None
    append: bool = False
    skip_bad_lines: bool = False
    quiet: bool = False


@dataclass
class BuildResult:
    out: Path
    shards_written: int
    shards_resumed: int
    documents: int
    tokens: int
    seconds: float
    stats: dict[str, Any] = field(default_factory=dict)
    already_complete: bool = False


def default_max_memory() -> int:
    """A safe share of this machine's memory for one build: 40% of the total."""
    return int(psutil.virtual_memory().total * 0.4)


def available_cores() -> int:
    """The cores this process may run on (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def shard_tokens_for(max_memory: int, width: int) -> int:
    """Positions per shard so that filling one shard while sorting another fits.

    Per position: the buffer being filled (width), and in the writer the concatenated
    tokens and their big-endian copy for divsufsort (width each) and divsufsort's int32
    output over the token bytes (4 * width): 7 * width bytes; the per-document arrays
    of the buffer and the allocator's slack bring the measured peak to about 9 * width
    (docs/benchmarks.md). The suffix array is filtered and written in chunks, so it
    adds a constant, not a per-position cost.
    """
    usable = max(max_memory - FIXED_OVERHEAD, 1 << 20)
    return int(min(usable // (BYTES_PER_POSITION * width), MAX_SHARD_BYTES // width))


@contextmanager
def scoped_env(name: str, value: str | None) -> Iterator[None]:
    """os.environ[name] = value while the block runs (nothing when value is None), then
    the earlier value (or its absence) back: a build must not change its caller's process."""
    if value is None:
        yield
        return
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def build(opts: BuildOptions) -> BuildResult:
    """Build or resume (or append to) the index `opts` describes.

    `workers` bounds the tokenizer's threads through RAYON_NUM_THREADS for the duration
    of the build; the `tokenizers` library reads it when its thread pool starts, so it
    applies when this is the process's first batch encoding (as in `corpustrace build`).
    """
    with scoped_env("RAYON_NUM_THREADS", str(opts.workers) if opts.workers else None):
        return _build(opts)


def _build(opts: BuildOptions) -> BuildResult:
    started = time.monotonic()
    out = Path(opts.out)
    sources = expand_inputs(opts.inputs)
    _refuse_output_inside_inputs(out, sources)
    base = _existing_manifest(out, opts)
    tokenizer = _resolve_tokenizer(opts, base)
    match = _match_params(sources, tokenizer, opts)
    if base is not None:
        _refuse_repeat(out, base, match, opts.append)
        if not opts.append:
            return BuildResult(
                out,
                0,
                len(base.shards),
                base.total_documents,
                base.total_tokens,
                0.0,
                already_complete=True,
            )
    out.mkdir(parents=True, exist_ok=True)
    first = len(base.shards) if base is not None else 0
    state = _load_or_start_state(out, match, first)
    done = complete_shards(out, first)
    start = (0, 0)
    if done:
        start = (int(done[-1].source_end["source"]), int(done[-1].source_end["record"]))
    max_memory = opts.max_memory or default_max_memory()
    per_shard = opts.shard_tokens or shard_tokens_for(max_memory, tokenizer.width)
    stats = _resume_stats(state.get("stats") or {})
    docs = iter_documents(
        sources,
        text_field=opts.text_field,
        skip_bad_lines=opts.skip_bad_lines,
        stats=stats,
        start=start,
    )
    progress = Progress(quiet=opts.quiet, resumed_shards=len(done))
    try:
        written = write_shards(
            _tokenized(docs, tokenizer),
            tokenizer,
            out,
            first + len(done),
            per_shard,
            progress,
            state,
            lambda: _stats_dict(stats),
            sort_workers=opts.workers or available_cores(),
        )
    finally:
        progress.close()
    new_shards = complete_shards(out, first)
    if not any(s.documents for s in [*(base.shards if base else []), *new_shards]):
        raise BuildError("no documents found in the input")
    run = {
        "match": match,
        "append": opts.append,
        "shards": [s.name for s in new_shards],
        "max_memory": max_memory,
        "shard_tokens": per_shard,
        "stats": _stats_dict(stats),
        "started": state.get("started"),
    }
    manifest = finish_index(
        out, tokenizer, [*(base.shards if base else []), *new_shards], base, run
    )
    return BuildResult(
        out,
        written,
        len(done),
        manifest.total_documents,
        manifest.total_tokens,
        time.monotonic() - started,
        _stats_dict(stats),
    )


def _tokenized(docs: Iterable[Document], tokenizer: Tokenizer) -> Iterator[TokenizedDoc]:
    for batch in _batches(docs):
        for doc, ids in zip(batch, tokenizer.encode_batch([d.text for d in batch]), strict=True):
            yield TokenizedDoc(ids, orjson.dumps(doc.meta), (doc.source_index, doc.record + 1))


def _batches(docs: Iterable[Document]) -> Iterator[list[Document]]:
    batch: list[Document] = []
    chars = 0
    for doc in docs:
        batch.append(doc)
        chars += len(doc.text)
        if chars >= BATCH_CHARS or len(batch) >= BATCH_DOCS:
            yield batch
            batch, chars = [], 0
    if batch:
        yield batch


def _refuse_output_inside_inputs(out: Path, sources: list[Source]) -> None:
    """An index written into a directory it reads would index its own files."""
    target = Path(os.path.abspath(out))  # normalised without a system call per file
    for source in sources:
        if Path(os.path.abspath(source.path)).is_relative_to(target):
            raise BuildError(
                f"{out} is among the inputs ({source.path}): write the index elsewhere"
            )


def _refuse_repeat(out: Path, base: fmt.Manifest, match: dict[str, Any], append: bool) -> None:
    """A finished build repeated is a no-op; anything else on a finished index needs --append."""
    runs = base.build.get("runs") or []
    if not append:
        if len(runs) == 1 and runs[0].get("match") == match:
            return
        raise BuildError(f"{out} already holds an index: use --append to add to it")
    if runs and runs[-1].get("match") == match:
        raise BuildError(
            f"{out}: these unchanged inputs were the last ones appended; not adding them twice"
        )


def _existing_manifest(out: Path, opts: BuildOptions) -> fmt.Manifest | None:
    if (out / fmt.MANIFEST).is_file():
        return fmt.Manifest.load(out)
    if opts.append:
        raise BuildError(f"{out}: --append needs a finished index there")
    return None


def _resolve_tokenizer(opts: BuildOptions, base: fmt.Manifest | None) -> Tokenizer:
    if base is not None and opts.append:
        existing = Tokenizer.from_index_dir(Path(opts.out) / fmt.TOKENIZER_DIR)
        if opts.tokenizer is not None:
            given = load_tokenizer(opts.tokenizer)
            if given.hf.to_str() != existing.hf.to_str():
                raise BuildError("--tokenizer differs from the tokenizer of the index")
        return existing
    if opts.tokenizer is None:
        raise BuildError("--tokenizer is required for a new index")
    return load_tokenizer(opts.tokenizer)


def _match_params(
    sources: list[Source], tokenizer: Tokenizer, opts: BuildOptions
) -> dict[str, Any]:
    """What a resumed or repeated run must share with the first one."""
    return {
        "inputs": [str(Path(i).expanduser().absolute()) for i in opts.inputs],
        "files": len(sources),
        "fingerprint": _fingerprint(sources),
        "tokenizer": tokenizer.describe(),
        "text_field": opts.text_field,
        "skip_bad_lines": opts.skip_bad_lines,
    }


def _fingerprint(sources: list[Source]) -> str:
    """SHA-256 over every input file's path, size and modification time: enough to tell
    that the inputs changed since a run, in a few bytes however many files there are."""
    digest = hashlib.sha256()
    for source in sources:
        stat = source.path.stat()
        path = os.path.abspath(source.path)
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _load_or_start_state(out: Path, match: dict[str, Any], first: int) -> dict[str, Any]:
    path = out / fmt.BUILD_STATE
    if path.is_file():
        state: dict[str, Any] = orjson.loads(path.read_bytes())
        if state.get("match") != match or state.get("first_shard") != first:
            raise BuildError(
                f"{out} holds an unfinished build with other inputs or tokenizer: "
                "rerun that command to resume it, or remove the directory"
            )
        return state
    for stale in out.glob("shard-*"):
        number = int(stale.name.split("-")[1].split(".")[0])
        if number >= first and not stale.name.endswith(fmt.TMP_SUFFIX):
            raise BuildError(f"{stale}: a shard without a build in progress; remove it")
    state = {"match": match, "first_shard": first, "stats": {}, "started": now()}
    fmt.write_json_atomic(path, state)
    return state


def _resume_stats(earlier: dict[str, Any]) -> ReadStats:
    """Reading statistics carried over from the shards an interrupted run finished."""
    stats = ReadStats()
    stats.bad_lines = int(earlier.get("bad_lines", 0))
    stats.binary_files = int(earlier.get("binary_files", 0))
    stats.bad_line_examples.extend(earlier.get("bad_line_examples", []))
    return stats


def _stats_dict(stats: ReadStats) -> dict[str, Any]:
    return {
        "bad_lines": stats.bad_lines,
        "bad_line_examples": list(stats.bad_line_examples),
        "binary_files": stats.binary_files,
    }
