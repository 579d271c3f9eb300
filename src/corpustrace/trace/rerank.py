"""Step 5 of OLMoTrace: rank documents by BM25 relevance and colour spans by level.

Liu et al., 2025, "OLMoTrace: Tracing Language Model Outputs Back to Trillions of
Training Tokens", step 5. BM25 Okapi (k1 = 1.5, b = 0.75; Robertson et al.,
1994, as implemented by `rank_bm25.BM25Okapi`, whose idf floor is epsilon = 0.25 times
the mean idf) scores each retrieved document's long context against the query
prompt + " " + response, where the corpus of BM25 is the retrieved documents only.
relevance = clip(bm25 / (0.18 * response characters), 0, 1); "high" from 0.7,
"medium" from 0.5, else "low". A span's level is the highest among its documents, a
highlight's the highest among its spans.

Tokenisation for BM25: lower-cased text split on whitespace (`str.lower().split()`),
for documents and query alike, so that "The" at a sentence start matches "the".
"""

from __future__ import annotations

import numpy as np
from rank_bm25 import BM25Okapi

from corpustrace.trace.result import Highlight, Span, TracedDocument

K1 = 1.5
B = 0.75
RELEVANCE_SCALE = 0.18  # relevance = bm25 / (RELEVANCE_SCALE * response characters)
HIGH = 0.7
MEDIUM = 0.5
LEVELS = ("low", "medium", "high")  # in increasing order


def bm25_tokens(text: str) -> list[str]:
    """Whitespace tokens for BM25, lower-cased."""
    return text.lower().split()


def bm25_scores(documents: list[str], query: str) -> np.ndarray:
    """BM25 Okapi score of each document for the query, over these documents alone."""
    corpus = [bm25_tokens(d) for d in documents]
    words = bm25_tokens(query)
    if not words or not any(corpus):  # rank_bm25 divides by zero on a corpus without words
        return np.zeros(len(documents), dtype=np.float64)
    return np.asarray(BM25Okapi(corpus, k1=K1, b=B).get_scores(words), dtype=np.float64)


def relevance(score: float, response_chars: int) -> float:
    """clip(bm25 / (0.18 * response characters), 0, 1)."""
    if response_chars <= 0:
        return 0.0
    return float(np.clip(score / (RELEVANCE_SCALE * response_chars), 0.0, 1.0))


def level_of(value: float) -> str:
    """'high' from 0.7, 'medium' from 0.5, else 'low'."""
    if value >= HIGH:
        return "high"
    if value >= MEDIUM:
        return "medium"
    return "low"


def highest_level(levels: list[str]) -> str:
    """The highest of some levels ('low' when there are none)."""
    return max(levels, key=LEVELS.index, default="low")


def rerank(
    documents: list[TracedDocument],
    spans: list[Span],
    highlights: list[Highlight],
    prompt: str,
    response: str,
) -> list[TracedDocument]:
    """Score and sort documents (best first), then set span and highlight levels."""
    scores = bm25_scores([d.context for d in documents], prompt + " " + response)
    for document, score in zip(documents, scores.tolist(), strict=True):
        document.bm25 = float(score)
        document.relevance = relevance(score, len(response))
        document.level = level_of(document.relevance)
    ranked = sorted(documents, key=lambda d: (-d.bm25, d.doc))
    for span in spans:
        span.documents = []
    for index, document in enumerate(ranked):
        for s in document.spans:
            spans[s].documents.append(index)
    for span in spans:
        span.level = highest_level([ranked[d].level for d in span.documents])
    for highlight in highlights:
        highlight.level = highest_level([spans[s].level for s in highlight.spans])
    return ranked
