"""The engine protocol answered by shard groups, with results exact to the local engine.

Each answer is put together the way `Engine` combines its own shards: longest prefixes
are the maximum over groups, counts the sum, rank ranges are placed at their global
shard numbers, and occurrences are sampled once over the global ranges with the
request's seed (engine/documents.py), then fetched only from the groups owning the
sampled ranks. Unigram table, totals and tokenizer come from the front end's
`IndexHead`. A call batch goes out to all groups at once (`Caller.call`), so each step
costs one round trip; a group with no live replica fails the whole answer.
"""

from __future__ import annotations

import copy
import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np

from corpustrace.cluster.calls import LRU, Call, Caller
from corpustrace.cluster.head import IndexHead
from corpustrace.engine import ngram
from corpustrace.engine.documents import (
    combine_clauses,
    non_negative,
    pick_ranks,
    sample_indices,
)
from corpustrace.engine.engine import checked_ids
from corpustrace.engine.protocol import Ids, WindowRequest
from corpustrace.engine.results import (
    CnfHits,
    DocumentHits,
    DocumentView,
    FindResult,
    Hit,
    InfgramNtdResult,
    InfgramProbResult,
    NtdResult,
    Occurrence,
    ProbResult,
    Window,
)
from corpustrace.errors import NotFound, QueryError
from corpustrace.tokenizer import Tokenizer

T = TypeVar("T", Occurrence, Window, DocumentView)


FIND_CACHE_SIZE = 16_384  # find results kept (a few hundred bytes each)
META_CACHE_SIZE = 4_096  # document metadata kept from step 3 for the merge step


def capped(tokens: np.ndarray, counts: np.ndarray, total: int, max_support: int) -> NtdResult:
    """ngram.ntd's answer from the merged runs (tokens ascending): all of them when they
    fit in max_support, else those at its evenly spaced sample places."""
    if len(tokens) <= max_support:
        return ngram.ntd_result(tokens, counts, total, approx=False)
    at = np.searchsorted(np.cumsum(counts), ngram.sample_positions(total, max_support), "right")
    keep = np.unique(at)
    return ngram.ntd_result(tokens[keep], counts[keep], total, approx=True)


