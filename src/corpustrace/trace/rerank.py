"""Step 5 of OLMoTrace: rank documents by relevance and colour spans by level.

Liu et al., 2025, "OLMoTrace: Tracing Language Model Outputs Back to Trillions of
Training Tokens", step 5, scores each retrieved document's long context with BM25
(k1 = 1.5, b = 0.75) against prompt + " " + response, the corpus of BM25 being the
retrieved documents only; relevance = clip(bm25 / (0.18 * response characters), 0, 1);
"high" from 0.7, "medium" from 0.5, else "low". A span's level is the highest among its
documents, a highlight's the highest among its spans.

Three rankings (`TraceParams.ranking`), compared on the provenance benchmark
(docs/quality.md):
- `olmotrace`: exactly the above with rank_bm25's idf, which is negative for words in
  more than half of the retrieved documents, so a verbatim single source scores below
  zero and is "low".
- `bm25`: the same calibration with Lucene's non-negative idf.
- `coverage` (the default): relevance = the share of the response's non-space characters
  that lie inside spans found in the document; ties broken by BM25 (Lucene idf); "high"
  from COVERAGE_HIGH, "medium" from COVERAGE_MEDIUM. A document holding most of the
  response verbatim is "high", one sharing a common phrase "low".

Tokenisation for BM25: lower-cased text split on whitespace (`str.lower().split()`),
for documents and query alike, as OLMoTrace does.
"""

from __future__ import annotations

import numpy as np

from corpustrace.lexical.bm25 import bm25_scores as bm25_of_tokens
from corpustrace.trace.result import Highlight, Span, TracedDocument

RELEVANCE_SCALE = 0.18  # relevance = bm25 / (RELEVANCE_SCALE * response characters)
HIGH = 0.7
MEDIUM = 0.5
COVERAGE_HIGH = 0.5  # chosen on the provenance benchmark (docs/quality.md)
COVERAGE_MEDIUM = 0.2
LEVELS = ("low", "medium", "high")  # in increasing order
RANKINGS = ("coverage", "bm25", "olmotrace")


def bm25_tokens(text: str) -> list[str]:
    """Whitespace tokens for BM25, lower-cased."""
    return text.lower().split()


def bm25_scores(documents: list[str], query: str, idf: str = "rank_bm25") -> np.ndarray:
    """BM25 Okapi score of each document for the query, over these documents alone."""
    return bm25_of_tokens([bm25_tokens(d) for d in documents], bm25_tokens(query), idf=idf)


def relevance(score: float, response_chars: int) -> float:
    """clip(bm25 / (0.18 * response characters), 0, 1)."""
    if response_chars <= 0:
        return 0.0
    return float(np.clip(score / (RELEVANCE_SCALE * response_chars), 0.0, 1.0))


def level_of(value: float, high: float = HIGH, medium: float = MEDIUM) -> str:
    """'high' from `high` (0.7), 'medium' from `medium` (0.5), else 'low'."""
    if value >= high:
        return "high"
    if value >= medium:
        return "medium"
    return "low"


def span_coverage(
    response: str, intervals: list[tuple[int, int]], solid: np.ndarray | None = None
) -> float:
    """Share of the response's non-space characters inside the union of the intervals
    (`solid`: `solid_chars(response)`, when the caller scores many documents)."""
    if solid is None:
        solid = solid_chars(response)
    total = int(solid.sum())
    if not total:
        return 0.0
    covered = np.zeros(len(response), dtype=bool)
    for start, end in intervals:
        covered[max(start, 0) : max(end, 0)] = True
    return float((covered & solid).sum() / total)


def solid_chars(response: str) -> np.ndarray:
    """Which characters of the response are not white space."""
    return np.fromiter((not c.isspace() for c in response), dtype=bool, count=len(response))


def highest_level(levels: list[str]) -> str:
    """The highest of some levels ('low' when there are none)."""
    return max(levels, key=LEVELS.index, default="low")


def score_documents(
    documents: list[TracedDocument], spans: list[Span], prompt: str, response: str, ranking: str
) -> None:
    """Set bm25, relevance and level of every document under the named ranking."""
    if ranking not in RANKINGS:
        raise ValueError(f"ranking must be one of {', '.join(RANKINGS)}, got {ranking!r}")
    idf = "rank_bm25" if ranking == "olmotrace" else "lucene"
    scores = bm25_scores([d.context for d in documents], prompt + " " + response, idf=idf)
    solid = solid_chars(response) if ranking == "coverage" else None
    for document, score in zip(documents, scores.tolist(), strict=True):
        document.bm25 = float(score)
        if ranking == "coverage":
            intervals = [(spans[s].char_start, spans[s].char_end) for s in document.spans]
            document.relevance = span_coverage(response, intervals, solid)
            document.level = level_of(document.relevance, COVERAGE_HIGH, COVERAGE_MEDIUM)
        else:
            document.relevance = relevance(score, len(response))
            document.level = level_of(document.relevance)


def rank_key(document: TracedDocument, ranking: str) -> tuple[float, float, int]:
    """Sort key, best first: coverage then BM25, or BM25 alone; ties by document index."""
    first = -document.relevance if ranking == "coverage" else 0.0
    return first, -document.bm25, document.doc


def rerank(
    documents: list[TracedDocument],
    spans: list[Span],
    highlights: list[Highlight],
    prompt: str,
    response: str,
    ranking: str = "coverage",
) -> list[TracedDocument]:
    """Score and sort documents (best first), then set span and highlight levels."""
    score_documents(documents, spans, prompt, response, ranking)
    ranked = sorted(documents, key=lambda d: rank_key(d, ranking))
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
