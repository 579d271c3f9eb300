"""Step 3 of OLMoTrace: sample occurrences of each span and decode text around them.

Liu et al., 2025, "OLMoTrace: Tracing Language Model Outputs Back to Trillions of
Training Tokens", step 3. Each kept span gets up to
`max_documents_per_span` occurrences; when it has more, `SearchEngine.occurrence_windows` samples
suffix-array ranks with the seed first, so a frequent span never has all its
occurrences resolved or decoded. Each occurrence brings one token window wide enough
for both the long context (`context_tokens` each side) and the snippet
(`snippet_tokens` each side); both are cut from it and decoded with
`Tokenizer.decode_with_offsets`, which gives the span's exact character offsets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from corpustrace import deadline
from corpustrace.tokenizer import Tokenizer
from corpustrace.trace.params import TraceParams
from corpustrace.trace.result import Snippet

if TYPE_CHECKING:
    from corpustrace.engine.protocol import SearchEngine
    from corpustrace.engine.results import Window
    from corpustrace.trace.takedown import Takedown


@dataclass(frozen=True)
class Hit:
    """One sampled occurrence of span `span`, with the token window around it."""

    span: int  # index into the kept spans
    doc: int  # global document index
    shard: int
    position: int  # token position of the occurrence in its shard
    window: Window


def window_radius(params: TraceParams) -> int:
    """Tokens fetched each side of an occurrence: enough for the context and the snippet."""
    return max(params.context_tokens, params.snippet_tokens)


def sample_hits(
    engine: SearchEngine,
    span_ids: list[np.ndarray],
    params: TraceParams,
    takedown: Takedown | None = None,
) -> list[Hit]:
    """Up to `max_documents_per_span` occurrences per span, sampled before any decoding.

    Two batch calls (finds, then occurrences with their windows), so an engine whose
    shards are remote makes a few round trips per trace rather than a few per span.
    With a takedown, the sample is drawn larger by the most occurrences any span has
    inside taken-down documents, those are dropped and each span keeps `limit`: a
    seeded sample of its remaining occurrences, as large as they allow.
    """
    hits: list[Hit] = []
    if params.max_documents_per_span == 0 or not span_ids:
        return hits
    radius = window_radius(params)
    finds = engine.find_many(span_ids)
    deadline.check()
    limit = params.max_documents_per_span
    extra = int(takedown.occurrences(span_ids).max()) if takedown and span_ids else 0
    per_span = engine.occurrence_windows(span_ids, limit + extra, params.seed, finds, radius)
    if takedown:
        per_span = [[p for p in pairs if p[0].doc not in takedown][:limit] for pairs in per_span]
    for index, pairs in enumerate(per_span):
        span_hits = [
            Hit(index, int(o.doc), int(o.shard), int(o.position), window) for o, window in pairs
        ]
        hits.extend(sorted(span_hits, key=lambda h: (h.shard, h.position)))
    return hits


def around(length: int, match_start: int, match_end: int, each_side: int) -> tuple[int, int]:
    """Slice [lo, hi) of a window of `length` tokens: the match and `each_side` tokens around."""
    return max(0, match_start - each_side), min(length, match_end + each_side)


def decode_marked(
    tokenizer: Tokenizer, tokens: np.ndarray, mark_start: int, mark_end: int
) -> tuple[str, int, int]:
    """Decode tokens; return the text and the character offsets of tokens[mark_start:mark_end]."""
    text, starts = tokenizer.decode_with_offsets(tokens)
    return text, starts[mark_start], starts[mark_end]


def snippet_of(tokenizer: Tokenizer, hit: Hit, each_side: int) -> Snippet:
    """The snippet of one occurrence: `each_side` tokens either side, clipped to the document."""
    deadline.check()
    w = hit.window
    lo, hi = around(len(w.tokens), w.match_start, w.match_end, each_side)
    text, char_start, char_end = decode_marked(
        tokenizer, w.tokens[lo:hi], w.match_start - lo, w.match_end - lo
    )
    return Snippet(text=text, span=hit.span, char_start=char_start, char_end=char_end)
