"""What engine queries return: small frozen dataclasses, no behaviour.

Token arrays inside results are copies (never views of the memory-mapped index), so a
result stays valid after the index is closed. Classes holding arrays compare by
identity (`eq=False`) because element-wise array equality has no single truth value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class FindResult:
    """Occurrences of an n-gram: `count` in all, one [lo, hi) suffix-array rank range
    per shard, in shard order (infini-gram's `find`)."""

    count: int
    ranges: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Occurrence:
    """One occurrence: where it sits in the suffix array and in the corpus."""

    shard: int
    rank: int
    position: int  # token position in the shard's token array
    doc: int  # global document index
    local_doc: int  # document index within the shard


@dataclass(frozen=True, eq=False)
class Window:
    """Tokens around a match, clipped to its document (never crossing a separator)."""

    shard: int
    doc: int
    tokens: np.ndarray
    start: int  # shard position of tokens[0]
    match_start: int  # index into tokens
    match_end: int  # index into tokens (exclusive)
    doc_start: int  # shard position of the document's first token
    doc_end: int  # shard position just past the document's last token


@dataclass(frozen=True, eq=False)
class DocumentView:
    """A document's tokens [start, end) (clipped to the document) with its metadata."""

    doc: int
    shard: int
    local_doc: int
    meta: dict[str, Any]
    length: int
    start: int
    end: int
    tokens: np.ndarray


@dataclass(frozen=True)
class ProbResult:
    """P(next | prompt) = count(prompt + next) / prompt_count.

    `prompt_count` counts the prompt's occurrences that are followed by a token, so an
    occurrence at the very end of a document is not in the denominator and the
    probabilities of all next tokens sum to one. `prob` is None when it is zero.
    """

    prompt_count: int
    count: int
    prob: float | None


@dataclass(frozen=True)
class NtdEntry:
    token: int
    count: int
    prob: float


@dataclass(frozen=True)
class NtdResult:
    """Next-token distribution; entries by count (descending), then token id.

    `approx` is True when the prompt had more than `max_support` distinct next tokens
    (over the whole corpus): the tokens were then found at evenly spaced places of all
    occurrences sorted by next token, so tokens rarer than the stride may be missing,
    while every listed count is exact; the answer does not depend on the sharding.
    """

    prompt_count: int
    entries: tuple[NtdEntry, ...]
    approx: bool


@dataclass(frozen=True)
class InfgramProbResult:
    """∞-gram probability: backed off to the last `suffix_len` tokens of the prompt."""

    suffix_len: int
    prompt_count: int
    count: int
    prob: float | None


@dataclass(frozen=True)
class InfgramNtdResult:
    suffix_len: int
    ntd: NtdResult


@dataclass(frozen=True)
class Hit:
    """One occurrence of a searched n-gram, decoded with context."""

    doc: int
    shard: int
    position: int
    meta: dict[str, Any]
    text: str
    match_char_start: int  # character offsets of the match inside `text`
    match_char_end: int
    tokens_before: int  # context tokens in `text` before the match
    tokens_after: int


@dataclass(frozen=True)
class DocumentHits:
    count: int  # all occurrences, not only this page
    offset: int
    limit: int
    hits: tuple[Hit, ...]


@dataclass(frozen=True)
class CnfHits:
    """Documents matching a CNF query; `documents` is the requested page, ascending."""

    count: int
    approx: bool
    documents: tuple[int, ...]
