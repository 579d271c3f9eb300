"""What a trace returns. Field names are a public contract: the JSON API and CLI expose them.

Shaped after the output of OLMoTrace (Liu et al., 2025, "OLMoTrace: Tracing Language
Model Outputs Back to Trillions of Training Tokens"): spans of the response with their
corpus counts, highlights (overlapping spans merged), and the documents they come from,
each with snippets, a long context and a relevance level. Cross references are indices
into the lists of the same result (`Span.documents` into `documents`, and so on).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Span:
    """A maximal matching span: response tokens [start, end), characters [char_start, char_end)."""

    start: int
    end: int
    char_start: int
    char_end: int
    text: str
    count: int  # occurrences in the corpus
    unigram_logprob: float
    level: str = "low"  # highest level among its documents
    documents: list[int] = field(default_factory=list)  # indices into TraceResult.documents


@dataclass
class Highlight:
    """Overlapping spans merged into one highlighted stretch of the response."""

    char_start: int
    char_end: int
    start: int
    end: int
    text: str
    level: str
    spans: list[int]  # indices into TraceResult.spans, nested ones included


@dataclass
class Snippet:
    """A short window around one occurrence; text[char_start:char_end] is the span."""

    text: str
    span: int
    char_start: int
    char_end: int


@dataclass
class ContextSpan:
    """Where a span sits inside a document's long context."""

    span: int
    char_start: int
    char_end: int


@dataclass
class TracedDocument:
    """A corpus document holding one or more spans, with its relevance to the conversation."""

    doc: int  # global document index
    shard: int
    meta: dict[str, Any]
    bm25: float
    relevance: float  # clip(bm25 / (0.18 * response characters), 0, 1)
    level: str  # "high", "medium" or "low"
    spans: list[int]
    snippets: list[Snippet]
    context: str
    context_spans: list[ContextSpan]
    index: str = ""  # name of the index (training phase) holding the document
    repeats: int = 1  # retrieved documents folded into this one (same URL or same text)
    repeat_docs: list[int] = field(default_factory=list)  # their ids, this one first


@dataclass
class TraceResult:
    """The whole trace of one response (and its prompt)."""

    tokens: list[int]
    text: str
    prompt: str
    params: dict[str, Any]
    spans: list[Span]
    highlights: list[Highlight]
    documents: list[TracedDocument]
    timings_ms: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (dicts, lists, str, int, float, bool)."""
        return dataclasses.asdict(self)
