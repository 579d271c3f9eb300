"""Open an index read-only: every array is a memory map, nothing grows with the corpus."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from corpustrace.errors import IndexFormatError, NotFound
from corpustrace.index import format as fmt
from corpustrace.index.checks import (
    check_index_files,
    check_shard_files,
    check_shard_structure,
    check_unigram,
    damaged,
)
from corpustrace.index.mapping import advise_random, map_file
from corpustrace.index.sa_entries import SaEntries
from corpustrace.index.shard_counts import read_counts
from corpustrace.tokenizer import Tokenizer


def open_array(path: Path, dtype: np.dtype[Any] | str) -> np.ndarray:
    """Read-only memory map of a raw little-endian array (an empty file gives an empty array).

    No file descriptor stays open (see mapping.py); the map lives as long as the array.
    """
    if not path.is_file():
        raise IndexFormatError(f"{path}: file missing")
    if path.stat().st_size == 0:
        return np.empty(0, dtype=dtype)
    try:
        return map_file(path, dtype)
    except OSError as exc:
        raise IndexFormatError(f"{path}: cannot be mapped ({exc.strerror or exc})") from exc


class Shard:
    """One shard: tokens, suffix array, document starts and metadata, all memory-mapped."""

    def __init__(
        self, path: Path, info: fmt.ShardInfo, token_dtype: np.dtype[Any], id_limit: int
    ) -> None:
        self.path = path
        self.info = info
        self.name = info.name
        self.id_limit = id_limit  # real token ids are below this (the separator is not)
        self.sa_width = info.sa_width
        check_shard_files(path, info, token_dtype.itemsize)
        self.tokens: np.ndarray = open_array(path / fmt.TOKENS, token_dtype)
        self._sa_raw = open_array(path / fmt.SA, "<u1")
        self.docs: np.ndarray = open_array(path / fmt.DOCS, "<u8")
        self.meta_offsets: np.ndarray = open_array(path / fmt.META_OFFSETS, "<u8")
        self._meta = open_array(path / fmt.META, "<u1")

    def close(self) -> None:
        """Drop this shard's maps (each is unmapped once no array over it is left)."""
        empty = np.empty(0, dtype=np.uint8)
        self.tokens = empty.view(self.tokens.dtype)
        self._sa_raw = self.docs = self.meta_offsets = self._meta = empty
        self.__dict__.pop("entries", None)
        self.__dict__.pop("token_starts", None)

    @property
    def n_tokens(self) -> int:
        """Positions in the token array, separators included."""
        return int(self.info.tokens)

    @property
    def n_docs(self) -> int:
        return int(self.info.documents)

    @cached_property
    def entries(self) -> SaEntries:
        """The suffix array's entries (made once, on first use)."""
        return SaEntries(self._sa_raw, self.sa_width)

    def advise_random(self) -> None:
        """Searches read the suffix array at random places, one entry per probe: no
        read-ahead on its page faults (mapping.advise_random). The tokens keep the
        kernel's read-ahead: each probe compares a run of tokens and documents are read
        whole, and on a cold page cache (139M tokens, 2 shards) the first trace took
        ~330-470 ms this way, ~410-560 ms with both maps random, ~590-740 ms with
        neither. The engine calls it; readers that scan whole shards (verify, the
        lexical build) open maps of their own.
        """
        advise_random(self._sa_raw)

    @cached_property
    def token_starts(self) -> np.ndarray:
        """At t, the first suffix-array rank whose suffix starts with token id t, for
        t in 0..id_limit (int64; the last entry is the rank of the first separator).

        The running sum of the shard's own counts (`unigram.zst`, read on first use):
        suffixes sort by their first token first. Checked to sum to the shard's
        real tokens; the file's bytes are covered by the manifest's hash (`verify`).
        """
        counts = read_counts(self.path)
        real, total = self.n_tokens - self.n_docs, int(counts.sum(dtype=np.uint64))
        if len(counts) < self.id_limit or total != real:
            raise damaged(
                self.path / fmt.SHARD_UNIGRAM,
                f"{len(counts)} counts summing to {total}, "
                f"expected {self.id_limit} summing to the shard's {real} tokens",
            )
        starts = np.zeros(self.id_limit + 1, dtype=np.int64)
        np.cumsum(counts[: self.id_limit], out=starts[1:], dtype=np.int64)
        if starts[-1] != real:
            raise damaged(self.path / fmt.SHARD_UNIGRAM, "counts of ids past the vocabulary")
        return starts

    def positions(self, ranks: np.ndarray | int) -> np.ndarray:
        """Token positions of the suffixes at the given suffix-array ranks (int64).

        A position past the shard can only come from a damaged `sa`: IndexFormatError.
        """
        out = self.entries.many(np.asarray(ranks, dtype=np.int64))
        if out.size and int(out.max()) >= self.n_tokens:
            raise damaged(self.path / fmt.SA, f"position {int(out.max())} is past the shard")
        return out

    def position(self, rank: int) -> int:
        """Token position of the suffix at one rank: the scalar path of binary searches."""
        p = self.entries.one(rank)
        if p >= self.n_tokens:
            raise damaged(self.path / fmt.SA, f"position {p} is past the shard")
        return p

    def doc_of(self, positions: np.ndarray | int) -> np.ndarray:
        """Index (within this shard) of the document holding each token position."""
        return np.searchsorted(self.docs, np.asarray(positions, dtype=np.uint64), side="right") - 1

    def doc_span(self, doc: int) -> tuple[int, int]:
        """Token positions [start, end) of a document's tokens (its separator excluded)."""
        if not 0 <= doc < self.n_docs:
            raise NotFound(f"document {doc} is not in {self.name} ({self.n_docs} documents)")
        start = int(self.docs[doc]) + 1
        end = int(self.docs[doc + 1]) if doc + 1 < self.n_docs else self.n_tokens
        return start, end

    def doc_meta(self, doc: int) -> dict[str, Any]:
        if not 0 <= doc < self.n_docs:
            raise NotFound(f"document {doc} is not in {self.name} ({self.n_docs} documents)")
        lo, hi = int(self.meta_offsets[doc]), int(self.meta_offsets[doc + 1])
        try:
            value = json.loads(bytes(self._meta[lo:hi]))
        except ValueError:
            raise damaged(self.path / fmt.META, f"document {doc} is not JSON") from None
        return value if isinstance(value, dict) else {"value": value}

    def doc_tokens(self, start: int, end: int) -> np.ndarray:
        """A copy of tokens [start, end) inside one document, checked to be real ids
        (a separator or an id outside the vocabulary there means damaged `tokens`)."""
        out = np.array(self.tokens[start:end])
        if out.size and int(out.max()) >= self.id_limit:
            bad = int(out[out >= self.id_limit][0])
            raise damaged(self.path / fmt.TOKENS, f"token id {bad} inside a document")
        return out


