"""From suffix-array ranks to documents: occurrences, windows, document search, CNF.

Frequent n-grams can have millions of occurrences, so ranks are chosen (a page, or a
seeded sample) before any rank is turned into a position or a document: the work done
is proportional to what is returned, never to the count (OLMoTrace, Liu et al., 2025).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from corpustrace import deadline
from corpustrace.engine.results import (
    CnfHits,
    DocumentHits,
    DocumentView,
    FindResult,
    Hit,
    Occurrence,
    Window,
)
from corpustrace.errors import NotFound, QueryError
from corpustrace.index.checks import damaged
from corpustrace.index.format import SA

if TYPE_CHECKING:
    from corpustrace.engine.engine import Engine

Segments = Sequence[tuple[int, int, int]]  # (shard, lo, hi) rank ranges, read in order


def non_negative(**values: int) -> None:
    for name, value in values.items():
        if value < 0:
            raise QueryError(f"{name} must not be negative (got {value})")


def distinct_sorted(values: np.ndarray) -> np.ndarray:
    """The distinct values of a sorted array (np.unique without its sort, and without
    the first-call import of numpy.ma that costs a new process ~50 ms)."""
    if values.size == 0:
        return values
    keep = np.ones(values.size, dtype=bool)
    keep[1:] = values[1:] != values[:-1]
    return values[keep]


def pick_ranks(segments: Segments, picked: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Map sorted indices into the concatenation of `segments` to (shard, ranks) groups."""
    sizes = np.array([hi - lo for _, lo, hi in segments], dtype=np.int64)
    ends = np.cumsum(sizes)
    which = np.searchsorted(ends, picked, side="right")
    groups = []
    for seg in distinct_sorted(which):
        shard, lo, _ = segments[int(seg)]
        inside = picked[which == seg] - (ends[seg] - sizes[seg])
        groups.append((shard, lo + inside))
    return groups


def sample_indices(count: int, limit: int, seed: int) -> np.ndarray:
    """All of 0..count-1 when they fit in `limit`, else `limit` distinct ones drawn with
    a seeded generator (same seed, same sample), sorted. The standard library's `random`
    (already loaded by any process) rather than numpy.random, whose first import costs
    a new process 30-400 ms."""
    if count <= limit:
        return np.arange(count, dtype=np.int64)
    picked = random.Random(seed).sample(range(count), limit)
    return np.sort(np.array(picked, dtype=np.int64))


def occurrences_at(engine: Engine, groups: list[tuple[int, np.ndarray]]) -> list[Occurrence]:
    out: list[Occurrence] = []
    for shard_no, ranks in groups:
        shard = engine.index.shards[shard_no]
        positions = shard.positions(ranks)
        local = shard.doc_of(positions)
        offset = int(engine.index.doc_offsets[shard_no])
        out.extend(
            Occurrence(shard_no, int(r), int(p), offset + int(d), int(d))
            for r, p, d in zip(ranks, positions, local, strict=True)
        )
    return out


def check_matches(engine: Engine, occs: Sequence[Occurrence], ids: np.ndarray) -> None:
    """Each occurrence's tokens are the query: a suffix array whose damage moved a rank
    to another position would otherwise answer with wrong documents (200, no word)."""
    if not len(ids) or not occs:
        return
    offsets = np.arange(len(ids), dtype=np.int64)
    for shard_no in sorted({o.shard for o in occs}):
        shard = engine.index.shards[shard_no]
        at = np.array([o.position for o in occs if o.shard == shard_no], dtype=np.int64)
        found = np.asarray(shard.tokens).take(at[:, None] + offsets, mode="clip")
        if (found != ids).any() or int(at.max()) + len(ids) > shard.n_tokens:
            raise damaged(shard.path / SA, "a rank points where the query does not occur")


def occurrences(
    engine: Engine, found: FindResult, limit: int, seed: int, ids: np.ndarray | None = None
) -> list[Occurrence]:
    """All occurrences in (shard, rank) order, or a seeded sample of `limit` of them
    (checked against the query's tokens `ids` when given)."""
    non_negative(limit=limit)
    segments = [(s, lo, hi) for s, (lo, hi) in enumerate(found.ranges)]
    picked = sample_indices(found.count, limit, seed)
    occs = occurrences_at(engine, pick_ranks(segments, picked))
    if ids is not None:
        check_matches(engine, occs, ids)
    return occs


def window(
    engine: Engine, shard_no: int, position: int, length: int, before: int, after: int
) -> Window:
    """Tokens [position - before, position + length + after) clipped to the document."""
    non_negative(length=length, before=before, after=after)
    if not 0 <= shard_no < len(engine.index.shards):
        raise NotFound(f"shard {shard_no} does not exist ({len(engine.index.shards)} shards)")
    shard = engine.index.shards[shard_no]
    local = int(shard.doc_of(position)) if 0 <= position < shard.n_tokens else -1
    if local < 0:
        raise QueryError(f"position {position} is outside {shard.name}")
    doc_start, doc_end = shard.doc_span(local)
    if position < doc_start:
        raise QueryError(f"position {position} of {shard.name} is a document separator")
    match_end = min(position + length, doc_end)
    start, end = max(doc_start, position - before), min(doc_end, match_end + after)
    return Window(
        shard=shard_no,
        doc=engine.index.global_doc(shard_no, local),
        tokens=shard.doc_tokens(start, end),
        start=start,
        match_start=position - start,
        match_end=match_end - start,
        doc_start=doc_start,
        doc_end=doc_end,
    )


