"""What opening an index checks: every size, and the structural invariants that cost little.

Hashing every file (`corpustrace verify`, `serve --verify`) is the only full check, but
it reads the whole index. Opening checks, in time proportional to the number of
documents and shards (never to the tokens): each file's size against shard.json and
the manifest, shard.json against the manifest, the shard list against the directories
present, document starts increasing inside the shard with a separator at each (at
most `SEPARATOR_SAMPLE` of them per shard, evenly spaced), metadata offsets increasing
inside `meta`, and the unigram table (one count per id, summing to the tokens). A
failure is an `IndexFormatError` naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import orjson

from corpustrace.errors import IndexFormatError
from corpustrace.index import format as fmt
from corpustrace.index.mapping import prefetch

if TYPE_CHECKING:
    from corpustrace.tokenizer import Tokenizer

# Document starts whose separator is read at open, per shard: a sample, evenly spaced
# (the first and last always), its pages asked for together (mapping.prefetch) since on
# a cold page cache each lone read would be a fault reading ahead up to read_ahead_kb
# (8 MiB here: 4096 samples read all 278 MB of a 139M-token index, 160-200 ms cold;
# prefetched, 128 take ~2 ms). A start moved elsewhere is still an IndexFormatError when
# its document is read (Shard.doc_tokens), and `verify` hashes every byte.
SEPARATOR_SAMPLE = 128


def damaged(path: Path, what: str) -> IndexFormatError:
    return IndexFormatError(f"{path}: {what} (the index is damaged: run `corpustrace verify`)")


def expected_sizes(info: fmt.ShardInfo, token_width: int) -> dict[str, int]:
    """Bytes each shard file must have, from its counts (meta: as recorded)."""
    return {
        fmt.TOKENS: info.tokens * token_width,
        fmt.SA: info.tokens * info.sa_width,
        fmt.DOCS: info.documents * 8,
        fmt.META_OFFSETS: (info.documents + 1) * 8,
    }


def check_shard_files(path: Path, info: fmt.ShardInfo, token_width: int) -> None:
    """The shard's files exist with the sizes its counts imply, and shard.json agrees."""
    if not path.is_dir():
        raise IndexFormatError(f"{path}: shard directory missing")
    check_shard_json(path, info)
    if info.tokens and info.sa_width != fmt.sa_width(info.tokens):
        raise damaged(path / fmt.SHARD_INFO, f"sa_width {info.sa_width} does not fit")
    sizes = expected_sizes(info, token_width)
    for name in info.file_names:
        file = path / name
        if not file.is_file():
            raise IndexFormatError(f"{file}: file missing")
        size = file.stat().st_size
        recorded = info.files[name].bytes if name in info.files else size
        want = sizes.get(name, recorded)
        if size != want or size != recorded:
            raise damaged(file, f"{size} bytes, expected {want}")


def check_shard_json(path: Path, info: fmt.ShardInfo) -> None:
    """shard.json on disk says what the manifest says of the shard."""
    file = path / fmt.SHARD_INFO
    try:
        on_disk = fmt.ShardInfo.from_json(orjson.loads(file.read_bytes()))
    except FileNotFoundError:
        raise IndexFormatError(f"{file}: file missing") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise damaged(file, f"unreadable ({exc})") from None
    if on_disk != info:
        raise damaged(file, "differs from the manifest's entry for this shard")


def check_shard_structure(
    path: Path,
    info: fmt.ShardInfo,
    tokens: np.ndarray,
    docs: np.ndarray,
    meta_offsets: np.ndarray,
    meta_bytes: int,
    separator: int,
) -> None:
    """Document starts and metadata offsets are consistent with the token array."""
    n, d = info.tokens, info.documents
    if d == 0:
        if n:
            raise damaged(path / fmt.TOKENS, "tokens in a shard without documents")
    else:
        starts = np.asarray(docs)  # uint64: compared, never subtracted (no wrap-around)
        if int(starts[0]) != 0 or int(starts.max()) >= n or (starts[1:] <= starts[:-1]).any():
            raise damaged(path / fmt.DOCS, "document starts not increasing inside the shard")
        step = max(1, d // SEPARATOR_SAMPLE)
        picked = np.arange(0, d, step)  # sorted; np.unique would import numpy.ma (~50 ms)
        if picked[-1] != d - 1:
            picked = np.append(picked, d - 1)
        at = starts[picked].astype(np.int64)
        prefetch(tokens, at)
        bad = picked[np.asarray(tokens)[at] != separator]
        if bad.size:
            doc = int(bad[0])
            raise damaged(
                path / fmt.DOCS,
                f"document {doc} starts at {int(starts[doc])}, where {path / fmt.TOKENS} "
                "holds no separator",
            )
    offsets = np.asarray(meta_offsets)
    if (
        int(offsets[0]) != 0
        or int(offsets[-1]) != meta_bytes
        or (offsets[1:] <= offsets[:-1]).any()
    ):
        raise damaged(path / fmt.META_OFFSETS, "metadata offsets not increasing inside meta")


def check_index_files(path: Path, manifest: fmt.Manifest, tokenizer: Tokenizer) -> None:
    """The manifest's shard list is the shards present, and agrees with the tokenizer."""
    names = [s.name for s in manifest.shards]
    if names != [fmt.shard_name(i) for i in range(len(names))]:
        raise damaged(path / fmt.MANIFEST, f"shard list {names[:5]}... is not numbered 0..n-1")
    present = {
        p.name for p in path.glob("shard-*") if p.is_dir() and not p.name.endswith(fmt.TMP_SUFFIX)
    }
    missing = sorted(set(names) - present)
    if missing:
        raise IndexFormatError(f"{path / missing[0]}: shard directory missing")
    extra = sorted(present - set(names))
    if extra and not (path / fmt.BUILD_STATE).is_file():  # else: an append in progress
        raise damaged(path / fmt.MANIFEST, f"{extra[0]} is present but not in the manifest")
    if manifest.separator != tokenizer.separator:
        raise damaged(path / fmt.MANIFEST, "separator differs from the tokenizer's")
    vocab = manifest.tokenizer.get("vocab_size", tokenizer.vocab_size)
    if vocab != tokenizer.vocab_size:
        raise damaged(path / fmt.MANIFEST, "vocabulary size differs from the tokenizer's")
    for rel, info in manifest.files.items():
        file = path / rel
        if not file.is_file():
            raise IndexFormatError(f"{file}: file missing")
        if file.stat().st_size != info.bytes:
            raise damaged(file, f"{file.stat().st_size} bytes, manifest says {info.bytes}")


def check_unigram(path: Path, unigram: np.ndarray, vocab_size: int, total_tokens: int) -> None:
    """One uint64 count per token id, summing to the tokens of the index."""
    size = path.stat().st_size
    if size != vocab_size * 8:
        raise damaged(path, f"{size} bytes, expected {vocab_size * 8} (8 per token id)")
    total = int(np.asarray(unigram).sum(dtype=np.uint64))
    if total != total_tokens:
        raise damaged(path, f"counts sum to {total}, the index holds {total_tokens} tokens")