class Index:
    """A finished index directory, opened read-only and safe to share between threads."""

    def __init__(self, path: Path, manifest: fmt.Manifest, tokenizer: Tokenizer) -> None:
        self.path = path
        self.manifest = manifest
        self.tokenizer = tokenizer
        self.token_dtype = fmt.token_dtype(manifest.token_width)
        self.separator = int(manifest.separator)
        self.id_limit = min(tokenizer.vocab_size, self.separator)
        self.closed = False
        check_index_files(path, manifest, tokenizer)
        self.shards = [
            Shard(path / info.name, info, self.token_dtype, self.id_limit)
            for info in manifest.shards
        ]
        self.unigram: np.ndarray = open_array(path / fmt.UNIGRAM, "<u8")
        for shard in self.shards:
            check_shard_structure(
                shard.path,
                shard.info,
                shard.tokens,
                shard.docs,
                shard.meta_offsets,
                len(shard._meta),
                self.separator,
            )
        check_unigram(path / fmt.UNIGRAM, self.unigram, tokenizer.vocab_size, self.total_tokens)
        offsets = np.cumsum([0] + [s.n_docs for s in self.shards])
        self.doc_offsets: np.ndarray = offsets.astype(np.int64)

    @classmethod
    def open(cls, path: str | Path) -> Index:
        path = Path(path)
        if not path.is_dir():
            raise IndexFormatError(f"{path}: no such index directory")
        manifest = fmt.Manifest.load(path)
        tokenizer = Tokenizer.from_index_dir(path / fmt.TOKENIZER_DIR)
        if tokenizer.width != manifest.token_width:
            raise IndexFormatError(f"{path}: tokenizer width differs from the manifest")
        return cls(path, manifest, tokenizer)

    def close(self) -> None:
        """Release every map (a closed index answers nothing; arrays still held by a
        caller stay readable until dropped)."""
        for shard in self.shards:
            shard.close()
        self.unigram = np.empty(0, dtype="<u8")
        self.closed = True

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def total_tokens(self) -> int:
        return self.manifest.total_tokens

    @property
    def total_documents(self) -> int:
        return self.manifest.total_documents

    def locate(self, doc_index: int) -> tuple[Shard, int]:
        """The shard and local index of a global document index (shards in order)."""
        if self.closed:
            raise IndexFormatError(f"{self.path}: the index has been closed")
        if not 0 <= doc_index < self.total_documents:
            raise NotFound(
                f"document {doc_index} does not exist ({self.total_documents} documents)"
            )
        shard_no = int(np.searchsorted(self.doc_offsets, doc_index, side="right") - 1)
        return self.shards[shard_no], doc_index - int(self.doc_offsets[shard_no])

    def global_doc(self, shard_no: int, local: int) -> int:
        return int(self.doc_offsets[shard_no]) + int(local)
