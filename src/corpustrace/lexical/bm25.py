"""BM25 as small pure numpy functions (Robertson & Zaragoza, 2009, "The Probabilistic
Relevance Framework: BM25 and Beyond", eq. 3.15 for the term weight).

score(D, Q) = sum over query words q (repeats counted) of
    idf(q) * tf(q, D) * (k1 + 1) / (tf(q, D) + k1 * (1 - b + b * |D| / avgdl))

Two idf forms:
- `lucene` (the default): log(1 + (N - n + 0.5) / (n + 0.5)), never negative
  (Lucene's BM25Similarity, `idf()`; also bm25s' "lucene" variant).
- `rank_bm25`: OLMoTrace's library `rank_bm25.BM25Okapi`: log((N - n + 0.5) / (n + 0.5)),
  and a word whose idf is negative gets epsilon (0.25) times the mean idf of all words
  of the corpus instead, which is itself negative when most words are shared.
N is the number of documents, n the number holding the word.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

K1 = 1.5
B = 0.75
EPSILON = 0.25  # rank_bm25's floor: epsilon * mean idf
IDF_FORMS = ("lucene", "rank_bm25")
_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """Lower-cased runs of word characters: the tokens of the whole-corpus lexical index."""
    return _WORD.findall(text.lower())


def idf_lucene(n: np.ndarray, total: int) -> np.ndarray:
    """log(1 + (N - n + 0.5) / (n + 0.5)): positive for every n <= N."""
    n = np.asarray(n, dtype=np.float64)
    out: np.ndarray = np.log1p((total - n + 0.5) / (n + 0.5))
    return out


def idf_rank_bm25(n: np.ndarray, total: int, epsilon: float = EPSILON) -> np.ndarray:
    """rank_bm25's Okapi idf over the corpus vocabulary `n` (document frequency of every
    word of the corpus): log((N - n + 0.5) / (n + 0.5)), negatives set to epsilon * mean."""
    n = np.asarray(n, dtype=np.float64)
    raw = np.log(total - n + 0.5) - np.log(n + 0.5)
    if not len(raw):
        return raw
    floor = epsilon * float(raw.mean())
    out: np.ndarray = np.where(raw < 0, floor, raw)
    return out


def term_saturation(
    tf: np.ndarray, doc_len: np.ndarray, avgdl: float, k1: float = K1, b: float = B
) -> np.ndarray:
    """tf * (k1 + 1) / (tf + k1 * (1 - b + b * |D| / avgdl)), element-wise."""
    tf = np.asarray(tf, dtype=np.float64)
    norm = k1 * (1.0 - b + b * np.asarray(doc_len, dtype=np.float64) / max(avgdl, 1e-12))
    out: np.ndarray = tf * (k1 + 1.0) / (tf + norm)
    return out


def bm25_scores(
    documents: Sequence[Sequence[str]],
    query: Sequence[str],
    idf: str = "lucene",
    k1: float = K1,
    b: float = B,
) -> np.ndarray:
    """BM25 of each tokenized document for the tokenized query, over these documents alone.

    With no words in the corpus or the query every score is 0.
    """
    if idf not in IDF_FORMS:
        raise ValueError(f"idf must be one of {', '.join(IDF_FORMS)}, got {idf!r}")
    n_docs = len(documents)
    lengths = np.asarray([len(d) for d in documents], dtype=np.float64)
    if not n_docs or not lengths.sum() or not query:
        return np.zeros(n_docs, dtype=np.float64)
    vocab: dict[str, int] = {}
    counts = [Counter(d) for d in documents]
    for c in counts:
        for w in c:
            vocab.setdefault(w, len(vocab))
    df = np.zeros(len(vocab), dtype=np.float64)
    for c in counts:
        df[[vocab[w] for w in c]] += 1
    idfs = idf_lucene(df, n_docs) if idf == "lucene" else idf_rank_bm25(df, n_docs)
    avgdl = float(lengths.mean())
    scores = np.zeros(n_docs, dtype=np.float64)
    for q in query:
        if q not in vocab:
            continue  # tf is 0 in every document
        tf = np.asarray([c.get(q, 0) for c in counts], dtype=np.float64)
        scores += idfs[vocab[q]] * term_saturation(tf, lengths, avgdl, k1, b)
    return scores
