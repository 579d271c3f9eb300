"""The pure steps of the trace pipeline (OLMoTrace, Liu et al., 2025), each against a
slow, literal twin: spans, filter, merge, rerank, params."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from corpustrace.errors import QueryError
from corpustrace.trace import TraceParams
from corpustrace.trace.filter import (
    UNSEEN_LOGPROB,
    lowest_scoring,
    spans_to_keep,
    unigram_logprob,
)
from corpustrace.trace.merge import find_all, merge_highlights, overlap_groups, stretch_around_first
from corpustrace.trace.rerank import (
    bm25_scores,
    bm25_tokens,
    highest_level,
    level_of,
    relevance,
    rerank,
    span_coverage,
)
from corpustrace.trace.result import Span, TracedDocument
from corpustrace.trace.spans import (
    candidate_spans,
    delimiter_token_mask,
    keep_maximal,
    maximal_spans,
    word_boundary_mask,
)

EXACT = TraceParams(span_density=1, delimiters=(), word_boundaries=False, min_span_length=1)


# -- byte-level helpers and slow twins ------------------------------------------------


def byte_tokens(text: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """UTF-8 bytes as tokens, each with the character span it belongs to."""
    ids = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)
    offsets = [(ci, ci + 1) for ci, ch in enumerate(text) for _ in ch.encode("utf-8")]
    return ids, offsets


def slow_count(docs: list[list[int]], seq: list[int]) -> int:
    n = len(seq)
    return sum(doc[k : k + n] == seq for doc in docs for k in range(len(doc) - n + 1))


def slow_longest(docs: list[list[int]], ids: list[int]) -> np.ndarray:
    out = []
    for i in range(len(ids)):
        n = 0
        while i + n < len(ids) and slow_count(docs, ids[i : i + n + 1]):
            n += 1
        out.append(n)
    return np.asarray(out, dtype=np.int64)


def slow_step1(text: str, docs: list[list[int]], params: TraceParams) -> list[tuple[int, int, int]]:
    """Step 1 exactly as design.md words it, one start at a time."""
    ids, offsets = byte_tokens(text)
    seq, n_tok = ids.tolist(), len(ids)
    longest = slow_longest(docs, seq)

    def word_boundary(b: int) -> bool:
        if b in (0, n_tok):
            return True
        if offsets[b - 1] == offsets[b]:  # inside one character
            return False
        c = offsets[b][0]
        return not text[c - 1].isalnum() or not text[c].isalnum()

    kept, furthest = [], -1
    for i in range(n_tok):
        end = i + int(longest[i])
        for t in range(i, end):
            if text[offsets[t][0]] in params.delimiters:
                end = t + 1
                break
        if params.word_boundaries:
            if not word_boundary(i):
                continue
            while end > i and not word_boundary(end):
                end -= 1
            if end > i and not text[offsets[i][0] : offsets[end - 1][1]].strip():
                continue  # whitespace only
        if end - i < params.min_span_length or end <= furthest:
            continue
        count = slow_count(docs, seq[i:end])
        if not 0 < count <= params.max_frequency:
            continue
        kept.append((i, end, count))
        furthest = end
    return kept


def fast_step1(text: str, docs: list[list[int]], params: TraceParams) -> list[tuple[int, int, int]]:
    ids, offsets = byte_tokens(text)
    longest = slow_longest(docs, ids.tolist())

    def count_many(seqs: list[np.ndarray]) -> np.ndarray:
        return np.asarray([slow_count(docs, s.tolist()) for s in seqs], dtype=np.int64)

    spans = maximal_spans(ids, text, offsets, longest, count_many, params)
    return [(s.start, s.end, s.count) for s in spans]


def pairs(starts: np.ndarray, ends: np.ndarray) -> list[tuple[int, int]]:
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def random_case(rng: random.Random, alphabet: str) -> tuple[str, list[list[int]]]:
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(4)]
    pieces = []
    for _ in range(rng.randint(1, 4)):
        src = rng.choice(texts)
        a = rng.randint(0, len(src))
        pieces.append(src[a : a + rng.randint(0, 12)])
        pieces.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 3))))
    docs = [list(t.encode("utf-8")) for t in texts]
    return "".join(pieces), docs


# -- step 1: spans ----------------------------------------------------------------------


def test_word_boundaries_follow_isalnum() -> None:
    text = "ab, cd"
    _, offsets = byte_tokens(text)
    assert word_boundary_mask(text, offsets).tolist() == [
        True,
        False,
        True,
        True,
        True,
        False,
        True,
    ]


def test_boundary_inside_a_character_is_never_a_word_boundary() -> None:
    text = "a😀b"
    _, offsets = byte_tokens(text)
    mask = word_boundary_mask(text, offsets)
    # a | f0 9f 98 80 | b: boundaries 1 and 5 touch the emoji, 2..4 split it
    assert mask.tolist() == [True, True, False, False, False, True, True]


def test_word_boundaries_with_gaps_between_token_offsets() -> None:
    # Tokenizers that trim spaces from offsets leave gaps; a gap holds a non-word char.
    text = "hello world"
    assert word_boundary_mask(text, [(0, 5), (6, 11)]).tolist() == [True, True, True]
    assert word_boundary_mask("helloworld", [(0, 5), (5, 10)]).tolist() == [True, False, True]


def test_delimiter_marks_the_token_holding_its_end() -> None:
    text = "a.b\nc"
    _, offsets = byte_tokens(text)
    assert delimiter_token_mask(text, offsets, ("\n", ".")).tolist() == [
        False,
        True,
        False,
        True,
        False,
    ]
    text = "x。y"  # a 3-byte delimiter marks its last byte
    _, offsets = byte_tokens(text)
    assert delimiter_token_mask(text, offsets, ("。",)).tolist() == [
        False,
        False,
        False,
        True,
        False,
    ]
    merged = [(0, 2), (2, 4)]  # a token "b." and a token "cd"
    assert delimiter_token_mask("b.cd", merged, (".",)).tolist() == [True, False]


def test_span_is_cut_after_the_first_delimiter() -> None:
    longest = np.asarray([6, 5, 4, 3, 2, 1])
    delims = np.asarray([False, False, True, False, True, False])
    starts, ends = candidate_spans(longest, delims, np.ones(7, dtype=bool), 1)
    assert pairs(starts, ends) == [
        (0, 3),
        (1, 3),
        (2, 3),
        (3, 5),
        (4, 5),
        (5, 6),
    ]


def test_span_starts_at_a_word_start_and_ends_before_one() -> None:
    text = "the cat sat"
    _, offsets = byte_tokens(text)
    boundaries = word_boundary_mask(text, offsets)
    longest = np.asarray([10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1])  # "the cat sa" matches
    starts, ends = candidate_spans(longest, np.zeros(11, dtype=bool), boundaries, 1)
    # "the cat sa" is trimmed back to "the cat " (the boundary before "sat" is a word
    # start); starts inside "the", "cat" or "sat" are not allowed.
    assert pairs(starts, ends) == [(0, 8), (3, 8), (4, 8), (7, 8)]
    assert 1 not in starts.tolist()  # "he cat..." starts inside a word


def test_min_span_length_drops_short_spans() -> None:
    longest = np.asarray([2, 1, 3, 2, 1])
    starts, _ = candidate_spans(longest, np.zeros(5, dtype=bool), np.ones(6, dtype=bool), 2)
    assert starts.tolist() == [0, 2, 3]


def test_maximality_keeps_spans_ending_past_the_furthest_end() -> None:
    starts = np.asarray([0, 1, 2, 3])
    ends = np.asarray([3, 3, 5, 4])
    kept = keep_maximal(starts, ends, np.asarray([1, 1, 1, 1]), 10)
    assert [(s.start, s.end) for s in kept] == [(0, 3), (2, 5)]


def test_too_frequent_span_gives_way_to_the_next_one() -> None:
    starts, ends = np.asarray([0, 1, 2]), np.asarray([3, 3, 4])
    kept = keep_maximal(starts, ends, np.asarray([50, 2, 0]), 10)
    assert [(s.start, s.end, s.count) for s in kept] == [(1, 3, 2)]


def test_exact_maximal_spans_against_brute_force() -> None:
    """span_density 1, no delimiters, no word rule: exactly the maximal matching spans."""
    rng = random.Random(7)
    for _ in range(150):
        text, docs = random_case(rng, "abc")
        ids = list(text.encode())
        longest = slow_longest(docs, ids)
        intervals = [(i, i + int(n)) for i, n in enumerate(longest) if n]
        maximal = {
            (a, b)
            for a, b in intervals
            if not any(c <= a and b <= d and (c, d) != (a, b) for c, d in intervals)
        }
        got = fast_step1(text, docs, EXACT)
        assert {(s, e) for s, e, _ in got} == maximal, text
        assert all(c == slow_count(docs, ids[s:e]) for s, e, c in got)


@pytest.mark.parametrize("seed", range(4))
def test_step1_rules_against_a_literal_twin(seed: int) -> None:
    rng = random.Random(seed)
    options = [
        TraceParams(),
        TraceParams(delimiters=(".",), min_span_length=2),
        TraceParams(word_boundaries=False, max_frequency=2),
        TraceParams(delimiters=("\n",), min_span_length=3, max_frequency=3),
    ]
    for _ in range(60):
        text, docs = random_case(rng, "ab é.\n")
        params = rng.choice(options)
        assert fast_step1(text, docs, params) == slow_step1(text, docs, params), (text, params)


def test_step1_on_an_empty_response() -> None:
    assert fast_step1("", [[1, 2]], TraceParams()) == []


# -- step 2: filter ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "density", "k"),
    [
        (458, 0.05, 23),
        (60, 0.05, 3),
        (20, 0.05, 1),
        (1, 0.05, 1),
        (0, 0.05, 0),
        (7, 1.0, 7),
        (10, 0.3, 3),
    ],
)
def test_spans_to_keep_is_ceil_of_density_times_length(n: int, density: float, k: int) -> None:
    assert spans_to_keep(n, density) == k


def test_unigram_logprob_sums_log_frequencies() -> None:
    unigram = np.asarray([5, 0, 20], dtype=np.uint64)
    assert unigram_logprob(np.asarray([0, 2]), unigram, 100) == pytest.approx(
        math.log(0.05) + math.log(0.2)
    )
    assert unigram_logprob(np.asarray([1]), unigram, 100) == UNSEEN_LOGPROB
    assert unigram_logprob(np.asarray([2, 7]), unigram, 100) == pytest.approx(
        math.log(0.2) + UNSEEN_LOGPROB
    )


def test_lowest_scoring_keeps_k_then_orders_by_position() -> None:
    scores = [-5.0, -20.0, -1.0, -20.0, -30.0]
    assert lowest_scoring(scores, 3) == [1, 3, 4]
    assert lowest_scoring(scores, 2) == [1, 4]  # tie at -20: the earlier one wins
    assert lowest_scoring(scores, 10) == [0, 1, 2, 3, 4]
    assert lowest_scoring([], 3) == []


# -- step 4: merge ----------------------------------------------------------------------


def make_span(start: int, end: int) -> Span:
    return Span(start, end, start, end, "x" * (end - start), 1, -1.0)


def test_overlapping_spans_merge_with_nested_ones_kept() -> None:
    spans = [make_span(0, 4), make_span(2, 6), make_span(3, 5), make_span(6, 8), make_span(9, 12)]
    assert overlap_groups(spans) == [[0, 1, 2], [3], [4]]  # 6..8 touches 2..6: no overlap
    text = "abcdefghijklmn"
    highlights = merge_highlights(spans, text)
    assert [(h.start, h.end, h.text, h.spans) for h in highlights] == [
        (0, 6, "abcdef", [0, 1, 2]),
        (6, 8, "gh", [3]),
        (9, 12, "jkl", [4]),
    ]


def test_context_stretch_joins_windows_connected_to_the_first() -> None:
    assert stretch_around_first([(10, 20), (15, 30), (29, 40), (50, 60)]) == (10, 40)
    assert stretch_around_first([(50, 60), (10, 20)]) == (50, 60)
    assert stretch_around_first([(20, 30), (0, 20)]) == (0, 30)  # touching joins


def test_find_all_finds_overlapping_occurrences() -> None:
    hay = np.asarray([1, 1, 1, 2, 1, 1])
    assert find_all(hay, np.asarray([1, 1])) == [0, 1, 4]
    assert find_all(hay, np.asarray([3])) == []
    assert find_all(np.asarray([1]), np.asarray([1, 1])) == []


# -- step 5: rerank ---------------------------------------------------------------------


def test_bm25_scores_equal_rank_bm25() -> None:
    docs = ["The cat sat on the mat.", "A dog ran", "the cat and THE dog", "nothing here at all"]
    query = "Where did the cat sit? The cat sat on the mat"
    expected = BM25Okapi([d.lower().split() for d in docs], k1=1.5, b=0.75).get_scores(
        query.lower().split()
    )
    assert np.allclose(bm25_scores(docs, query), expected)
    assert bm25_tokens("A  b\nC") == ["a", "b", "c"]


def test_bm25_without_words_scores_zero() -> None:
    assert bm25_scores(["  ", "\n"], "a b").tolist() == [0.0, 0.0]
    assert bm25_scores(["a b"], "   ").tolist() == [0.0]
    assert bm25_scores([], "a").tolist() == []


def test_relevance_formula_and_levels() -> None:
    assert relevance(0.18 * 100 * 0.5, 100) == pytest.approx(0.5)
    assert relevance(1e9, 100) == 1.0
    assert relevance(-3.0, 100) == 0.0
    assert relevance(5.0, 0) == 0.0
    assert level_of(0.7) == "high"
    assert level_of(0.6999) == "medium"
    assert level_of(0.5) == "medium"
    assert level_of(0.4999) == "low"
    assert level_of(relevance(0.18 * 10 * 0.7, 10)) == "high"
    assert highest_level(["low", "high", "medium"]) == "high"
    assert highest_level([]) == "low"


def make_doc(doc: int, context: str, spans: list[int]) -> TracedDocument:
    return TracedDocument(doc, 0, {}, 0.0, 0.0, "low", spans, [], context, [])


def test_olmotrace_rerank_sorts_documents_and_sets_levels() -> None:
    response = "alpha beta gamma"
    spans = [make_span(0, 5), make_span(6, 10), make_span(11, 16)]
    highlights = merge_highlights(spans, response)
    docs = [
        make_doc(0, "unrelated words only here", [0]),
        make_doc(1, "alpha beta gamma alpha beta gamma", [0, 1]),
        make_doc(2, "zzz yyy xxx www", [2]),
    ]
    ranked = rerank(docs, spans, highlights, "", response, ranking="olmotrace")
    corpus = [
        d.split()
        for d in (
            "unrelated words only here",
            "alpha beta gamma alpha beta gamma",
            "zzz yyy xxx www",
        )
    ]
    raw = BM25Okapi(corpus, k1=1.5, b=0.75).get_scores(response.split())
    assert ranked[0].doc == 1
    assert ranked[0].bm25 == pytest.approx(raw[1])
    for d in ranked:
        assert d.relevance == pytest.approx(min(max(d.bm25 / (0.18 * len(response)), 0), 1))
        assert d.level == level_of(d.relevance)
    assert [d.bm25 for d in ranked] == sorted((d.bm25 for d in ranked), reverse=True)
    for i, span in enumerate(spans):
        assert span.documents == sorted(k for k, d in enumerate(ranked) if i in d.spans)
        assert span.level == highest_level([ranked[k].level for k in span.documents])
    assert all(h.level == highest_level([spans[s].level for s in h.spans]) for h in highlights)


def test_coverage_rerank_ranks_by_covered_characters_then_bm25() -> None:
    response = "alpha beta gamma delta"
    spans = [make_span(0, 5), make_span(6, 10), make_span(11, 16), make_span(17, 22)]
    highlights = merge_highlights(spans, response)
    docs = [
        make_doc(0, "alpha", [0]),  # 5 of 19 non-space characters
        make_doc(1, "alpha beta gamma delta", [0, 1, 2, 3]),  # all of them
        make_doc(2, "beta gamma and more", [1, 2]),  # 9 of 19
        make_doc(3, "delta alpha", [0]),  # same coverage as doc 0, higher BM25
    ]
    ranked = rerank(docs, spans, highlights, "", response)
    assert [d.doc for d in ranked] == [1, 2, 3, 0]
    assert [d.relevance for d in ranked] == pytest.approx([1.0, 9 / 19, 5 / 19, 5 / 19])
    assert [d.level for d in ranked] == ["high", "medium", "medium", "medium"]
    assert ranked[2].bm25 > ranked[3].bm25 > 0
    assert highlights[0].level == "high"


def test_span_coverage_counts_non_space_characters_once() -> None:
    assert span_coverage("ab cd", [(0, 2)]) == pytest.approx(0.5)
    assert span_coverage("ab cd", [(0, 5), (1, 4)]) == 1.0
    assert span_coverage("ab cd", []) == 0.0
    assert span_coverage("   ", [(0, 3)]) == 0.0


def test_unknown_ranking_is_refused() -> None:
    with pytest.raises(ValueError, match="ranking"):
        rerank([], [], [], "", "x", ranking="nope")
    with pytest.raises(QueryError, match="ranking"):
        TraceParams(ranking="nope")


# -- params -----------------------------------------------------------------------------


def test_params_defaults_are_olmotrace_production_settings() -> None:
    p = TraceParams()
    assert (p.span_density, p.delimiters, p.word_boundaries, p.min_span_length) == (
        0.05,
        ("\n", "."),
        True,
        1,
    )
    assert (p.max_frequency, p.max_documents_per_span, p.context_tokens, p.snippet_tokens) == (
        1_000_000,
        10,
        250,
        40,
    )
    assert p.to_dict()["delimiters"] == ["\n", "."]
    assert TraceParams.from_mapping({"delimiters": ["x"], "seed": 3}).delimiters == ("x",)


@pytest.mark.parametrize(
    "bad",
    [
        {"span_density": 0},
        {"span_density": 1.5},
        {"span_density": "0.1"},
        {"delimiters": "."},
        {"delimiters": [""]},
        {"delimiters": [1]},
        {"word_boundaries": 1},
        {"min_span_length": 0},
        {"max_frequency": 0},
        {"max_documents_per_span": -1},
        {"context_tokens": -1},
        {"snippet_tokens": 2.5},
        {"seed": -1},
        {"seed": True},
        {"nope": 1},
    ],
)
def test_bad_params_raise_query_error(bad: dict[str, object]) -> None:
    with pytest.raises(QueryError):
        TraceParams.from_mapping(bad)


def test_blank_spans_are_dropped_with_the_word_rule() -> None:
    from corpustrace.trace.spans import drop_blank

    text = "ab. cd"
    offsets = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6)]
    starts, ends = np.array([0, 3, 3, 4]), np.array([3, 4, 6, 6])
    kept = drop_blank(starts, ends, text, offsets)
    assert kept[0].tolist() == [0, 3, 4] and kept[1].tolist() == [3, 6, 6]


def test_repeated_snippets_of_one_document_are_shown_once() -> None:
    from corpustrace.trace.merge import distinct_snippets
    from corpustrace.trace.result import Snippet

    a, b, c = (
        Snippet("x the tower y", 0, 2, 11),
        Snippet("x the tower y", 3, 2, 11),
        Snippet("z", 1, 0, 1),
    )
    assert distinct_snippets([a, b, c]) == [a, c]
