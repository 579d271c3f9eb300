"""A shard group: some shards of an index, opened on the node that stores them.

`GroupEngine` is the local `Engine` over those shards plus the few per-shard steps the
front end combines into exact answers (fanout.py). It imports no Ray: the Ray actor
(holder.py) only wraps it, and tests can run the same fan-out in one process. Shard
numbers inside a group are local (0..k-1); document numbers are global, because each
shard's document offset is taken from the whole index.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from corpustrace import deadline as deadlines
from corpustrace.deadline import Deadline
from corpustrace.engine import documents, ngram
from corpustrace.engine.engine import Engine
from corpustrace.engine.protocol import WindowRequest
from corpustrace.engine.results import DocumentView, FindResult, Occurrence, Window
from corpustrace.engine.search import lower_bound_by_key
from corpustrace.errors import IndexFormatError, NotFound
from corpustrace.index import format as fmt
from corpustrace.index.checks import check_shard_structure, check_unigram
from corpustrace.index.reader import Index, Shard, open_array
from corpustrace.tokenizer import Tokenizer

RankGroups = list[tuple[int, np.ndarray]]  # (local shard, ranks)


class GroupIndex(Index):
    """An `Index` holding only the shards `numbers` of the index at `path` (each checked
    as at a full open); the manifest, tokenizer and unigram table are the whole index's."""

    def __init__(self, path: Path, numbers: Sequence[int]) -> None:  # no super(): a subset
        if not path.is_dir():
            raise IndexFormatError(f"{path}: no such index directory")
        self.path = path
        self.manifest = fmt.Manifest.load(path)
        self.tokenizer = Tokenizer.from_index_dir(path / fmt.TOKENIZER_DIR)
        self.token_dtype = fmt.token_dtype(self.manifest.token_width)
        self.separator = int(self.manifest.separator)
        self.id_limit = min(self.tokenizer.vocab_size, self.separator)
        self.closed = False
        self.numbers = [int(n) for n in numbers]
        if any(not 0 <= n < len(self.manifest.shards) for n in self.numbers):
            raise IndexFormatError(f"{path}: shard numbers {self.numbers} outside the index")
        infos = [self.manifest.shards[n] for n in self.numbers]
        self.shards = [Shard(path / i.name, i, self.token_dtype, self.id_limit) for i in infos]
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
        self.unigram = open_array(path / fmt.UNIGRAM, "<u8")
        check_unigram(
            path / fmt.UNIGRAM, self.unigram, self.tokenizer.vocab_size, self.total_tokens
        )
        offsets = np.cumsum([0] + [s.documents for s in self.manifest.shards]).astype(np.int64)
        self.doc_offsets = offsets[self.numbers]
        self.doc_ends = offsets[[n + 1 for n in self.numbers]]

    def locate(self, doc_index: int) -> tuple[Shard, int]:
        if self.closed:
            raise IndexFormatError(f"{self.path}: the index has been closed")
        for local, (lo, hi) in enumerate(zip(self.doc_offsets, self.doc_ends, strict=True)):
            if lo <= doc_index < hi:
                return self.shards[local], doc_index - int(lo)
        raise NotFound(f"document {doc_index} is not held by this shard group")


