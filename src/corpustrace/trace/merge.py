"""Step 4 of OLMoTrace: merge overlapping spans and gather occurrences by document.

Liu et al., 2025, "OLMoTrace: Tracing Language Model Outputs Back to Trillions of
Training Tokens", step 4. Spans that overlap in the response (share at
least one token) become one highlight that lists every span in it; occurrences in the
same corpus document become one document that lists all its spans and snippets.

A document's long context is one stretch of the document. Each occurrence brings a
window of `context_tokens` each side; the windows that overlap or touch the first
span's window (transitively) are joined into one stretch, the others are left out: the
union when the windows overlap, the first span's window when they are apart. Every
occurrence of the document's spans inside that stretch is marked in `context_spans`,
sampled or not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from corpustrace import deadline
from corpustrace.tokenizer import Tokenizer
from corpustrace.trace.documents import Hit, around
from corpustrace.trace.result import ContextSpan, Highlight, Snippet, Span, TracedDocument


def overlap_groups(spans: list[Span]) -> list[list[int]]:
    """Indices of spans (sorted by start) grouped into runs that overlap one another."""
    groups: list[list[int]] = []
    furthest = -1
    for index, span in enumerate(spans):
        if groups and span.start < furthest:
            groups[-1].append(index)
        else:
            groups.append([index])
        furthest = max(furthest, span.end)
    return groups


def merge_highlights(spans: list[Span], response: str) -> list[Highlight]:
    """One highlight per group of overlapping spans; its level is set by the rerank step."""
    highlights = []
    for group in overlap_groups(spans):
        members = [spans[i] for i in group]
        char_start = min(s.char_start for s in members)
        char_end = max(s.char_end for s in members)
        highlights.append(
            Highlight(
                char_start=char_start,
                char_end=char_end,
                start=min(s.start for s in members),
                end=max(s.end for s in members),
                text=response[char_start:char_end],
                level="low",
                spans=group,
            )
        )
    return highlights


def context_interval(hit: Hit, each_side: int) -> tuple[int, int]:
    """Positions [lo, hi) of an occurrence's long context, in the window's coordinates."""
    w = hit.window
    lo, hi = around(len(w.tokens), w.match_start, w.match_end, each_side)
    return int(w.start) + lo, int(w.start) + hi


def stretch_around_first(intervals: list[tuple[int, int]]) -> tuple[int, int]:
    """The union of the intervals connected (overlapping or touching) to the first one."""
    lo, hi = intervals[0]
    grown = True
    while grown:
        grown = False
        for a, b in intervals:
            if a <= hi and b >= lo and (a < lo or b > hi):
                lo, hi, grown = min(lo, a), max(hi, b), True
    return lo, hi


def stitch(hits: list[Hit], lo: int, hi: int) -> np.ndarray:
    """Tokens of positions [lo, hi) copied from the windows that cover them."""
    out = np.zeros(hi - lo, dtype=hits[0].window.tokens.dtype)
    for hit in hits:
        w = hit.window
        a, b = max(lo, int(w.start)), min(hi, int(w.start) + len(w.tokens))
        if a < b:
            out[a - lo : b - lo] = w.tokens[a - int(w.start) : b - int(w.start)]
    return out


def find_all(haystack: np.ndarray, needle: np.ndarray) -> list[int]:
    """Start positions of every occurrence of `needle` in `haystack`, overlaps included.

    Memory stays O(len(haystack)) however often the needle repeats: the bytes are
    searched with `bytes.find` (linear per call) and only aligned matches are kept;
    nothing of size len(haystack) * len(needle) is ever built.
    """
    n = len(needle)
    if n == 0 or n > len(haystack):
        return []
    width = haystack.dtype.itemsize
    hay = np.ascontiguousarray(haystack).tobytes()
    key = np.ascontiguousarray(needle, dtype=haystack.dtype).tobytes()
    found = []
    at = hay.find(key)
    while at >= 0:
        if at % width == 0:
            found.append(at // width)
            at = hay.find(key, at + width)
        else:
            at = hay.find(key, at + width - at % width)
        if len(found) % 1024 == 0:
            deadline.check()
    return found


def document_context(
    tokenizer: Tokenizer, hits: list[Hit], span_ids: list[np.ndarray], each_side: int
) -> tuple[str, list[ContextSpan]]:
    """The long context of one document and every occurrence of its spans inside it."""
    lo, hi = stretch_around_first([context_interval(h, each_side) for h in hits])
    tokens = stitch(hits, lo, hi)
    text, starts = tokenizer.decode_with_offsets(tokens)
    marks = []
    for span in sorted({h.span for h in hits}):
        ids = np.asarray(span_ids[span], dtype=tokens.dtype)
        for at in find_all(tokens, ids):
            marks.append(ContextSpan(span, starts[at], starts[at + len(ids)]))
    marks.sort(key=lambda m: (m.char_start, m.char_end, m.span))
    return text, marks


def group_by_document(hits: list[Hit]) -> dict[int, list[int]]:
    """Indices of the hits of each global document, documents in order of first appearance."""
    groups: dict[int, list[int]] = {}
    for index, hit in enumerate(hits):
        groups.setdefault(hit.doc, []).append(index)
    return groups


def distinct_snippets(snippets: list[Snippet]) -> list[Snippet]:
    """Drop repeats: two spans of the response with the same text (say, a name said
    twice) can sample the same occurrence, which would show the same snippet twice."""
    seen: set[tuple[str, int, int]] = set()
    kept = []
    for snippet in snippets:
        key = (snippet.text, snippet.char_start, snippet.char_end)
        if key not in seen:
            seen.add(key)
            kept.append(snippet)
    return kept


def merge_documents(
    tokenizer: Tokenizer,
    hits: list[Hit],
    snippets: list[Snippet],
    span_ids: list[np.ndarray],
    doc_meta: Callable[[int], dict[str, Any]],
    context_tokens: int,
) -> list[TracedDocument]:
    """One TracedDocument per document; scores and levels are set by the rerank step."""
    documents = []
    for doc, members in group_by_document(hits).items():
        deadline.check()
        doc_hits = [hits[i] for i in members]
        context, marks = document_context(tokenizer, doc_hits, span_ids, context_tokens)
        documents.append(
            TracedDocument(
                doc=doc,
                shard=doc_hits[0].shard,
                meta=doc_meta(doc),
                bm25=0.0,
                relevance=0.0,
                level="low",
                spans=sorted({h.span for h in doc_hits}),
                snippets=distinct_snippets([snippets[i] for i in members]),
                context=context,
                context_spans=marks,
            )
        )
    return documents
