"""BM25 scoring functions against sums written out by hand, and rank_bm25 for fidelity."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from corpustrace.lexical.bm25 import (
    bm25_scores,
    idf_lucene,
    idf_rank_bm25,
    term_saturation,
    words,
)

DOCS = [["a", "b", "a"], ["b", "c"], ["c", "d", "d", "d"]]


def by_hand(docs: list[list[str]], query: list[str], idf_form: str) -> list[float]:
    """BM25 written as the textbook sum, one loop per symbol (k1 = 1.5, b = 0.75)."""
    k1, b, n = 1.5, 0.75, len(docs)
    avgdl = sum(len(d) for d in docs) / n
    vocab = sorted({w for d in docs for w in d})
    raw = {
        w: math.log((n - df + 0.5) / (df + 0.5))
        for w in vocab
        for df in [sum(w in d for d in docs)]
    }
    mean = sum(raw.values()) / len(raw)
    out = []
    for d in docs:
        total = 0.0
        for q in query:
            if q not in raw:
                continue
            df = sum(q in e for e in docs)
            if idf_form == "lucene":
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            else:
                idf = raw[q] if raw[q] >= 0 else 0.25 * mean
            tf = d.count(q)
            total += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avgdl))
        out.append(total)
    return out


@pytest.mark.parametrize("form", ["lucene", "rank_bm25"])
def test_bm25_equals_the_hand_written_sum(form: str) -> None:
    for query in (["a"], ["d", "a"], ["b", "b", "zz"], ["c"]):
        assert np.allclose(bm25_scores(DOCS, query, idf=form), by_hand(DOCS, query, form))


def test_hand_computed_fixture() -> None:
    # N = 3, "a" in 1 document: lucene idf = log(1 + 2.5 / 1.5); doc 0 has tf 2, |D| = 3,
    # avgdl = 3: weight = 2 * 2.5 / (2 + 1.5) = 10 / 7.
    expected = math.log(1 + 2.5 / 1.5) * 10 / 7
    assert bm25_scores(DOCS, ["a"])[0] == pytest.approx(expected)
    assert bm25_scores(DOCS, ["a"])[1:].tolist() == [0.0, 0.0]


def test_rank_bm25_form_matches_the_library_on_random_corpora() -> None:
    rng = random.Random(7)
    for _ in range(30):
        docs = [[rng.choice("abcdefg") for _ in range(rng.randint(1, 12))] for _ in range(5)]
        query = [rng.choice("abcdefgh") for _ in range(rng.randint(1, 6))]
        expected = BM25Okapi(docs, k1=1.5, b=0.75).get_scores(query)
        assert np.allclose(bm25_scores(docs, query, idf="rank_bm25"), expected)
        assert np.allclose(bm25_scores(docs, query, idf="lucene"), by_hand(docs, query, "lucene"))


def test_lucene_idf_is_never_negative_and_rank_bm25_can_be() -> None:
    df = np.arange(0, 11)
    assert np.all(idf_lucene(df, 10) > 0)
    # One document holding every word: rank_bm25's idf and its floor are both negative.
    assert np.all(idf_rank_bm25(np.asarray([1, 1]), 1) < 0)
    single = [["everest", "is", "high"]]
    assert bm25_scores(single, ["everest", "is", "high"], idf="rank_bm25")[0] < 0
    assert bm25_scores(single, ["everest", "is", "high"], idf="lucene")[0] > 0
    assert idf_rank_bm25(np.zeros(0), 3).tolist() == []


def test_saturation_edges_and_empty_inputs() -> None:
    assert term_saturation(np.asarray([0.0]), np.asarray([5.0]), 5.0).tolist() == [0.0]
    assert term_saturation(np.asarray([1.0]), np.asarray([5.0]), 5.0)[0] == pytest.approx(1.0)
    assert bm25_scores([[], []], ["a"]).tolist() == [0.0, 0.0]
    assert bm25_scores([["a"]], []).tolist() == [0.0]
    assert bm25_scores([], ["a"]).tolist() == []
    with pytest.raises(ValueError, match="idf"):
        bm25_scores(DOCS, ["a"], idf="nope")


def test_words_lowercase_and_drop_punctuation() -> None:
    assert words("Mount Everest, the HIGHEST (8,849 m).") == [
        "mount",
        "everest",
        "the",
        "highest",
        "8",
        "849",
        "m",
    ]
