"""Names, dtypes and the manifest of an index directory (see docs/index-format.md)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from corpustrace.errors import IndexFormatError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
BUILD_STATE = "build-state.json"
UNIGRAM = "unigram"
TOKENIZER_DIR = "tokenizer"
SHARD_INFO = "shard.json"
TOKENS, SA, DOCS, META, META_OFFSETS, SHARD_UNIGRAM = (
    "tokens",
    "sa",
    "docs",
    "meta",
    "meta_offsets",
    "unigram.zst",  # the shard's counts, zstd-compressed (read whole: shard_counts.py)
)
SHARD_FILES = (TOKENS, SA, DOCS, META, META_OFFSETS, SHARD_UNIGRAM)
PLAIN_SHARD_UNIGRAM = "unigram"  # how shards written before held them: raw <u8
TMP_SUFFIX = ".tmp"
# The optional lexical part (whole-corpus BM25, corpustrace.lexical): a directory of raw
# little-endian arrays, listed in `Manifest.files` like the unigram table, described by
# `Manifest.lexical`. An index without it opens as before.
LEXICAL_DIR = "lexical"
LEX_TERMS, LEX_TERM_OFFSETS, LEX_DOCS, LEX_WEIGHTS, LEX_DOC_LENGTHS = (
    "terms",  # UTF-8 words joined by "\n", in term-id order
    "term_offsets",  # <u8 [terms + 1]: postings of term t are [offsets[t], offsets[t+1])
    "postings_docs",  # <u4: global document index of each posting, ascending per term
    "postings_weights",  # <f4: BM25 weight of the term in that document (idf included)
    "doc_lengths",  # <u4 [documents]: words per document
)
LEXICAL_FILES = (LEX_TERMS, LEX_TERM_OFFSETS, LEX_DOCS, LEX_WEIGHTS, LEX_DOC_LENGTHS)


def shard_name(number: int) -> str:
    return f"shard-{number:05d}"


def sa_width(n_positions: int) -> int:
    """Fewest whole bytes that hold every position 0..n_positions-1."""
    width = 1
    while n_positions > (1 << (8 * width)):
        width += 1
    return width


def token_dtype(width: int) -> np.dtype[Any]:
    return np.dtype({1: "<u1", 2: "<u2", 4: "<u4"}[width])


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + TMP_SUFFIX)
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@dataclass
class FileInfo:
    bytes: int
    sha256: str


@dataclass
class ShardInfo:
    """What one finished shard holds; written as shard.json inside the shard."""

    name: str
    tokens: int  # positions in `tokens`, separators included
    documents: int
    sa_width: int
    files: dict[str, FileInfo]
    source_end: dict[str, int]  # input position after the shard's last document

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def file_names(self) -> tuple[str, ...]:
        """The files of this shard: SHARD_FILES, with the plain unigram of older shards."""
        if PLAIN_SHARD_UNIGRAM in self.files and SHARD_UNIGRAM not in self.files:
            return tuple(PLAIN_SHARD_UNIGRAM if f == SHARD_UNIGRAM else f for f in SHARD_FILES)
        return SHARD_FILES

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShardInfo:
        files = {k: FileInfo(**v) for k, v in data["files"].items()}
        return cls(**{**data, "files": files})


@dataclass
class Manifest:
    format_version: int
    corpustrace_version: str
    tokenizer: dict[str, Any]
    token_width: int
    separator: int
    shards: list[ShardInfo]
    files: dict[str, FileInfo]  # index-level files (unigram, tokenizer/*)
    build: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    lexical: dict[str, Any] | None = None  # parameters and sizes of the lexical part

    @property
    def total_tokens(self) -> int:
        """Real tokens, separators excluded."""
        return sum(s.tokens - s.documents for s in self.shards)

    @property
    def total_documents(self) -> int:
        return sum(s.documents for s in self.shards)

    @property
    def shard_bytes(self) -> int:
        """Bytes of every shard's files, as recorded."""
        return sum(f.bytes for s in self.shards for f in s.files.values())

    @property
    def total_bytes(self) -> int:
        """Bytes of the index: shards plus index-level files (unigram, tokenizer)."""
        return self.shard_bytes + sum(f.bytes for f in self.files.values())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["totals"] = {"tokens": self.total_tokens, "documents": self.total_documents}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise IndexFormatError(
                f"index format version {version!r} is not supported "
                f"(this corpustrace reads version {FORMAT_VERSION})"
            )
        return cls(
            format_version=version,
            corpustrace_version=data["corpustrace_version"],
            tokenizer=data["tokenizer"],
            token_width=data["token_width"],
            separator=data["separator"],
            shards=[ShardInfo.from_json(s) for s in data["shards"]],
            files={k: FileInfo(**v) for k, v in data["files"].items()},
            build=data.get("build", {}),
            created=data.get("created", ""),
            lexical=data.get("lexical"),
        )

    @classmethod
    def load(cls, directory: Path) -> Manifest:
        path = directory / MANIFEST
        if not path.is_file():
            hint = ""
            if (directory / BUILD_STATE).is_file():
                hint = " (an unfinished build: run the same build command again to resume)"
            raise IndexFormatError(f"{directory}: not a complete corpustrace index{hint}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise IndexFormatError(f"{path}: unreadable manifest ({exc})") from exc
        try:
            return cls.from_json(data)
        except (KeyError, TypeError) as exc:
            raise IndexFormatError(f"{path}: malformed manifest ({exc})") from exc
