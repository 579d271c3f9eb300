"""Longest matching prefix of every suffix of a text (OLMoTrace step 1).

For each start i of a text, the length of the longest prefix of text[i:] that occurs in
the corpus. OLMoTrace (Liu et al., 2025) finds it with one suffix-array search per start
instead of one search per (start, length): search the whole suffix text[i:], and the
longest common prefix with the two suffixes around its insertion point is the answer.
All starts are searched together, so the cost is O(L log N) per shard in a few numpy
passes; the maximum over shards is the corpus-wide answer.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from corpustrace.engine.search import Positions, first_token_bounds, insertion_lcps, suffix_batch


def longest_prefix_lengths(
    tokens: np.ndarray,
    positions: Positions,
    n: int,
    ids: np.ndarray,
    token_starts: np.ndarray | None = None,
) -> np.ndarray:
    """In one shard: at i, the length of the longest prefix of ids[i:] that occurs there.

    With the shard's `token_starts`, each search stays inside the ranks of its first
    token (`first_token_bounds`): the same answer in fewer probes."""
    if len(ids) == 0 or n == 0:
        return np.zeros(len(ids), dtype=np.int64)
    flat, starts, lens = suffix_batch(ids)
    bounds = None
    if token_starts is not None:
        bounds = first_token_bounds(token_starts, n, flat, starts, lens)
    return insertion_lcps(tokens, positions, n, flat, starts, lens, bounds)


def max_over_shards(per_shard: Iterable[np.ndarray], length: int) -> np.ndarray:
    """Element-wise maximum of per-shard prefix lengths (a match in any shard counts)."""
    best = np.zeros(length, dtype=np.int64)
    for lengths in per_shard:
        np.maximum(best, lengths, out=best)
    return best