class GroupEngine:
    """The calls a shard group answers (`run(method, args, seconds)`), over its shards."""

    def __init__(self, path: str | Path, numbers: Sequence[int], threads: int | None = None):
        self.engine = Engine(GroupIndex(Path(path), numbers), threads=threads)
        self.names = [s.name for s in self.engine.index.shards]
        self._methods: dict[str, Callable[..., Any]] = {
            "ping": self.ping,
            "longest_prefixes": self.engine.longest_prefixes,
            "find_many": self.find_many,
            "count_many": self.engine.count_many,
            "continuation_counts": self.continuation_counts,
            "ntd_runs": self.ntd_runs,
            "ntd_sample": self.ntd_sample,
            "ntd_counts": self.ntd_counts,
            "ntd_at_most": self.ntd_at_most,
            "occurrences_at": self.occurrences_at,
            "windows": self.windows,
            "occurrence_windows": self.occurrence_windows,
            "doc_metas": self.engine.doc_metas,
            "document": self.document,
            "docs_at": self.docs_at,
        }

    def run(self, method: str, args: tuple[Any, ...], seconds: float | None) -> Any:
        """Call `method` under a deadline of `seconds` (what is left of the request's)."""
        fn = self._methods.get(method)
        if fn is None:
            raise NotFound(f"a shard group has no call {method!r}")
        with deadlines.active(Deadline(seconds) if seconds is not None else None):
            return fn(*args)

    def close(self) -> None:
        self.engine.close()

    def ping(self) -> list[str]:
        return self.names

    def find_many(self, seqs: Sequence[np.ndarray]) -> list[FindResult]:
        return self.engine.find_many(seqs)

    def continuation_counts(self, prompt: np.ndarray, first: np.ndarray) -> np.ndarray:
        """Per k in `first`, this group's occurrences of prompt[k:] with a next token."""
        lo, hi = ngram.continuation_ranges(self.engine, prompt, first)
        counts: np.ndarray = (hi - lo).sum(axis=0).astype(np.int64)
        return counts

    def ntd_runs(
        self, prompt: np.ndarray, max_support: int
    ) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray] | None]]:
        """Per shard: the continuation range of `prompt` and its runs of equal next
        token (None past `max_support` distinct ones), as ngram.ntd computes them."""
        engine = self.engine
        lo, hi = ngram.continuation_ranges(engine, prompt, np.zeros(1, dtype=np.int64))
        lo, hi = lo[:, 0], hi[:, 0]
        keys = [ngram.next_token_keys(shard, len(prompt)) for shard in engine.shards]
        runs = engine.parallel(
            lambda s: ngram.token_runs(keys[s], int(lo[s]), int(hi[s]), max_support),
            range(len(keys)),
        )
        for s, found in enumerate(runs):
            if found is not None:
                ngram.check_next_tokens(engine, s, found[0])
        return lo, hi, runs

    def ntd_sample(
        self, prompt: np.ndarray, lo: np.ndarray, hi: np.ndarray, stride: int
    ) -> list[np.ndarray]:
        """Next tokens of every `stride`-th occurrence, per shard (ntd's approximate path)."""
        out = []
        for s, shard in enumerate(self.engine.shards):
            seen = ngram.next_token_keys(shard, len(prompt))(np.arange(lo[s], hi[s], stride))
            ngram.check_next_tokens(self.engine, s, seen)
            out.append(seen)
        return out

    def ntd_at_most(
        self, prompt: np.ndarray, lo: np.ndarray, hi: np.ndarray, values: np.ndarray
    ) -> np.ndarray:
        """Occurrences whose next token is <= each value, summed over this group's shards
        (a step of ngram.tokens_at, the merged sample of an approximate ntd)."""
        counts = np.zeros(len(values), dtype=np.int64)
        for s, shard in enumerate(self.engine.shards):
            key = ngram.next_token_keys(shard, len(prompt))
            a, b = np.full(len(values), lo[s]), np.full(len(values), hi[s])
            counts += lower_bound_by_key(key, a, b, values + 1) - lo[s]
        return counts

    def ntd_counts(
        self, prompt: np.ndarray, lo: np.ndarray, hi: np.ndarray, candidates: np.ndarray
    ) -> np.ndarray:
        """Exact count of each candidate next token, summed over this group's shards."""
        counts = np.zeros(len(candidates), dtype=np.int64)
        for s, shard in enumerate(self.engine.shards):
            key = ngram.next_token_keys(shard, len(prompt))
            a, b = np.full(len(candidates), lo[s]), np.full(len(candidates), hi[s])
            counts += lower_bound_by_key(key, a, b, candidates + 1) - lower_bound_by_key(
                key, a, b, candidates
            )
        return counts

    def occurrences_at(
        self, requests: Sequence[tuple[np.ndarray | None, RankGroups]]
    ) -> list[list[Occurrence]]:
        """For each (query ids, rank groups): its occurrences, checked against the ids."""
        out = []
        for ids, groups in requests:
            deadlines.check()
            occs = documents.occurrences_at(self.engine, groups)
            if ids is not None:
                documents.check_matches(self.engine, occs, ids)
            out.append(occs)
        return out

    def occurrence_windows(
        self, requests: Sequence[tuple[np.ndarray, RankGroups]], radius: int
    ) -> list[list[tuple[Occurrence, Window, dict[str, Any]]]]:
        """occurrences_at, each with its window and its document's metadata (which the
        front end keeps for the merge step: one round trip for all of trace step 3)."""
        out = []
        for (ids, _), occs in zip(requests, self.occurrences_at(requests), strict=True):
            wins = self.engine.windows(
                [WindowRequest(o.shard, o.position, len(ids), radius, radius) for o in occs]
            )
            metas = self.engine.doc_metas([o.doc for o in occs])
            out.append(list(zip(occs, wins, metas, strict=True)))
        return out

    def windows(self, requests: Sequence[WindowRequest]) -> list[Window]:
        return self.engine.windows(requests)

    def document(self, doc: int, start: int, end: int | None) -> DocumentView:
        return self.engine.document(doc, start, end)

    def docs_at(self, groups: RankGroups) -> list[int]:
        """Global documents holding the suffixes at these ranks (CNF search)."""
        docs: set[int] = set()
        for shard_no, ranks in groups:
            shard = self.engine.index.shards[shard_no]
            local = shard.doc_of(shard.positions(ranks))
            offset = int(self.engine.index.doc_offsets[shard_no])
            docs.update(offset + int(d) for d in np.unique(local))
        return sorted(docs)
