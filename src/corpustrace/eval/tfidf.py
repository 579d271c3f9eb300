"""TF-IDF cosine over a document list (Salton & Buckley, 1988; the smoothed idf of
scikit-learn's TfidfVectorizer: log((1 + N) / (1 + df)) + 1, raw term counts, L2 norm)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from corpustrace.lexical.bm25 import words


def smooth_idf(df: np.ndarray, total: int) -> np.ndarray:
    """log((1 + N) / (1 + df)) + 1."""
    out: np.ndarray = np.log((1.0 + total) / (1.0 + np.asarray(df, dtype=np.float64))) + 1.0
    return out


class TfidfCosine:
    """Postings of L2-normalised TF-IDF document vectors; cosine with a query's vector."""

    def __init__(self, texts: Sequence[str]) -> None:
        counts = [Counter(words(t)) for t in texts]
        self.vocab: dict[str, int] = {}
        for c in counts:
            for w in c:
                self.vocab.setdefault(w, len(self.vocab))
        self.n_docs = len(texts)
        df = np.zeros(len(self.vocab))
        for c in counts:
            df[[self.vocab[w] for w in c]] += 1
        self.idf = smooth_idf(df, self.n_docs)
        self.postings: dict[int, list[tuple[int, float]]] = {}
        for doc, c in enumerate(counts):
            weights = {self.vocab[w]: n * self.idf[self.vocab[w]] for w, n in c.items()}
            norm = math.sqrt(sum(v * v for v in weights.values())) or 1.0
            for t, v in weights.items():
                self.postings.setdefault(t, []).append((doc, v / norm))

    def scores(self, query: str) -> np.ndarray:
        """Cosine of every document with the query (0 for a query of unknown words)."""
        q = {self.vocab[w]: n for w, n in Counter(words(query)).items() if w in self.vocab}
        weights = {t: n * self.idf[t] for t, n in q.items()}
        norm = math.sqrt(sum(v * v for v in weights.values()))
        out = np.zeros(self.n_docs)
        if not norm:
            return out
        for t, v in weights.items():
            for doc, dv in self.postings[t]:
                out[doc] += dv * v / norm
        return out

    def rank(self, query: str, limit: int) -> list[int]:
        """Documents with a positive cosine, best first (ties by index), at most `limit`."""
        s = self.scores(query)
        order = np.lexsort((np.arange(self.n_docs), -s))
        return [int(d) for d in order[:limit] if s[d] > 0]
