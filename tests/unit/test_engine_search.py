"""Suffix-array search (counts, ranges, longest prefixes) against brute-force scanning."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from brute import (
    Brute,
    Corpus,
    all_ngrams,
    build_engine,
    make_corpora,
    random_queries,
    scratch_dir,
)

from corpustrace.engine.search import (
    compare_suffixes,
    first_token_bounds,
    insertion_lcps,
    insertion_ranks,
    query_batch,
    sa_range_one,
    sa_ranges,
)
from corpustrace.errors import QueryError
from corpustrace.tokenizer import Tokenizer
from corpustrace.tokenizer_load import load_tokenizer

N_CORPORA = 32

TEXT = """The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs.
Suffix arrays list every suffix of a text in sorted order, so all occurrences of a
pattern sit next to each other. The quick brown fox jumps again.
Ünïcödé text: naïve café, Straße, 東京, Ελληνικά, emoji 🦊 and 🐶 — all as UTF-8 bytes.
"""


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return load_tokenizer("bytes")


@pytest.fixture(scope="module")
def corpora(tokenizer: Tokenizer) -> Iterator[list[Corpus]]:
    with scratch_dir() as root:
        out = make_corpora(root, tokenizer, N_CORPORA, seed=1234)
        yield out
        for _, _, engine in out:
            engine.close()


def naive_suffix_array(tokens: list[int]) -> list[int]:
    return sorted(range(len(tokens)), key=lambda p: tokens[p:])


def test_suffix_arrays_are_sorted_like_a_naive_sort(
    corpora: list[Corpus],
) -> None:
    shards = [s for _, _, engine in corpora[:20] for s in engine.index.shards]
    assert len(shards) > 20
    for shard in shards:
        tokens = np.asarray(shard.tokens).tolist()
        ranks = np.arange(shard.n_tokens)
        assert shard.positions(ranks).tolist() == naive_suffix_array(tokens)


def test_first_token_bounds_hold_exactly_the_suffixes_of_each_token(
    corpora: list[Corpus],
) -> None:
    """Shard.token_starts (running sum of the shard's unigram) against a naive suffix
    array: the ranks of every real token, the separators after them."""
    shards = [s for _, _, engine in corpora[:12] for s in engine.index.shards]
    for shard in shards:
        tokens = np.asarray(shard.tokens).tolist()
        firsts = [tokens[p] for p in naive_suffix_array(tokens)]
        starts = shard.token_starts.tolist()
        assert len(starts) == shard.id_limit + 1
        for t in range(shard.id_limit):
            assert firsts[starts[t] : starts[t + 1]] == [t] * tokens.count(t)
        assert all(f >= shard.id_limit for f in firsts[starts[-1] :])
        real = next(t for t in tokens if t < shard.id_limit)
        queries = [[], [0], [real], [shard.id_limit - 1, 0]]
        flat, qstarts, lens = query_batch(queries)
        lo, hi = first_token_bounds(shard.token_starts, shard.n_tokens, flat, qstarts, lens)
        assert (lo[0], hi[0]) == (0, shard.n_tokens)
        for j, q in enumerate(queries[1:], 1):
            assert (lo[j], hi[j]) == (starts[q[0]], starts[q[0] + 1])


def test_search_functions_on_raw_arrays() -> None:
    """search.py alone, on arrays without separators, where queries can sort past the end."""
    rng = np.random.default_rng(7)
    for _ in range(20):
        tokens = rng.integers(0, 4, size=int(rng.integers(1, 60))).astype(np.uint16)
        sa = np.array(naive_suffix_array(tokens.tolist()), dtype=np.int64)
        suffixes = [tokens[p:].tolist() for p in sa]
        queries = [rng.integers(0, 5, size=int(rng.integers(1, 8))).tolist() for _ in range(40)]
        queries += [suffixes[0], suffixes[-1], [*suffixes[-1], 4], [4] * 3, [0] * 70]
        flat, starts, lens = query_batch(queries)
        lo, hi = sa_ranges(tokens, sa.__getitem__, len(tokens), flat, starts, lens)
        ranks = insertion_ranks(tokens, sa.__getitem__, len(tokens), flat, starts, lens)
        lcps = insertion_lcps(tokens, sa.__getitem__, len(tokens), flat, starts, lens)
        for j, q in enumerate(queries):
            matching = [r for r, s in enumerate(suffixes) if s[: len(q)] == q]
            assert (lo[j], hi[j]) == ((matching[0], matching[-1] + 1) if matching else (lo[j],) * 2)
            assert ranks[j] == sum(s < q for s in suffixes)
            assert lcps[j] == max(common_prefix(s, q) for s in suffixes)
            assert sa_range_one(tokens, sa.__getitem__, 0, len(tokens), q) == (lo[j], hi[j])
        assert ranks[-3] == len(tokens) and ranks[len(queries) - 5] == 0


def test_compare_suffixes_gives_lcp_and_order() -> None:
    rng = np.random.default_rng(3)
    tokens = rng.integers(0, 3, size=300).astype(np.uint8)
    queries = [rng.integers(0, 3, size=int(rng.integers(0, 40))).tolist() for _ in range(200)]
    positions = rng.integers(0, 300, size=200)
    flat, starts, lens = query_batch(queries)
    lcp, sign = compare_suffixes(tokens, positions, flat, starts, lens, np.zeros(200, np.int64))
    for j, (p, q) in enumerate(zip(positions, queries, strict=True)):
        suffix = tokens[p:].tolist()
        assert lcp[j] == common_prefix(suffix, q)
        expected = 0 if suffix[: len(q)] == q else (-1 if suffix < q else 1)
        assert sign[j] == expected


def common_prefix(a: list[int], b: list[int]) -> int:
    k = 0
    while k < min(len(a), len(b)) and a[k] == b[k]:
        k += 1
    return k


def test_counts_match_brute_force(corpora: list[Corpus]) -> None:
    rng = np.random.default_rng(99)
    for docs, brute, engine in corpora:
        queries = all_ngrams(docs, 4) + random_queries(rng, docs, 60)
        expected = [brute.count(q) for q in queries]
        assert engine.count_many(queries).tolist() == expected
        # One query at a time takes the scalar binary search; batches the vectorised one.
        singles = [engine.find(q) for q in queries]
        assert [f.count for f in singles] == expected
        assert [f.ranges for f in singles] == [f.ranges for f in engine.find_many(queries)]
        for q, want in list(zip(queries, expected, strict=True))[:: len(queries) // 4]:
            found = engine.find(q)
            assert found.count == want == engine.count(np.array(q, dtype=np.uint8))
            assert len(found.ranges) == len(engine.index.shards)
            for shard, (lo, hi) in zip(engine.index.shards, found.ranges, strict=True):
                for pos in shard.positions(np.arange(lo, hi)):
                    assert np.asarray(shard.tokens[pos : pos + len(q)]).tolist() == q


def test_longest_prefixes_match_brute_force(
    corpora: list[Corpus],
) -> None:
    rng = np.random.default_rng(5)
    for docs, brute, engine in corpora:
        for q in random_queries(rng, docs, 6):
            text = q + random_queries(rng, docs, 1)[0] + q[::-1]
            assert engine.longest_prefixes(text).tolist() == brute.longest_prefixes(text)


def test_first_and_last_ranks_are_searched(
    corpora: list[Corpus],
) -> None:
    """Queries equal to the smallest and largest real suffix of each shard, and just past
    the largest one, insert at rank 0 and at the last real rank."""
    hit_first = hit_last = 0
    for _, brute, engine in corpora:
        for shard, arrays in zip(engine.index.shards, engine.shards, strict=True):
            if arrays.real == 0:
                continue  # a shard of empty documents only
            queries = []
            for rank in (0, arrays.real - 1):
                pos = shard.position(rank)
                end = shard.doc_span(int(shard.doc_of(pos)))[1]
                suffix = np.asarray(shard.tokens[pos:end]).tolist()
                queries += [suffix, [*suffix, 254], [*suffix[:-1], 254]]
            flat, starts, lens = query_batch(queries)
            ranks = insertion_ranks(arrays.tokens, arrays.positions, arrays.n, flat, starts, lens)
            hit_first += int(ranks[0] == 0)
            hit_last += int(np.any(ranks >= arrays.real - 1))
            assert engine.count_many(queries).tolist() == [brute.count(q) for q in queries]
            for q in (queries[0], queries[4]):
                assert engine.longest_prefixes(q).tolist() == brute.longest_prefixes(q)
    assert hit_first > 20 and hit_last > 20


def test_span_in_every_shard_and_query_longer_than_any_document(
    tmp_path: Path, tokenizer: Tokenizer
) -> None:
    span = [5, 6, 7]
    docs = [[1, *span, 2], [*span], [3, 3, *span, *span], [9, *span], [*span, 1]]
    engine = build_engine(tmp_path, tokenizer, docs, shard_tokens=6)
    found = engine.find(span)
    assert len(found.ranges) >= 4
    assert all(hi > lo for lo, hi in found.ranges)
    assert found.count == Brute(docs).count(span) == 6
    longest = max(len(d) for d in docs)
    too_long = [3, 3, *span, *span, 1]
    assert len(too_long) > longest
    assert engine.count(too_long) == 0
    assert engine.longest_prefixes(too_long).tolist() == Brute(docs).longest_prefixes(too_long)


def test_real_text_with_unicode(tmp_path: Path, tokenizer: Tokenizer) -> None:
    docs = [list(p.encode()) for p in TEXT.split("\n") if p] * 2 + [list(TEXT.encode())]
    engine = build_engine(tmp_path, tokenizer, docs, shard_tokens=200)
    brute = Brute(docs)
    ngrams = all_ngrams(docs, 5)
    assert engine.count_many(ngrams).tolist() == [brute.count(g) for g in ngrams]
    response = list("The quick brown café fox sleeps over 東京 🦊 arrays.".encode())
    assert engine.longest_prefixes(response).tolist() == brute.longest_prefixes(response)
    assert engine.count(list(b"The quick brown fox")) == 6
    assert engine.count(list("Straße".encode())) == 3


def test_query_validation_and_the_empty_query(
    corpora: list[Corpus],
) -> None:
    _, brute, engine = corpora[0]
    for bad in ([255], [1, 256], [-1], [1.5], [[1, 2]]):
        with pytest.raises(QueryError):
            engine.count(bad)
    with pytest.raises(QueryError):
        engine.longest_prefixes([3, 255])
    assert engine.count([]) == brute.total_tokens == engine.total_tokens
    assert engine.count_many([[], [0]]).tolist() == [brute.total_tokens, brute.count([0])]
    assert engine.longest_prefixes([]).tolist() == []