class FanoutEngine:
    """`SearchEngine` over shard groups `groups` (global shard numbers of each)."""

    def __init__(self, head: IndexHead, groups: Sequence[Sequence[int]], caller: Caller):
        self.head = head
        self.tokenizer: Tokenizer = head.tokenizer
        self.total_tokens: int = head.total_tokens
        self.groups = [list(g) for g in groups]
        self.caller = caller
        self._found: LRU[bytes, FindResult] = LRU(FIND_CACHE_SIZE)
        self._metas: LRU[int, dict[str, Any]] = LRU(META_CACHE_SIZE)
        self.owner: dict[int, tuple[int, int]] = {}  # shard -> (group, local number)
        for g, numbers in enumerate(self.groups):
            for local, shard in enumerate(numbers):
                self.owner[shard] = (g, local)
        missing = sorted(set(range(len(head.shard_names))) - set(self.owner))
        if missing:
            raise ValueError(f"shards {missing} belong to no group")

    @property
    def index(self) -> IndexHead:
        return self.head

    def close(self) -> None:
        self.caller.close()
        self.head.close()

    def cluster_status(self) -> dict[str, Any]:
        return self.caller.status()

    # -- plumbing ---------------------------------------------------------------------

    def _all(self, method: str, *args: Any) -> list[Any]:
        return self.caller.call([Call(g, method, args) for g in range(len(self.groups))])

    def _global(self, group: int, item: T) -> T:
        """A result from a group, its local shard number made global."""
        return dataclasses.replace(item, shard=self.groups[group][item.shard])

    # -- validation (as Engine.query / Engine.token) ------------------------------------

    def query(self, ids: Ids, what: str = "query") -> np.ndarray:
        return checked_ids(ids, self.tokenizer.vocab_size, self.head.separator, what)

    def token(self, token_id: int, what: str = "token") -> int:
        return int(self.query(np.asarray([token_id]), what)[0])

    # -- counting -----------------------------------------------------------------------

    def find(self, ids: Ids) -> FindResult:
        return self.find_many([ids])[0]

    def find_many(self, seqs: Sequence[Ids]) -> list[FindResult]:
        """Rank ranges of many n-grams: one call per group for those not found lately.

        The index never changes, so a find result stays true; the trace pipeline asks for
        the counts of its candidate spans (step 1) and then the ranges of the kept ones
        (step 3), and the second question is answered from the first round trip.
        """
        checked = [self.query(s) for s in seqs]
        keys = [a.tobytes() for a in checked]
        out = self._found.get_many(keys)
        todo = [j for j, hit in enumerate(out) if hit is None]
        if todo:
            per_group: list[list[FindResult]] = self._all("find_many", [checked[j] for j in todo])
            fresh = []
            for i, j in enumerate(todo):
                ranges: list[tuple[int, int]] = [(0, 0)] * len(self.owner)
                for g, found in enumerate(per_group):
                    for local, pair in enumerate(found[i].ranges):
                        ranges[self.groups[g][local]] = pair
                result = FindResult(count=sum(b - a for a, b in ranges), ranges=tuple(ranges))
                out[j] = result
                fresh.append(result)
            self._found.put_many([keys[j] for j in todo], fresh)
        return [r for r in out if r is not None]

    def count(self, ids: Ids) -> int:
        return self.find(ids).count

    def count_many(self, seqs: Sequence[Ids]) -> np.ndarray:
        """Counts from `find_many` (the ranges are few bytes more, and kept for step 3)."""
        if not seqs:
            return np.zeros(0, dtype=np.int64)
        return np.array([f.count for f in self.find_many(seqs)], dtype=np.int64)

    def longest_prefixes(self, ids: Ids) -> np.ndarray:
        array = self.query(ids)
        best = np.zeros(len(array), dtype=np.int64)
        if len(array):
            for part in self._all("longest_prefixes", array):
                np.maximum(best, part, out=best)
        return best

    # -- n-gram language model (as engine/ngram.py) ------------------------------------

    def _continuation_counts(self, prompt: np.ndarray, first: np.ndarray) -> np.ndarray:
        total = np.zeros(len(first), dtype=np.int64)
        for part in self._all("continuation_counts", prompt, first):
            total += part
        return total

    def _backoff_start(self, prompt: np.ndarray) -> tuple[int, int]:
        counts = self._continuation_counts(prompt, np.arange(len(prompt) + 1, dtype=np.int64))
        found = np.flatnonzero(counts > 0)
        k = int(found[0]) if found.size else len(prompt)
        return k, int(counts[k])

    def prob(self, prompt: Ids, next_id: int) -> ProbResult:
        checked, nxt = self.query(prompt, "prompt"), self.token(next_id)
        prompt_count = int(self._continuation_counts(checked, np.zeros(1, np.int64))[0])
        count = self.count(np.append(checked, nxt))
        return ProbResult(prompt_count, count, ngram.ratio(count, prompt_count))

    def infgram_prob(self, prompt: Ids, next_id: int) -> InfgramProbResult:
        checked, nxt = self.query(prompt, "prompt"), self.token(next_id)
        k, prompt_count = self._backoff_start(checked)
        count = self.count(np.append(checked[k:], nxt))
        return InfgramProbResult(
            len(checked) - k, prompt_count, count, ngram.ratio(count, prompt_count)
        )

    def infgram_ntd(self, prompt: Ids, max_support: int = 1000) -> InfgramNtdResult:
        checked = self.query(prompt, "prompt")
        k, _ = self._backoff_start(checked)
        return InfgramNtdResult(len(checked) - k, self._ntd(checked[k:], max_support))

    def ntd(self, prompt: Ids, max_support: int = 1000) -> NtdResult:
        return self._ntd(self.query(prompt, "prompt"), max_support)

    def _ntd(self, prompt: np.ndarray, max_support: int) -> NtdResult:
        """ngram.ntd, each shard's part done by its group (same runs, same sample)."""
        if max_support < 1:
            raise QueryError("max_support must be at least 1")
        if len(prompt) == 0:
            unigram = np.asarray(self.head.unigram, dtype=np.int64)
            tokens = np.flatnonzero(unigram)
            return capped(tokens, unigram[tokens], self.total_tokens, max_support)
        parts = self._all("ntd_runs", prompt, max_support)
        total = int(sum(int((hi - lo).sum()) for lo, hi, _ in parts))
        if total == 0:
            return NtdResult(prompt_count=0, entries=(), approx=False)
        runs = [run for _, _, group_runs in parts for run in group_runs]
        if all(r is not None for r in runs):
            tokens, counts = ngram.merge_runs(
                np.concatenate([r[0] for r in runs if r is not None]),
                np.concatenate([r[1] for r in runs if r is not None]),
            )
            return capped(tokens, counts, total, max_support)
        # ngram.tokens_at over the groups: a binary search over token ids for each place.
        places = ngram.sample_positions(total, max_support)
        a = np.zeros(len(places), dtype=np.int64)
        b = np.full(len(places), self.tokenizer.vocab_size - 1, dtype=np.int64)
        active = np.flatnonzero(a < b)
        while active.size:
            mid = (a[active] + b[active]) // 2
            calls = [
                Call(g, "ntd_at_most", (prompt, lo, hi, mid)) for g, (lo, hi, _) in enumerate(parts)
            ]
            at_most = np.sum(self.caller.call(calls), axis=0)
            right = at_most <= places[active]
            a[active] = np.where(right, mid + 1, a[active])
            b[active] = np.where(right, b[active], mid)
            active = active[a[active] < b[active]]
        candidates = np.unique(a)
        calls = [
            Call(g, "ntd_counts", (prompt, lo, hi, candidates))
            for g, (lo, hi, _) in enumerate(parts)
        ]
        counts = np.zeros(len(candidates), dtype=np.int64)
        for part in self.caller.call(calls):
            counts += part
        return ngram.ntd_result(candidates, counts, total, approx=True)

    # -- occurrences --------------------------------------------------------------------

    def occurrences(
        self, ids: Ids, limit: int, seed: int = 0, found: FindResult | None = None
    ) -> list[Occurrence]:
        found = found if found is not None else self.find(ids)
        return self.occurrences_many([ids], limit, seed, [found])[0]

    def occurrences_many(
        self, seqs: Sequence[Ids], limit: int, seed: int, finds: Sequence[FindResult]
    ) -> list[list[Occurrence]]:
        non_negative(limit=limit)
        picks = []
        for found in finds:
            segments = [(s, lo, hi) for s, (lo, hi) in enumerate(found.ranges)]
            picks.append(pick_ranks(segments, sample_indices(found.count, limit, seed)))
        checked = [self.query(ids) for ids in seqs]
        return self._resolve(picks, checked)

    def _resolve(
        self,
        picks: list[list[tuple[int, np.ndarray]]],
        ids: Sequence[np.ndarray],
        radius: int | None = None,
    ) -> list[list[Any]]:
        """Occurrences at the picked (global shard, ranks), in the order picked: one call
        per owning group, whatever the number of queries. With `radius`, each comes as
        (occurrence, window, metadata)."""
        requests: dict[int, list[tuple[np.ndarray, list[tuple[int, np.ndarray]]]]] = defaultdict(
            list
        )
        slots: dict[int, list[tuple[int, int]]] = defaultdict(list)  # group -> (query, pick)
        for q, groups in enumerate(picks):
            for p, (shard, ranks) in enumerate(groups):
                g, local = self.owner[shard]
                requests[g].append((ids[q], [(local, ranks)]))
                slots[g].append((q, p))
        order = sorted(requests)
        if radius is None:
            calls = [Call(g, "occurrences_at", (requests[g],)) for g in order]
        else:
            calls = [Call(g, "occurrence_windows", (requests[g], radius)) for g in order]
        found: dict[tuple[int, int], list[Any]] = {}
        for g, answer in zip(order, self.caller.call(calls), strict=True):
            for slot, items in zip(slots[g], answer, strict=True):
                if radius is None:
                    found[slot] = [self._global(g, o) for o in items]
                else:
                    found[slot] = [(self._global(g, o), self._global(g, w), m) for o, w, m in items]
        return [
            [item for p in range(len(groups)) for item in found[(q, p)]]
            for q, groups in enumerate(picks)
        ]

    def occurrence_windows(
        self, seqs: Sequence[Ids], limit: int, seed: int, finds: Sequence[FindResult], radius: int
    ) -> list[list[tuple[Occurrence, Window]]]:
        """One call per owning group for every occurrence, window and document metadata
        of a trace's step 3 (the metadata is kept for `doc_metas`, the merge step's)."""
        non_negative(limit=limit, radius=radius)
        picks = []
        for found in finds:
            segments = [(s, lo, hi) for s, (lo, hi) in enumerate(found.ranges)]
            picks.append(pick_ranks(segments, sample_indices(found.count, limit, seed)))
        checked = [self.query(ids) for ids in seqs]
        out = []
        for per_span in self._resolve(picks, checked, radius):
            pairs = []
            for occ, win, meta in per_span:
                self._metas.put_many([occ.doc], [meta])
                pairs.append((occ, win))
            out.append(pairs)
        return out

    # -- windows and documents ----------------------------------------------------------

    def _shard_owner(self, shard: int) -> tuple[int, int]:
        if shard not in self.owner:
            raise NotFound(f"shard {shard} does not exist ({len(self.owner)} shards)")
        return self.owner[shard]

    def window(self, shard: int, position: int, length: int, before: int, after: int) -> Window:
        return self.windows([WindowRequest(shard, position, length, before, after)])[0]

    def windows(self, requests: Sequence[WindowRequest]) -> list[Window]:
        by_group: dict[int, list[int]] = defaultdict(list)
        local_requests: dict[int, list[WindowRequest]] = defaultdict(list)
        for i, request in enumerate(requests):
            g, local = self._shard_owner(request.shard)
            by_group[g].append(i)
            local_requests[g].append(request._replace(shard=local))
        order = sorted(by_group)
        answers = self.caller.call([Call(g, "windows", (local_requests[g],)) for g in order])
        out: list[Window | None] = [None] * len(requests)
        for g, answer in zip(order, answers, strict=True):
            for i, win in zip(by_group[g], answer, strict=True):
                out[i] = self._global(g, win)
        return [w for w in out if w is not None]

    def document(self, doc: int, start: int = 0, end: int | None = None) -> DocumentView:
        shard, _ = self.head.locate(doc)
        g, _ = self.owner[shard]
        view: DocumentView = self.caller.call([Call(g, "document", (doc, start, end))])[0]
        return self._global(g, view)

    def doc_meta(self, doc: int) -> dict[str, Any]:
        return self.doc_metas([doc])[0]

    def index_name(self, doc: int) -> str:
        """The index's directory name (a cluster serves one index)."""
        return self.head.path.name

    def doc_metas(self, docs: Sequence[int]) -> list[dict[str, Any]]:
        """Metadata of documents (those just seen by `occurrence_windows` are kept)."""
        out: list[dict[str, Any]] = [{}] * len(docs)
        by_group: dict[int, list[int]] = defaultdict(list)
        for i, (doc, meta) in enumerate(zip(docs, self._metas.get_many(docs), strict=True)):
            if meta is not None:
                out[i] = copy.deepcopy(meta)  # a caller may change its copy
            else:
                by_group[self.owner[self.head.locate(doc)[0]][0]].append(i)
        order = sorted(by_group)
        calls = [Call(g, "doc_metas", ([docs[i] for i in by_group[g]],)) for g in order]
        for g, answer in zip(order, self.caller.call(calls), strict=True):
            for i, meta in zip(by_group[g], answer, strict=True):
                out[i] = meta
        return out

    def search_documents(
        self, ids: Ids, offset: int = 0, limit: int = 10, window: int = 50
    ) -> DocumentHits:
        """documents.search_documents: one page in (shard, rank) order, decoded here."""
        checked = self.query(ids)
        if len(checked) == 0:
            raise QueryError("document search needs a non-empty query")
        non_negative(offset=offset, limit=limit, window=window)
        found = self.find(checked)
        segments = [(s, lo, hi) for s, (lo, hi) in enumerate(found.ranges)]
        first = min(offset, found.count)
        page = np.arange(first, min(first + limit, found.count), dtype=np.int64)
        occs = self._resolve([pick_ranks(segments, page)], [checked])[0]
        wins = self.windows(
            [WindowRequest(o.shard, o.position, len(checked), window, window) for o in occs]
        )
        metas = self.doc_metas([o.doc for o in occs])
        hits = []
        for occ, win, meta in zip(occs, wins, metas, strict=True):
            text, offsets = self.tokenizer.decode_with_offsets(win.tokens)
            hits.append(
                Hit(
                    doc=occ.doc,
                    shard=occ.shard,
                    position=occ.position,
                    meta=meta,
                    text=text,
                    match_char_start=offsets[win.match_start],
                    match_char_end=offsets[win.match_end],
                    tokens_before=win.match_start,
                    tokens_after=len(win.tokens) - win.match_end,
                )
            )
        return DocumentHits(count=found.count, offset=offset, limit=limit, hits=tuple(hits))

    def cnf_search(
        self,
        clauses: Sequence[Sequence[Ids]],
        offset: int = 0,
        limit: int = 10,
        max_clause_freq: int = 50_000,
    ) -> CnfHits:
        """documents.cnf_search, each clause's sampled ranks resolved by their groups."""
        checked = [[self.query(n, "CNF n-gram") for n in clause] for clause in clauses]
        return combine_clauses(checked, offset, limit, max_clause_freq, self._clause_documents)

    def _clause_documents(self, clause: Sequence[np.ndarray], cap: int) -> tuple[set[int], bool]:
        segments: list[tuple[int, int, int]] = []
        for found in self.find_many(clause):
            segments.extend((s, lo, hi) for s, (lo, hi) in enumerate(found.ranges) if hi > lo)
        total = sum(hi - lo for _, lo, hi in segments)
        by_group: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
        for shard, ranks in pick_ranks(segments, sample_indices(total, cap, 0)):
            g, local = self.owner[shard]
            by_group[g].append((local, ranks))
        order = sorted(by_group)
        docs: set[int] = set()
        for answer in self.caller.call([Call(g, "docs_at", (by_group[g],)) for g in order]):
            docs.update(answer)
        return docs, total > cap
