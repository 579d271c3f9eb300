"""The trace pipeline: OLMoTrace's five steps, timed one by one.

Liu et al., 2025, "OLMoTrace: Tracing Language Model Outputs Back to Trillions of
Training Tokens". The response is tokenized with the index tokenizer (no special
tokens); then (1) maximal matching spans, (2) keep the least likely
ceil(span_density * L), (3) sample documents and decode their text, (4) merge
overlapping spans and same-document occurrences, (5) BM25 rerank and colour levels.
With span_density = 1, no delimiters, word_boundaries off and min_span_length = 1, the
spans are exactly the maximal matching spans of the response.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from corpustrace import deadline as deadlines
from corpustrace.deadline import Deadline
from corpustrace.errors import QueryError
from corpustrace.tokenizer import check_text
from corpustrace.trace.documents import sample_hits, snippet_of
from corpustrace.trace.filter import lowest_scoring, spans_to_keep, unigram_logprob
from corpustrace.trace.merge import merge_documents, merge_highlights
from corpustrace.trace.params import TraceParams
from corpustrace.trace.rerank import rerank
from corpustrace.trace.result import Span, TraceResult
from corpustrace.trace.spans import SpanCandidate, maximal_spans

if TYPE_CHECKING:
    from corpustrace.engine.protocol import SearchEngine


class _Laps:
    """Milliseconds spent in each named step, plus the total."""

    def __init__(self) -> None:
        self.began = self.last = time.perf_counter()
        self.ms: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.ms[name] = round((now - self.last) * 1000.0, 3)
        self.last = now

    def done(self) -> dict[str, float]:
        self.ms["total"] = round((time.perf_counter() - self.began) * 1000.0, 3)
        return self.ms


def find_spans(
    engine: SearchEngine,
    ids: np.ndarray,
    response: str,
    offsets: Sequence[tuple[int, int]],
    params: TraceParams,
) -> list[SpanCandidate]:
    """Step 1 over the engine: longest prefixes of every suffix, then the span rules."""
    if not len(ids):
        return []
    longest = np.asarray(engine.longest_prefixes(ids), dtype=np.int64)
    return maximal_spans(ids, response, offsets, longest, engine.count_many, params)


def keep_least_likely(
    engine: SearchEngine,
    ids: np.ndarray,
    response: str,
    offsets: Sequence[tuple[int, int]],
    candidates: list[SpanCandidate],
    params: TraceParams,
) -> list[Span]:
    """Step 2: the K lowest unigram log-probability spans, in order of position."""
    unigram, total = engine.index.unigram, int(engine.total_tokens)
    scores = [unigram_logprob(ids[c.start : c.end], unigram, total) for c in candidates]
    spans = []
    for index in lowest_scoring(scores, spans_to_keep(len(ids), params.span_density)):
        c = candidates[index]
        char_start, char_end = offsets[c.start][0], offsets[c.end - 1][1]
        spans.append(
            Span(
                start=c.start,
                end=c.end,
                char_start=char_start,
                char_end=char_end,
                text=response[char_start:char_end],
                count=c.count,
                unigram_logprob=scores[index],
            )
        )
    return spans


def trace(
    engine: SearchEngine,
    response: str,
    prompt: str = "",
    params: TraceParams | None = None,
    deadline: Deadline | None = None,
) -> TraceResult:
    """Trace `response` (and the `prompt` it answered) back to the engine's corpus.

    With a `deadline`, the work stops soon after it passes (checked between the steps and
    inside the long loops of the engine and of steps 3 and 4): DeadlineExceeded.
    """
    if not isinstance(response, str) or not isinstance(prompt, str):
        raise QueryError("response and prompt must be strings")
    check_text(response, "response")
    check_text(prompt, "prompt")  # tokenized by nothing here, but echoed and reranked
    params = params if params is not None else TraceParams()
    with deadlines.active(deadline if deadline is not None else deadlines.current()):
        return _trace(engine, response, prompt, params)


def _trace(engine: SearchEngine, response: str, prompt: str, params: TraceParams) -> TraceResult:
    laps = _Laps()
    tokenizer = engine.tokenizer
    ids, offsets = tokenizer.encode_with_offsets(response)
    laps.lap("tokenize")
    deadlines.check()
    candidates = find_spans(engine, ids, response, offsets, params)
    laps.lap("spans")
    deadlines.check()
    spans = keep_least_likely(engine, ids, response, offsets, candidates, params)
    laps.lap("filter")
    deadlines.check()
    span_ids = [ids[s.start : s.end] for s in spans]
    hits = sample_hits(engine, span_ids, params)
    snippets = [snippet_of(tokenizer, h, params.snippet_tokens) for h in hits]
    laps.lap("documents")
    deadlines.check()
    highlights = merge_highlights(spans, response)
    docs = list(dict.fromkeys(h.doc for h in hits))  # one batch call, not one per document
    metas = dict(zip(docs, engine.doc_metas(docs), strict=True))
    documents = merge_documents(
        tokenizer, hits, snippets, span_ids, metas.__getitem__, params.context_tokens
    )
    laps.lap("merge")
    deadlines.check()
    documents = rerank(documents, spans, highlights, prompt, response, params.ranking)
    laps.lap("rerank")
    return TraceResult(
        tokens=[int(t) for t in ids],
        text=response,
        prompt=prompt,
        params=params.to_dict(),
        spans=spans,
        highlights=highlights,
        documents=documents,
        timings_ms=laps.done(),
    )
