"""The OLMoTrace pipeline (Liu et al., 2025): spans, filter, documents, merge, rerank."""

from corpustrace.trace.params import TraceParams
from corpustrace.trace.pipeline import trace
from corpustrace.trace.result import (
    ContextSpan,
    Highlight,
    Snippet,
    Span,
    TracedDocument,
    TraceResult,
)

__all__ = [
    "ContextSpan",
    "Highlight",
    "Snippet",
    "Span",
    "TraceParams",
    "TraceResult",
    "TracedDocument",
    "trace",
]
