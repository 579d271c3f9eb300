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
from corpustrace.trace.result import Span, TracedDocument, TraceResult
from corpustrace.trace.spans import SpanCandidate, maximal_spans
from corpustrace.trace.takedown import Takedown

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
    takedown: Takedown | None = None,
) -> list[SpanCandidate]:
    """Step 1 over the engine: longest prefixes of every suffix, then the span rules
    (over the corpus without the taken-down documents, when there are any)."""
    if not len(ids):
        return []
    longest = np.asarray(engine.longest_prefixes(ids), dtype=np.int64)
    if not takedown:
        return maximal_spans(ids, response, offsets, longest, engine.count_many, params)
    longest = takedown.longest_prefixes(engine, ids, longest)
    count = takedown.count_many(engine)
    return maximal_spans(ids, response, offsets, longest, count, params)


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
    takedown: Takedown | None = None,
) -> TraceResult:
    """Trace `response` (and the `prompt` it answered) back to the engine's corpus.

    With a `deadline`, the work stops soon after it passes (checked between the steps and
    inside the long loops of the engine and of steps 3 and 4): DeadlineExceeded.
    With a `takedown`, its documents are out of the corpus for every step (takedown.py).
    """
    if not isinstance(response, str) or not isinstance(prompt, str):
        raise QueryError("response and prompt must be strings")
    check_text(response, "response")
    check_text(prompt, "prompt")  # tokenized by nothing here, but echoed and reranked
    params = params if params is not None else TraceParams()
    with deadlines.active(deadline if deadline is not None else deadlines.current()):
        return _trace(engine, response, prompt, params, takedown)


def tokenize_response(
    engine: SearchEngine, response: str, leading_space: bool
) -> tuple[np.ndarray, list[tuple[int, int]], int]:
    """(ids, character offsets into `response`, tokens covering only the added space).

    With `leading_space` and a response that does not start with white space, the text
    tokenized is " " + response: a model's answer starts a sentence, while in the corpus
    most words follow a space, and byte-level BPE vocabularies give " Marie" and "Marie"
    different ids. Offsets are moved back by the added character (clipped at 0), so every
    span still points into the response itself.
    """
    if not leading_space or not response or response[0].isspace():
        ids, offsets = engine.tokenizer.encode_with_offsets(response)
        return np.asarray(ids), list(offsets), 0
    ids, offsets = engine.tokenizer.encode_with_offsets(" " + response)
    moved = [(max(a - 1, 0), max(b - 1, 0)) for a, b in offsets]
    space_only = 0
    while space_only < len(moved) and moved[space_only][1] == 0:
        space_only += 1
    return np.asarray(ids), moved, space_only


def skip_added_space(documents: list[TracedDocument], with_space: list[bool]) -> None:
    """A span that starts with the added space matched " word" in the corpus: its marks in
    snippets and contexts start after that space, as the span does in the response."""
    if not any(with_space):
        return

    def starts_with_space(text: str, at: int) -> bool:
        return text[at : at + 1].isspace()

    for doc in documents:
        for snip in doc.snippets:
            if with_space[snip.span] and starts_with_space(snip.text, snip.char_start):
                snip.char_start += 1
        for mark in doc.context_spans:
            if with_space[mark.span] and starts_with_space(doc.context, mark.char_start):
                mark.char_start += 1


def _trace(
    engine: SearchEngine, response: str, prompt: str, params: TraceParams, takedown: Takedown | None
) -> TraceResult:
    laps = _Laps()
    tokenizer = engine.tokenizer
    ids, offsets, space_only = tokenize_response(engine, response, params.leading_space)
    added = len(ids) > 0 and params.leading_space and not response[:1].isspace()
    laps.lap("tokenize")
    deadlines.check()
    # A span made only of the added space is not part of the response.
    candidates = [
        c
        for c in find_spans(engine, ids, response, offsets, params, takedown)
        if c.end > space_only
    ]
    laps.lap("spans")
    deadlines.check()
    spans = keep_least_likely(engine, ids, response, offsets, candidates, params)
    laps.lap("filter")
    deadlines.check()
    span_ids = [ids[s.start : s.end] for s in spans]
    hits = sample_hits(engine, span_ids, params, takedown)
    snippets = [snippet_of(tokenizer, h, params.snippet_tokens) for h in hits]
    laps.lap("documents")
    deadlines.check()
    highlights = merge_highlights(spans, response)
    docs = list(dict.fromkeys(h.doc for h in hits))  # one batch call, not one per document
    metas = dict(zip(docs, engine.doc_metas(docs), strict=True))
    documents = merge_documents(
        tokenizer, hits, snippets, span_ids, metas.__getitem__, params.context_tokens
    )
    # Token 0 holds the added space (alone, or merged into " word" by a BPE).
    for traced in documents:
        traced.index = engine.index_name(traced.doc)
        traced.repeat_docs = [traced.doc]
    skip_added_space(documents, [added and s.start == 0 for s in spans])
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
