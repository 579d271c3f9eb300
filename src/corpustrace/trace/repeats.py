"""Repeated documents: retrieved documents with the same URL, or the same text, become one
card (the best ranked), with `repeats` and the ids of the others in `repeat_docs`.

Web corpora hold many copies of one page; OLMoTrace's panel would otherwise show the
same text several times. Only the documents retrieved for this trace are compared (a
copy never sampled is not counted). The same text means the same tokens, compared by a
hash of the whole document.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable

import numpy as np

from corpustrace.trace.rerank import highest_level
from corpustrace.trace.result import TracedDocument, TraceResult

MAX_LISTED = 20  # ids listed per card; `repeats` counts them all


def repeat_key(doc: TracedDocument, tokens: Callable[[int], np.ndarray]) -> tuple[str, str]:
    """("url", the URL) when the metadata has a non-empty one, else ("text", a hash)."""
    url = doc.meta.get("url")
    if isinstance(url, str) and url.strip():
        return ("url", url.strip())
    digest = hashlib.sha256(np.ascontiguousarray(tokens(doc.doc), dtype=np.int64).tobytes())
    return ("text", digest.hexdigest())


def fold_repeats(result: TraceResult, tokens: Callable[[int], np.ndarray]) -> TraceResult:
    """One card per group of repeats, in rank order; each card holds the spans of all."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, doc in enumerate(result.documents):
        groups.setdefault(repeat_key(doc, tokens), []).append(i)
    if len(groups) == len(result.documents):
        return result
    card_of: dict[int, int] = {}
    cards: list[TracedDocument] = []
    for members in sorted(groups.values(), key=lambda m: m[0]):
        first = result.documents[members[0]]
        held = sorted({s for i in members for s in result.documents[i].spans})
        ids = [result.documents[i].doc for i in members]
        cards.append(
            dataclasses.replace(first, spans=held, repeats=len(ids), repeat_docs=ids[:MAX_LISTED])
        )
        for i in members:
            card_of[i] = len(cards) - 1
    spans = [
        dataclasses.replace(span, documents=sorted({card_of[d] for d in span.documents}))
        for span in result.spans
    ]
    for span in spans:
        span.level = highest_level([cards[d].level for d in span.documents])
    highlights = [
        dataclasses.replace(h, level=highest_level([spans[s].level for s in h.spans]))
        for h in result.highlights
    ]
    return dataclasses.replace(result, spans=spans, highlights=highlights, documents=cards)
