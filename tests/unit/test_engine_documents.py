"""Occurrences, windows, documents, document search and CNF queries against brute force."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from brute import Brute, Corpus, build_engine, make_corpora, random_queries, scratch_dir

from corpustrace.engine import Engine, Occurrence
from corpustrace.errors import NotFound, QueryError
from corpustrace.tokenizer_load import load_tokenizer

PARAGRAPHS = [
    "Infini-gram counts any n-gram in a trillion-token corpus within milliseconds.",
    "OLMoTrace shows which spans of a model's answer appear verbatim in its training data.",
    "A suffix array lists every suffix in sorted order; equal prefixes sit together.",
    "Les données d'entraînement contiennent aussi du français, 日本語, and emoji 🙂.",
    "The training data holds the answer; the answer holds the training data.",
]


@pytest.fixture(scope="module")
def corpora() -> Iterator[list[Corpus]]:
    with scratch_dir() as root:
        out = make_corpora(root, load_tokenizer("bytes"), 30, seed=2024)
        yield out
        for _, _, engine in out:
            engine.close()


@pytest.fixture(scope="module")
def text_engine() -> Iterator[tuple[list[list[int]], Engine]]:
    docs = [list(p.encode()) for p in PARAGRAPHS] * 3
    with scratch_dir() as root:
        engine = build_engine(root, load_tokenizer("bytes"), docs, shard_tokens=300)
        yield docs, engine
        engine.close()


def where(engine: Engine, occ: Occurrence) -> tuple[int, int]:
    """(global document, offset inside it) of an occurrence."""
    start, _ = engine.index.shards[occ.shard].doc_span(occ.local_doc)
    return occ.doc, occ.position - start


def frequent_queries(rng: np.random.Generator, docs: list[list[int]]) -> list[list[int]]:
    symbols = sorted({t for d in docs for t in d})
    return [[s] for s in symbols] + random_queries(rng, docs, 8)


def test_occurrences_are_all_found_when_they_fit(corpora: list[Corpus]) -> None:
    rng = np.random.default_rng(1)
    for docs, brute, engine in corpora:
        for q in frequent_queries(rng, docs):
            occs = engine.occurrences(q, limit=10_000)
            assert sorted(where(engine, o) for o in occs) == sorted(brute.occurrences(q))
            assert [(o.shard, o.rank) for o in occs] == sorted((o.shard, o.rank) for o in occs)
            for o in occs:
                assert engine.index.global_doc(o.shard, o.local_doc) == o.doc
                assert docs[o.doc][where(engine, o)[1] :][: len(q)] == q


def test_occurrences_sample_ranks_with_a_seed(corpora: list[Corpus]) -> None:
    rng = np.random.default_rng(2)
    sampled = 0
    for docs, brute, engine in corpora:
        for q in frequent_queries(rng, docs):
            found = engine.find(q)
            limit = 3
            occs = engine.occurrences(q, limit=limit, seed=5)
            if found.count <= limit:
                assert len(occs) == found.count
                continue
            sampled += 1
            keys = [(o.shard, o.rank) for o in occs]
            assert len(occs) == limit and len(set(keys)) == limit and keys == sorted(keys)
            assert occs == engine.occurrences(q, limit=limit, seed=5, found=found)
            assert {where(engine, o) for o in occs} <= set(brute.occurrences(q))
            for o in occs:
                assert found.ranges[o.shard][0] <= o.rank < found.ranges[o.shard][1]
    assert sampled > 30
    docs, _, engine = max(corpora, key=lambda c: c[1].total_tokens)
    q = [max(((t, sum(d.count(t) for d in docs)) for d in docs for t in d), key=lambda x: x[1])[0]]
    seeds = {tuple((o.shard, o.rank) for o in engine.occurrences(q, 4, seed=s)) for s in range(6)}
    assert len(seeds) > 1  # different seeds give different samples
    with pytest.raises(QueryError):
        engine.occurrences(q, limit=-1)


def test_windows_stay_inside_their_document(corpora: list[Corpus]) -> None:
    rng = np.random.default_rng(3)
    for docs, _, engine in corpora:
        separator = engine.index.separator
        for q in frequent_queries(rng, docs)[:4]:
            for o in engine.occurrences(q, limit=20, seed=1):
                before, after = int(rng.integers(0, 8)), int(rng.integers(0, 8))
                win = engine.window(o.shard, o.position, len(q), before, after)
                doc = docs[win.doc]
                offset = o.position - win.doc_start
                assert win.doc == o.doc and win.doc_end - win.doc_start == len(doc)
                assert separator not in win.tokens.tolist()
                lo = max(0, offset - before)
                hi = min(len(doc), offset + len(q) + after)
                assert win.tokens.tolist() == doc[lo:hi]
                assert win.start == win.doc_start + lo
                assert win.tokens[win.match_start : win.match_end].tolist() == q


def test_window_rejects_bad_places(corpora: list[Corpus]) -> None:
    _, _, engine = corpora[0]
    shard = engine.index.shards[0]
    with pytest.raises(NotFound):
        engine.window(len(engine.index.shards), 1, 1, 0, 0)
    with pytest.raises(QueryError):
        engine.window(0, int(shard.docs[0]), 1, 0, 0)  # a separator
    with pytest.raises(QueryError):
        engine.window(0, shard.n_tokens, 1, 0, 0)
    with pytest.raises(QueryError):
        engine.window(0, 1, 1, -1, 0)


def test_documents_round_trip(corpora: list[Corpus]) -> None:
    for docs, _, engine in corpora:
        for d, doc in enumerate(docs):
            view = engine.document(d)
            assert view.tokens.tolist() == doc and view.length == len(doc)
            assert view.meta == engine.doc_meta(d) == {"id": f"doc-{d}", "n": d}
            assert engine.index.global_doc(view.shard, view.local_doc) == d
            part = engine.document(d, 1, 4)
            assert part.tokens.tolist() == doc[1:4]
            assert (part.start, part.end) == (min(1, len(doc)), min(4, len(doc)))
            assert engine.document(d, -5, 10**6).tokens.tolist() == doc
            assert engine.document(d, 5, 2).tokens.tolist() == []
        for bad in (-1, len(docs)):
            with pytest.raises(NotFound):
                engine.document(bad)
            with pytest.raises(NotFound):
                engine.doc_meta(bad)


def test_document_search_pages_cover_every_occurrence_once(corpora: list[Corpus]) -> None:
    rng = np.random.default_rng(4)
    for docs, brute, engine in corpora[:12]:
        for q in frequent_queries(rng, docs)[:3]:
            seen = []
            first = engine.search_documents(q, offset=0, limit=4, window=3)
            for offset in range(0, first.count + 4, 4):
                page = engine.search_documents(q, offset=offset, limit=4, window=3)
                assert page.count == first.count and page.offset == offset
                assert len(page.hits) == max(0, min(4, first.count - offset))
                seen += [(h.doc, h.position, h.shard) for h in page.hits]
            assert len(seen) == len(set(seen)) == brute.count(q)
            assert sorted(d for d, _, _ in seen) == sorted(d for d, _ in brute.occurrences(q))


def test_document_search_decodes_text_with_match_offsets(
    text_engine: tuple[list[list[int]], Engine],
) -> None:
    _, engine = text_engine
    for phrase, window in [("training data", 10), ("answer", 0), ("日本語", 4), ("🙂.", 50)]:
        hits = engine.search_documents(list(phrase.encode()), limit=100, window=window)
        assert hits.count == len(hits.hits) == 3 * sum(p.count(phrase) for p in PARAGRAPHS)
        for hit in hits.hits:
            assert hit.text[hit.match_char_start : hit.match_char_end] == phrase
            assert hit.meta["n"] == hit.doc
            assert hit.tokens_before <= window and hit.tokens_after <= window
            assert hit.text in PARAGRAPHS[hit.doc % len(PARAGRAPHS)]
    full = engine.search_documents(list(b"Infini-gram"), window=1000).hits[0]
    assert full.text == PARAGRAPHS[0] and full.match_char_start == 0
    with pytest.raises(QueryError):
        engine.search_documents([])
    with pytest.raises(QueryError):
        engine.search_documents([65], offset=-1)


def test_cnf_matches_brute_force(corpora: list[Corpus]) -> None:
    rng = np.random.default_rng(5)
    for docs, brute, engine in corpora:
        for _ in range(5):
            clauses = [random_queries(rng, docs, int(rng.integers(1, 4))) for _ in range(3)]
            clauses = clauses[: int(rng.integers(1, 4))]
            clauses = [[q[: int(rng.integers(1, 4))] for q in clause] for clause in clauses]
            expected = brute.cnf(clauses)
            result = engine.cnf_search(clauses, limit=1000)
            assert result.documents == tuple(expected) and result.count == len(expected)
            assert not result.approx
            page = engine.cnf_search(clauses, offset=1, limit=2)
            assert page.documents == tuple(expected[1:3]) and page.count == len(expected)


def test_cnf_samples_frequent_clauses(
    text_engine: tuple[list[list[int]], Engine],
) -> None:
    docs, engine = text_engine
    brute = Brute(docs)
    clauses = [[list(b"the")], [list(b"a"), list(b"data")]]
    exact = brute.cnf(clauses)
    assert engine.cnf_search(clauses, limit=100).documents == tuple(exact)
    capped = engine.cnf_search(clauses, limit=100, max_clause_freq=3)
    assert capped.approx and set(capped.documents) <= set(exact)
    bad_queries: list[list[list[list[int]]]] = [[], [[]], [[[]]], [[[255]]]]
    for bad in bad_queries:
        with pytest.raises(QueryError):
            engine.cnf_search(bad)


def test_occurrences_of_spans_spread_over_shards(tmp_path: Path) -> None:
    docs = [[1, 2, 3, 1, 2, 3], [3, 1, 2], [2, 1, 2], [1, 2]]
    engine = build_engine(tmp_path, load_tokenizer("bytes"), docs, shard_tokens=5)
    assert len(engine.index.shards) == 4
    occs = engine.occurrences([1, 2], limit=100)
    assert [o.doc for o in occs] == [0, 0, 1, 2, 3]
    assert [o.shard for o in occs] == [0, 0, 1, 2, 3]
    assert engine.cnf_search([[[3]], [[1, 2]]]).documents == (0, 1)
