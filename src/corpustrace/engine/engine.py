"""The query engine: infini-gram queries and OLMoTrace's span search over one index.

An `Engine` holds no mutable state besides a thread pool (whose `submit` is
thread-safe), so one engine serves any number of threads. Shards are searched in
parallel; inside a shard, many queries advance through one vectorised binary search.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import numpy as np

from corpustrace import deadline
from corpustrace.engine import documents, ngram
from corpustrace.engine.prefix import longest_prefix_lengths, max_over_shards
from corpustrace.engine.protocol import WindowRequest
from corpustrace.engine.results import (
    CnfHits,
    DocumentHits,
    DocumentView,
    FindResult,
    InfgramNtdResult,
    InfgramProbResult,
    NtdResult,
    Occurrence,
    ProbResult,
    Window,
)
from corpustrace.engine.search import (
    Position,
    Positions,
    first_token_bounds,
    list_view,
    query_batch,
    sa_range_one,
    sa_ranges,
)
from corpustrace.errors import IndexFormatError, QueryError
from corpustrace.index.multi import MultiIndex
from corpustrace.index.reader import Index, Shard
from corpustrace.tokenizer import Tokenizer

PARALLEL_MIN_POSITIONS = 1 << 22  # below this, shards are searched one after another

T = TypeVar("T")
U = TypeVar("U")
Ids = Sequence[int] | np.ndarray


@dataclass(frozen=True, eq=False)
class ShardArrays:
    """What search needs of a shard: its tokens, rank -> position, sizes."""

    tokens: np.ndarray
    positions: Positions
    n: int  # positions, separators included
    n_docs: int
    position: Position  # one rank -> one position, for scalar searches
    token_list: np.ndarray | memoryview  # tokens, sliced to lists by scalar searches
    source: Shard

    @classmethod
    def of(cls, shard: Shard) -> ShardArrays:
        # A plain ndarray view of the memory map: same pages, without memmap's
        # subclass overhead on every small gather. The SA reader is made here, once,
        # rather than lazily by whichever search thread comes first.
        _ = shard.entries
        shard.advise_random()
        tokens = np.asarray(shard.tokens)
        return cls(
            tokens,
            shard.positions,
            shard.n_tokens,
            shard.n_docs,
            shard.position,
            list_view(tokens),
            shard,
        )

    def bounds(self, token: int) -> tuple[int, int]:
        """Ranks [lo, hi) of the suffixes that start with one real token id."""
        starts = self.source.token_starts
        return starts.item(token), starts.item(token + 1)

    @property
    def real(self) -> int:
        """Ranks [0, real) hold the suffixes that start with a real token: separators
        are the largest value, so the n_docs suffixes starting with one sort last."""
        return self.n - self.n_docs


class Engine:
    """Suffix-array queries over an opened `Index` (see docs/api.md for the HTTP side)."""

    def __init__(self, index: Index | MultiIndex, threads: int | None = None) -> None:
        # One index or several served as one corpus: the same shard list either way.
        self.index = index if isinstance(index, MultiIndex) else MultiIndex([index])
        self.tokenizer: Tokenizer = self.index.tokenizer
        self.total_tokens: int = self.index.total_tokens
        self.shards = [ShardArrays.of(shard) for shard in self.index.shards]
        self.index_positions = sum(shard.n for shard in self.shards)
        self.parallel_min_positions = PARALLEL_MIN_POSITIONS
        self.threads = max(1, threads if threads is not None else os.cpu_count() or 1)
        self.closed = False
        parallel = self.threads > 1 and len(self.shards) > 1
        self._pool = (
            ThreadPoolExecutor(min(self.threads, len(self.shards)), thread_name_prefix="engine")
            if parallel
            else None
        )

    @classmethod
    def open(cls, path: str | Path | Sequence[str | Path], threads: int | None = None) -> Engine:
        """Open one index directory, or several built with one tokenizer as one corpus."""
        paths = [path] if isinstance(path, str | Path) else list(path)
        return cls(MultiIndex.open(paths), threads=threads)

    def index_name(self, doc: int) -> str:
        """Name of the index (training phase) that holds a global document."""
        return self.index.part_of_doc(doc).name

    def close(self) -> None:
        """Stop the thread pool and release every memory map of the index."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self.shards = []
        self.index_positions = 0
        self.index.close()
        self.closed = True

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- helpers shared with ngram.py and documents.py --------------------------------

    def map_shards(self, fn: Callable[[ShardArrays], T]) -> list[T]:
        """fn over every shard, in shard order, in parallel when there are several."""
        return self.parallel(fn, self.shards)

    def parallel(self, fn: Callable[[U], T], items: Iterable[U]) -> list[T]:
        """fn over items (one per shard), in order, on the engine's thread pool.

        Small indexes are searched in the calling thread: their pages are cached and
        their numpy steps too short to release the GIL for long, so threads would only
        add hand-offs. Large ones gain from overlapping page faults and long gathers.
        """
        self.check_open()
        if self._pool is None or self.index_positions < self.parallel_min_positions:
            return [fn(item) for item in items]
        # Each task runs in a copy of the caller's context, so it sees the caller's deadline.
        tasks = [(contextvars.copy_context(), item) for item in items]
        return list(self._pool.map(lambda task: task[0].run(fn, task[1]), tasks))

    def check_open(self) -> None:
        if self.closed:
            raise IndexFormatError(f"{self.index.path}: the index has been closed")

    def query(self, ids: Ids, what: str = "query") -> np.ndarray:
        """Validated token ids as int64: real tokens of the vocabulary, no separator."""
        return checked_ids(ids, self.tokenizer.vocab_size, self.index.separator, what)

    def token(self, token_id: int, what: str = "token") -> int:
        return int(self.query(np.asarray([token_id]), what)[0])

    def shard_ranges(
        self, flat: np.ndarray, starts: np.ndarray, lens: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi), each of shape (shards, queries): the rank range of every query.

        The empty query stands for every real token (infini-gram counts the empty
        n-gram as the number of tokens), so its range stops before the separators.
        """

        def one(shard: ShardArrays) -> tuple[np.ndarray, np.ndarray]:
            bounds = first_token_bounds(shard.source.token_starts, shard.n, flat, starts, lens)
            lo, hi = sa_ranges(shard.tokens, shard.positions, shard.n, flat, starts, lens, bounds)
            hi[lens == 0] = shard.real
            return lo, hi

        ranges = self.map_shards(one)
        if not ranges:
            empty = np.zeros((0, len(starts)), dtype=np.int64)
            return empty, empty
        return np.stack([r[0] for r in ranges]), np.stack([r[1] for r in ranges])

    # -- counting ---------------------------------------------------------------------

    def find(self, ids: Ids) -> FindResult:
        """Per-shard rank ranges of an n-gram; the empty n-gram matches every real token."""
        return self.find_many([ids])[0]

    def find_many(self, seqs: Sequence[Ids]) -> list[FindResult]:
        """`find` of many n-grams, searched together: about the cost of a single one."""
        if len(seqs) == 1 and len(seqs[0]):
            # One n-gram: a scalar search per shard, in this thread (it holds the GIL
            # throughout, so the pool would only add two hand-offs per shard).
            query = self.query(seqs[0]).tolist()
            self.check_open()
            ranges = tuple(
                sa_range_one(s.token_list, s.position, *s.bounds(query[0]), query)
                for s in self.shards
            )
            return [FindResult(count=sum(b - a for a, b in ranges), ranges=ranges)]
        flat, starts, lens = query_batch([self.query(s) for s in seqs])
        lo, hi = self.shard_ranges(flat, starts, lens)
        results = []
        for j in range(len(seqs)):
            ranges = tuple((int(a), int(b)) for a, b in zip(lo[:, j], hi[:, j], strict=True))
            results.append(FindResult(count=sum(b - a for a, b in ranges), ranges=ranges))
        return results

    def count(self, ids: Ids) -> int:
        return self.find(ids).count

    def count_many(self, seqs: Sequence[Ids]) -> np.ndarray:
        """Counts of many n-grams (int64), searched together in every shard."""
        flat, starts, lens = query_batch([self.query(s) for s in seqs])
        lo, hi = self.shard_ranges(flat, starts, lens)
        counts: np.ndarray = (hi - lo).sum(axis=0).astype(np.int64)
        return counts

    def longest_prefixes(self, ids: Ids) -> np.ndarray:
        """At i, the length of the longest prefix of ids[i:] found in the corpus."""
        array = self.query(ids)
        per_shard = self.map_shards(
            lambda s: longest_prefix_lengths(
                s.tokens, s.positions, s.n, array, s.source.token_starts
            )
        )
        return max_over_shards(per_shard, len(array))

    # -- n-gram language model (infini-gram) ------------------------------------------

    def prob(self, prompt: Ids, next_id: int) -> ProbResult:
        return ngram.prob(self, self.query(prompt, "prompt"), self.token(next_id))

    def ntd(self, prompt: Ids, max_support: int = 1000) -> NtdResult:
        return ngram.ntd(self, self.query(prompt, "prompt"), max_support)

    def infgram_prob(self, prompt: Ids, next_id: int) -> InfgramProbResult:
        return ngram.infgram_prob(self, self.query(prompt, "prompt"), self.token(next_id))

    def infgram_ntd(self, prompt: Ids, max_support: int = 1000) -> InfgramNtdResult:
        return ngram.infgram_ntd(self, self.query(prompt, "prompt"), max_support)

    # -- occurrences and documents ----------------------------------------------------

    def occurrences(
        self, ids: Ids, limit: int, seed: int = 0, found: FindResult | None = None
    ) -> list[Occurrence]:
        found = found if found is not None else self.find(ids)
        return documents.occurrences(self, found, limit, seed, self.query(ids))

    def occurrences_many(
        self, seqs: Sequence[Ids], limit: int, seed: int, finds: Sequence[FindResult]
    ) -> list[list[Occurrence]]:
        """`occurrences` of many n-grams (each with its `find` result), in order."""
        out = []
        for ids, found in zip(seqs, finds, strict=True):
            deadline.check()
            out.append(self.occurrences(ids, limit, seed, found))
        return out

    def occurrence_windows(
        self, seqs: Sequence[Ids], limit: int, seed: int, finds: Sequence[FindResult], radius: int
    ) -> list[list[tuple[Occurrence, Window]]]:
        """Sampled occurrences of many n-grams, each with the window around it."""
        out = []
        for ids, occs in zip(seqs, self.occurrences_many(seqs, limit, seed, finds), strict=True):
            requests = [WindowRequest(o.shard, o.position, len(ids), radius, radius) for o in occs]
            out.append(list(zip(occs, self.windows(requests), strict=True)))
        return out

    def window(self, shard: int, position: int, length: int, before: int, after: int) -> Window:
        return documents.window(self, shard, position, length, before, after)

    def windows(self, requests: Sequence[WindowRequest]) -> list[Window]:
        """`window` of many (shard, position, length, before, after) requests, in order."""
        return [documents.window(self, *request) for request in requests]

    def doc_metas(self, docs: Sequence[int]) -> list[dict[str, Any]]:
        return [self.doc_meta(doc) for doc in docs]

    def document(self, doc: int, start: int = 0, end: int | None = None) -> DocumentView:
        return documents.document(self, doc, start, end)

    def doc_meta(self, doc: int) -> dict[str, Any]:
        shard, local = self.index.locate(doc)
        return shard.doc_meta(local)

    def search_documents(
        self, ids: Ids, offset: int = 0, limit: int = 10, window: int = 50
    ) -> DocumentHits:
        return documents.search_documents(self, self.query(ids), offset, limit, window)

    def cnf_search(
        self,
        clauses: Sequence[Sequence[Ids]],
        offset: int = 0,
        limit: int = 10,
        max_clause_freq: int = 50_000,
    ) -> CnfHits:
        checked = [[self.query(ngram, "CNF n-gram") for ngram in clause] for clause in clauses]
        return documents.cnf_search(self, checked, offset, limit, max_clause_freq)


def checked_ids(ids: Ids, vocab_size: int, separator: int, what: str = "query") -> np.ndarray:
    """`ids` as int64 when every one is a real token of the vocabulary (not the
    separator); QueryError naming the first that is not. Empty input gives an empty array."""
    array = np.asarray(ids)
    if array.size == 0:
        return np.empty(0, dtype=np.int64)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise QueryError(f"{what} must be a flat list of integer token ids")
    array = array.astype(np.int64)
    bad = (array < 0) | (array >= vocab_size) | (array == separator)
    if bad.any():
        raise QueryError(
            f"{what} holds token id {int(array[bad][0])}, which is not a token of this "
            f"index (ids 0..{vocab_size - 1}, the separator excluded)"
        )
    return array