def document(engine: Engine, doc: int, start: int = 0, end: int | None = None) -> DocumentView:
    """A document's tokens [start, end), both clipped to the document."""
    shard, local = engine.index.locate(doc)
    doc_start, doc_end = shard.doc_span(local)
    length = doc_end - doc_start
    lo = min(max(start, 0), length)
    hi = max(lo, min(length if end is None else end, length))
    return DocumentView(
        doc=doc,
        shard=engine.index.shards.index(shard),
        local_doc=local,
        meta=shard.doc_meta(local),
        length=length,
        start=lo,
        end=hi,
        tokens=shard.doc_tokens(doc_start + lo, doc_start + hi),
    )


def search_documents(
    engine: Engine, ids: np.ndarray, offset: int, limit: int, context: int
) -> DocumentHits:
    """One page of an n-gram's occurrences, in (shard, rank) order, decoded with context."""
    if len(ids) == 0:
        raise QueryError("document search needs a non-empty query")
    non_negative(offset=offset, limit=limit, window=context)
    found = engine.find(ids)
    segments = [(s, lo, hi) for s, (lo, hi) in enumerate(found.ranges)]
    # Clipped to the matches first: an offset past them (any size) is an empty page.
    first = min(offset, found.count)
    page = np.arange(first, min(first + limit, found.count), dtype=np.int64)
    occs = occurrences_at(engine, pick_ranks(segments, page))
    check_matches(engine, occs, ids)
    hits = tuple(decoded_hit(engine, occ, len(ids), context) for occ in occs)
    return DocumentHits(count=found.count, offset=offset, limit=limit, hits=hits)


def decoded_hit(engine: Engine, occ: Occurrence, length: int, context: int) -> Hit:
    win = window(engine, occ.shard, occ.position, length, context, context)
    text, offsets = engine.tokenizer.decode_with_offsets(win.tokens)
    return Hit(
        doc=occ.doc,
        shard=occ.shard,
        position=occ.position,
        meta=engine.index.shards[occ.shard].doc_meta(occ.local_doc),
        text=text,
        match_char_start=offsets[win.match_start],
        match_char_end=offsets[win.match_end],
        tokens_before=win.match_start,
        tokens_after=len(win.tokens) - win.match_end,
    )


def clause_documents(
    engine: Engine, clause: Sequence[np.ndarray], cap: int, seed: int = 0
) -> tuple[set[int], bool]:
    """Global documents holding at least one of the clause's n-grams, and whether the
    clause had more than `cap` occurrences, so that only a seeded sample was read."""
    segments: list[tuple[int, int, int]] = []
    for ngram in clause:
        found = engine.find(ngram)
        segments.extend((s, lo, hi) for s, (lo, hi) in enumerate(found.ranges) if hi > lo)
    total = sum(hi - lo for _, lo, hi in segments)
    docs: set[int] = set()
    for shard_no, ranks in pick_ranks(segments, sample_indices(total, cap, seed)):
        shard = engine.index.shards[shard_no]
        local = shard.doc_of(shard.positions(ranks))
        offset = int(engine.index.doc_offsets[shard_no])
        docs.update(offset + int(d) for d in set(local.tolist()))
    return docs, total > cap


def cnf_search(
    engine: Engine,
    clauses: Sequence[Sequence[np.ndarray]],
    offset: int,
    limit: int,
    max_clause_freq: int,
) -> CnfHits:
    """Documents that hold, for every clause, at least one of its n-grams (AND of ORs),
    as infini-gram's CNF queries but within whole documents. A clause with more than
    `max_clause_freq` occurrences is read from a sample and `approx` is set."""
    return combine_clauses(
        clauses,
        offset,
        limit,
        max_clause_freq,
        lambda clause, cap: clause_documents(engine, clause, cap),
    )


ClauseDocuments = Callable[[Sequence[np.ndarray], int], tuple[set[int], bool]]


def combine_clauses(
    clauses: Sequence[Sequence[np.ndarray]],
    offset: int,
    limit: int,
    max_clause_freq: int,
    clause_docs: ClauseDocuments,
) -> CnfHits:
    """The documents in every clause's set (`clause_docs(clause, cap)`: the local
    engine's or a cluster's), after the argument checks; one page of them."""
    if not clauses or any(len(clause) == 0 for clause in clauses):
        raise QueryError("a CNF query needs at least one clause, each with an n-gram")
    if any(len(ngram) == 0 for clause in clauses for ngram in clause):
        raise QueryError("CNF n-grams must not be empty")
    non_negative(offset=offset, limit=limit)
    if max_clause_freq < 1:
        raise QueryError("max_clause_freq must be at least 1")
    matching: set[int] | None = None
    approx = False
    for clause in clauses:
        deadline.check()
        docs, sampled = clause_docs(clause, max_clause_freq)
        approx = approx or sampled
        matching = docs if matching is None else matching & docs
        if not matching:
            break  # later clauses cannot bring documents back
    found = sorted(matching or ())
    return CnfHits(count=len(found), approx=approx, documents=tuple(found[offset : offset + limit]))
