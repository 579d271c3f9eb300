"""Parameters of the trace pipeline; the defaults are OLMoTrace's production settings.

Liu et al., 2025, "OLMoTrace: Tracing Language Model Outputs Back to Trillions of
Training Tokens": span density 0.05, spans cut at "\\n" and ".", spans start and end
on word boundaries, at most 10 documents per span, 250 tokens of context each side,
a snippet of 40 tokens each side. The one departure is the default `ranking`
(`coverage`; `olmotrace` restores OLMoTrace's rank_bm25 rerank), chosen on the
provenance benchmark (docs/quality.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from corpustrace.errors import LimitExceeded, QueryError
from corpustrace.tokenizer import check_text
from corpustrace.trace.rerank import RANKINGS

# Library-wide bounds on what one trace may ask for. The memory of a trace is then
# bounded by its parameters whatever the corpus repeats: at most
# K * max_documents_per_span windows of 2 * max(context_tokens, snippet_tokens) + span
# tokens (K = ceil(span_density * L) spans), each window clipped to its document.
# The server sets lower limits of its own (docs/api.md, settings table).
MAX_CONTEXT_TOKENS = 10_000
MAX_SNIPPET_TOKENS = 10_000
MAX_DOCUMENTS_PER_SPAN = 1_000
MAX_DELIMITERS = 64  # each at most MAX_DELIMITER_CHARS characters
MAX_DELIMITER_CHARS = 64
MAX_INT = 2**63 - 1  # every other integer must fit the engine's int64 arithmetic


@dataclass(frozen=True)
class TraceParams:
    """Every knob of the five steps; each is settable per request."""

    span_density: float = 0.05  # step 2: keep ceil(span_density * L) spans
    delimiters: tuple[str, ...] = ("\n", ".")  # step 1: a span ends at the first of these
    word_boundaries: bool = True  # step 1: spans neither start nor end inside a word
    leading_space: bool = True  # step 1: the response is traced as if it followed a space
    min_span_length: int = 1  # step 1: in tokens
    max_frequency: int = 1_000_000  # step 1: spans occurring more often are dropped
    max_documents_per_span: int = 10  # step 3: occurrences sampled per span
    context_tokens: int = 250  # step 3: long context, tokens each side of the span
    snippet_tokens: int = 40  # step 3: snippet, tokens each side of the span
    seed: int = 0  # step 3: sampling seed when a span has more occurrences
    ranking: str = "coverage"  # step 5: coverage | bm25 | olmotrace (see trace/rerank.py)

    def __post_init__(self) -> None:
        if isinstance(self.delimiters, str) or not isinstance(self.delimiters, Sequence):
            raise QueryError("delimiters must be a list of strings, e.g. ['\\n', '.']")
        # Accept any sequence (a JSON list) but store a tuple so the params stay hashable.
        object.__setattr__(self, "delimiters", tuple(self.delimiters))
        _check_density(self.span_density)
        _check_delimiters(self.delimiters)
        if not isinstance(self.word_boundaries, bool):
            raise QueryError("word_boundaries must be true or false")
        if not isinstance(self.leading_space, bool):
            raise QueryError("leading_space must be true or false")
        _check_int("min_span_length", self.min_span_length, 1)
        _check_int("max_frequency", self.max_frequency, 1)
        _check_int("max_documents_per_span", self.max_documents_per_span, 0, MAX_DOCUMENTS_PER_SPAN)
        _check_int("context_tokens", self.context_tokens, 0, MAX_CONTEXT_TOKENS)
        _check_int("snippet_tokens", self.snippet_tokens, 0, MAX_SNIPPET_TOKENS)
        _check_int("seed", self.seed, 0)
        if self.ranking not in RANKINGS:
            raise QueryError(f"ranking must be one of {', '.join(RANKINGS)}, got {self.ranking!r}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> TraceParams:
        """Params from a request's JSON object; unknown names are an error, not ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            names, allowed = ", ".join(unknown), ", ".join(sorted(known))
            raise QueryError(f"unknown trace parameter(s) {names}; known: {allowed}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (delimiters as a list)."""
        data = dataclasses.asdict(self)
        data["delimiters"] = list(self.delimiters)
        return data


def _check_density(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise QueryError(f"span_density must be a number in (0, 1], got {value!r}")
    if not 0 < value <= 1:
        raise QueryError(f"span_density must be in (0, 1], got {value}")


def _check_delimiters(delimiters: tuple[object, ...]) -> None:
    if len(delimiters) > MAX_DELIMITERS:
        raise LimitExceeded(f"at most {MAX_DELIMITERS} delimiters (the library's limit)")
    for d in delimiters:
        if isinstance(d, str) and len(d) > MAX_DELIMITER_CHARS:
            raise LimitExceeded(f"a delimiter is longer than {MAX_DELIMITER_CHARS} characters")
        if not isinstance(d, str) or not d:
            raise QueryError(f"every delimiter must be a non-empty string, got {d!r}")
        check_text(d, "a delimiter")


def _check_int(name: str, value: object, minimum: int, maximum: int = MAX_INT) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise QueryError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise QueryError(f"{name} must be at least {minimum}, got {value}")
    if value > maximum:
        raise LimitExceeded(f"{name} must be at most {maximum} (the library's limit), got {value}")
