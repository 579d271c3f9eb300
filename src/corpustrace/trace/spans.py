"""Step 1 of OLMoTrace: maximal matching spans of the response.

Liu et al., 2025, "OLMoTrace: Tracing Language Model Outputs Back to Trillions of
Training Tokens", step 1. From the longest prefix of every suffix of the
response that occurs in the corpus, a span [i, i + len_i) is

* cut after the first token that contains a delimiter (that token is kept),
* with the word rule, started only on a word boundary and trimmed back to the last one,
  and dropped when it holds only whitespace,
* dropped when shorter than `min_span_length` or occurring more than `max_frequency`
  times (or never),
* kept only when its end lies past the furthest end kept so far (maximality).

A token boundary b (0..L) is a word boundary when b is 0 or L, or when the character
just before or just after it in the response is not alphanumeric (`str.isalnum`): a
boundary that does not split a word. A boundary inside one character (a multi-byte
character split over tokens) is never a word boundary.

Everything here is a pure function of arrays; the engine enters only through the
`count_many` callable.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from corpustrace.trace.params import TraceParams

CountMany = Callable[[list[np.ndarray]], np.ndarray]
Offsets = Sequence[tuple[int, int]]


@dataclass(frozen=True)
class SpanCandidate:
    """A span of response tokens [start, end) and its corpus count."""

    start: int
    end: int
    count: int


def word_boundary_mask(text: str, offsets: Offsets) -> np.ndarray:
    """Bool array of length L + 1: is token boundary b a word boundary?"""
    n = len(offsets)
    mask = np.ones(n + 1, dtype=bool)
    for b in range(1, n):
        start = offsets[b][0]
        if offsets[b - 1][1] > start:  # both tokens cover one character
            mask[b] = False
            continue
        before = text[start - 1] if start > 0 else ""
        after = text[start] if start < len(text) else ""
        mask[b] = not (before.isalnum() and after.isalnum())
    return mask


def delimiter_token_mask(text: str, offsets: Offsets, delimiters: Sequence[str]) -> np.ndarray:
    """Bool array of length L: does token t hold the end of a delimiter occurrence?

    The token marked is the last one starting before the delimiter's last character
    ends, so a delimiter split over several byte tokens marks its final byte.
    """
    mask = np.zeros(len(offsets), dtype=bool)
    starts = [o[0] for o in offsets]
    for delim in delimiters:
        at = text.find(delim)
        while at >= 0:
            token = bisect_left(starts, at + len(delim)) - 1
            if token >= 0:
                mask[token] = True
            at = text.find(delim, at + 1)
    return mask


def next_true(mask: np.ndarray) -> np.ndarray:
    """For each index, the first index >= it where mask is True (len(mask) if none)."""
    n = len(mask)
    where = np.where(mask, np.arange(n), n)
    return np.minimum.accumulate(where[::-1])[::-1] if n else where


def previous_true(mask: np.ndarray) -> np.ndarray:
    """For each index, the last index <= it where mask is True (-1 if none)."""
    where = np.where(mask, np.arange(len(mask)), -1)
    return np.maximum.accumulate(where) if len(where) else where


def candidate_spans(
    longest: np.ndarray,
    delimiter_tokens: np.ndarray,
    boundaries: np.ndarray,
    min_span_length: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends of the spans after the delimiter cut, word rule and length floor."""
    n = len(longest)
    starts = np.arange(n, dtype=np.int64)
    ends = starts + np.asarray(longest, dtype=np.int64)
    ends = np.minimum(ends, next_true(delimiter_tokens) + 1)  # cut after the delimiter
    ends = previous_true(boundaries)[ends]  # trim back to a word boundary
    keep = boundaries[:n] & (ends - starts >= min_span_length)
    return starts[keep], ends[keep]


def drop_blank(
    starts: np.ndarray, ends: np.ndarray, text: str, offsets: Offsets
) -> tuple[np.ndarray, np.ndarray]:
    """Spans of whitespace only (a space between two sentences) hold no words: drop them."""
    pairs = zip(starts.tolist(), ends.tolist(), strict=True)
    keep = np.array([bool(text[offsets[a][0] : offsets[b - 1][1]].strip()) for a, b in pairs])
    return (starts[keep], ends[keep]) if len(keep) else (starts, ends)


def past_running_max(ends: np.ndarray) -> np.ndarray:
    """Bool mask: is each end strictly past every end before it?"""
    if not len(ends):
        return np.zeros(0, dtype=bool)
    before = np.concatenate([[-1], np.maximum.accumulate(ends)[:-1]])
    return np.asarray(ends > before)


def keep_maximal(
    starts: np.ndarray, ends: np.ndarray, counts: np.ndarray, max_frequency: int
) -> list[SpanCandidate]:
    """Drop too frequent (or unseen) spans, then keep those ending past the furthest end."""
    kept: list[SpanCandidate] = []
    furthest = -1
    for start, end, count in zip(starts.tolist(), ends.tolist(), counts.tolist(), strict=True):
        if not 0 < count <= max_frequency or end <= furthest:
            continue
        kept.append(SpanCandidate(start, end, count))
        furthest = end
    return kept


def maximal_spans(
    ids: np.ndarray,
    text: str,
    offsets: Offsets,
    longest: np.ndarray,
    count_many: CountMany,
    params: TraceParams,
) -> list[SpanCandidate]:
    """Step 1: the maximal spans of the response, in order of position.

    A candidate contained in an earlier candidate can never be kept: if the earlier one
    is kept it is not maximal, and if the earlier one occurs too often so does it (a
    substring occurs at least as often). Only the other candidates are counted.
    """
    boundaries = (
        word_boundary_mask(text, offsets)
        if params.word_boundaries
        else np.ones(len(ids) + 1, dtype=bool)
    )
    delims = delimiter_token_mask(text, offsets, params.delimiters)
    starts, ends = candidate_spans(longest, delims, boundaries, params.min_span_length)
    if params.word_boundaries:
        starts, ends = drop_blank(starts, ends, text, offsets)
    outer = past_running_max(ends)
    starts, ends = starts[outer], ends[outer]
    spans = [ids[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]
    counts = count_many(spans) if spans else np.zeros(0, dtype=np.int64)
    return keep_maximal(starts, ends, np.asarray(counts, dtype=np.int64), params.max_frequency)
