"""Batched binary search of a suffix array, in plain numpy.

A shard is a token array `tokens` (memory-mapped) and a suffix array reached through
`positions(ranks) -> token positions`. Suffixes are ordered as integer sequences; a
suffix that ends (end of the shard) before differing sorts first. Separators are the
largest token value and queries never contain one, so a comparison stops at the end
of a document and no match ever crosses two documents.

Many queries are searched at once: they share one flat int64 array `flat`, query j
being `flat[starts[j] : starts[j] + lens[j]]` (the suffixes of one text share a single
array that way). All queries advance one binary-search step together; each step
gathers only the token windows it compares, so memory never grows with the corpus.
This is the `find` of infini-gram (Liu et al., 2024), vectorised over queries, with the
classic LCP skip of Manber & Myers (1993): a query already agrees with every suffix
between its two bounds on min(lcp(lower), lcp(upper)) tokens, so comparisons start there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from corpustrace import deadline

Positions = Callable[[np.ndarray], np.ndarray]
Position = Callable[[int], int]
Keys = Callable[[np.ndarray], np.ndarray]

QUERY_CHUNK = 2048  # queries searched together: bounds the gathered windows
FIRST_BLOCK = 8  # tokens compared per row in the first round; most queries differ early
MAX_BLOCK = 256  # the block doubles up to this for long agreements (copied text)


def query_batch(seqs: Sequence[Sequence[int] | np.ndarray]) -> tuple[np.ndarray, ...]:
    """(flat, starts, lens) of several token sequences laid end to end."""
    lens = np.array([len(s) for s in seqs], dtype=np.int64)
    starts = np.zeros(len(seqs), dtype=np.int64)
    if len(seqs):
        starts[1:] = np.cumsum(lens)[:-1]
    parts = [np.asarray(s, dtype=np.int64).reshape(-1) for s in seqs]
    flat = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    return flat, starts, lens


def suffix_batch(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(flat, starts, lens) of every suffix ids[i:] of one sequence, without copies."""
    n = len(ids)
    starts = np.arange(n, dtype=np.int64)
    return np.asarray(ids, dtype=np.int64), starts, n - starts


def compare_suffixes(
    tokens: np.ndarray,
    suffix_pos: np.ndarray,
    flat: np.ndarray,
    starts: np.ndarray,
    lens: np.ndarray,
    known: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Compare suffix tokens[suffix_pos[j]:] with query j, both equal on `known[j]` tokens.

    Returns (lcp, sign): the length of their longest common prefix (at most the query's
    length) and -1 if the suffix sorts before the query, 0 if the query is a prefix of
    the suffix, +1 if the suffix sorts after it.
    """
    if len(flat) == 0:
        flat = np.zeros(1, dtype=np.int64)  # only empty queries: nothing is read from it
    lcp = np.array(known, dtype=np.int64)
    sign = np.zeros(len(suffix_pos), dtype=np.int8)
    rows = np.arange(len(suffix_pos))
    pos, qstart, qlen = suffix_pos, starts, lens
    width = FIRST_BLOCK
    while rows.size:
        deadline.check()  # copied text makes this loop long: stop when the caller gave up
        offset = lcp[rows][:, None] + np.arange(width)
        q_end = offset >= qlen[:, None]
        t_idx = pos[:, None] + offset
        t_end = t_idx >= len(tokens)
        t = tokens.take(t_idx, mode="clip")
        q = flat.take(qstart[:, None] + offset, mode="clip")
        stop = q_end | t_end | (t != q)
        done = stop.any(axis=1)
        first = stop.argmax(axis=1)
        lcp[rows] += np.where(done, first, width)
        at = np.flatnonzero(done)
        col = first[at]
        # The query running out means a match; the suffix running out means it is smaller.
        smaller = t_end[at, col] | (t[at, col] < q[at, col])
        sign[rows[at]] = np.where(q_end[at, col], 0, np.where(smaller, -1, 1))
        if at.size == rows.size:
            break
        going = ~done
        rows, pos, qstart, qlen = rows[going], pos[going], qstart[going], qlen[going]
        width = min(2 * width, MAX_BLOCK)
    return lcp, sign


def lower_bounds(
    tokens: np.ndarray,
    positions: Positions,
    flat: np.ndarray,
    starts: np.ndarray,
    lens: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    past_matches: bool | np.ndarray = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First rank in [lo, hi) whose suffix is >= each query (> every suffix that starts
    with the query where `past_matches`, a flag or one per query), by one vectorised
    binary search.

    Also returns the LCP of each query with the suffix just before that rank and with
    the suffix at it, as seen by the search (0 where the search never looked there,
    in particular before rank 0 and at the end of the array).
    """
    lo = np.array(lo, dtype=np.int64)
    hi = np.array(hi, dtype=np.int64)
    lcp_lo = np.zeros(len(lo), dtype=np.int64)
    lcp_hi = np.zeros(len(lo), dtype=np.int64)
    past = np.broadcast_to(np.asarray(past_matches, dtype=bool), lo.shape)
    active = np.flatnonzero(lo < hi)
    while active.size:
        deadline.check()
        mid = (lo[active] + hi[active]) // 2
        known = np.minimum(lcp_lo[active], lcp_hi[active])
        lcp, sign = compare_suffixes(
            tokens, positions(mid), flat, starts[active], lens[active], known
        )
        right = (sign < 0) | ((sign == 0) & past[active])
        lo[active] = np.where(right, mid + 1, lo[active])
        lcp_lo[active] = np.where(right, lcp, lcp_lo[active])
        hi[active] = np.where(right, hi[active], mid)
        lcp_hi[active] = np.where(right, lcp_hi[active], lcp)
        active = active[lo[active] < hi[active]]
    return lo, lcp_lo, lcp_hi


def chunks(count: int) -> list[slice]:
    """Slices of at most QUERY_CHUNK queries, to bound the windows gathered at once."""
    return [slice(a, a + QUERY_CHUNK) for a in range(0, count, QUERY_CHUNK)]


def list_view(tokens: np.ndarray) -> np.ndarray | memoryview:
    """What `sa_range_one` slices: a memoryview when the array's items are native ints
    (slicing one costs less than slicing an ndarray), else the array itself."""
    try:
        view = memoryview(tokens)  # type: ignore[arg-type]
    except (TypeError, ValueError):  # pragma: no cover - a non-buffer array type
        return tokens
    return view if view.format in ("B", "H", "I", "L", "Q") and view.ndim == 1 else tokens


def sa_range_one(
    tokens: np.ndarray | memoryview, position: Position, lo: int, hi: int, query: list[int]
) -> tuple[int, int]:
    """[lo, hi) rank range of the suffixes starting with one non-empty query, searched
    within the ranks [lo, hi) given: every suffix before `lo` must sort before the query
    and every one from `hi` on after it (0 and n always qualify; so do the bounds of the
    query's first token, `first_token_bounds`).

    A plain binary search (Manber & Myers, 1993) on the query's first len(query)
    tokens of each probed suffix, one Python int per probe (`position`): for a single
    n-gram this beats the batched search, whose fixed numpy cost per round (~27
    rounds) outweighs the work. The first search also narrows the second: a probe
    that sorts after the query bounds the end of the range.
    """
    m = len(query)
    upper = hi
    while lo < hi:
        mid = (lo + hi) >> 1
        p = position(mid)
        key = tokens[p : p + m].tolist()
        if key < query:
            lo = mid + 1
        else:
            hi = mid
            if key != query:
                upper = mid
    first, hi = lo, upper
    while lo < hi:
        mid = (lo + hi) >> 1
        p = position(mid)
        if tokens[p : p + m].tolist() <= query:
            lo = mid + 1
        else:
            hi = mid
    return first, lo


def every_rank(count: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Bounds [0, n) for each of `count` queries: the whole suffix array."""
    return np.zeros(count, dtype=np.int64), np.full(count, n, dtype=np.int64)


def first_token_bounds(
    token_starts: np.ndarray, n: int, flat: np.ndarray, starts: np.ndarray, lens: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rank bounds [lo, hi) of each query's first token (every rank for an empty query).

    Suffixes sort by their first token first, so those starting with token t hold the
    ranks token_starts[t] .. token_starts[t + 1] - 1, where token_starts is the running
    sum of the shard's counts of each real token (a shard's `unigram`). A search inside
    them finds what a search of the whole array finds, in about log2(n / count(t))
    probes instead of log2(n).
    """
    lo, hi = every_rank(len(starts), n)
    some = np.flatnonzero(lens > 0)
    first = flat[starts[some]]
    lo[some], hi[some] = token_starts[first], token_starts[first + 1]
    return lo, hi


def sa_ranges(
    tokens: np.ndarray,
    positions: Positions,
    n: int,
    flat: np.ndarray,
    starts: np.ndarray,
    lens: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """[lo, hi) suffix-array rank ranges of suffixes that start with each query,
    searched within `bounds` (as for `sa_range_one`; default: every rank).

    An empty query matches every suffix, separators included; callers decide what
    the empty n-gram means.
    """
    lo_out = np.zeros(len(starts), dtype=np.int64)
    hi_out = np.zeros(len(starts), dtype=np.int64)
    if bounds is None:
        bounds = every_rank(len(starts), n)
    for part in chunks(len(starts)):
        # Both ends in one search: each query twice, the second copy passing its matches.
        k = len(starts[part])
        s, m = np.tile(starts[part], 2), np.tile(lens[part], 2)
        past = np.repeat([False, True], k)
        first, last = np.tile(bounds[0][part], 2), np.tile(bounds[1][part], 2)
        ends, _, _ = lower_bounds(tokens, positions, flat, s, m, first, last, past)
        lo_out[part], hi_out[part] = ends[:k], ends[k:]
    return lo_out, hi_out


def insertion_ranks(
    tokens: np.ndarray,
    positions: Positions,
    n: int,
    flat: np.ndarray,
    starts: np.ndarray,
    lens: np.ndarray,
) -> np.ndarray:
    """First rank whose suffix is >= each query (where the query would be inserted)."""
    out = np.zeros(len(starts), dtype=np.int64)
    for part in chunks(len(starts)):
        s, m = starts[part], lens[part]
        zeros, full = np.zeros(len(s), dtype=np.int64), np.full(len(s), n, dtype=np.int64)
        out[part] = lower_bounds(tokens, positions, flat, s, m, zeros, full)[0]
    return out


def insertion_lcps(
    tokens: np.ndarray,
    positions: Positions,
    n: int,
    flat: np.ndarray,
    starts: np.ndarray,
    lens: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """For each query, its longest common prefix with any suffix of the array.

    The suffixes sharing the most with a query are its neighbours in sorted order, so
    the answer is the larger LCP with the suffix just before its insertion rank and
    the one at it (OLMoTrace, Liu et al., 2025, step 1). Both come out of the search.
    Within `bounds` (as for `sa_ranges`) the insertion rank is the same; a neighbour
    outside them starts with another token, so its LCP is 0, what the search reports.
    """
    best = np.zeros(len(starts), dtype=np.int64)
    if bounds is None:
        bounds = every_rank(len(starts), n)
    for part in chunks(len(starts)):
        s, m = starts[part], lens[part]
        _, before, at = lower_bounds(tokens, positions, flat, s, m, *(b[part] for b in bounds))
        best[part] = np.maximum(before, at)
    return best


def lower_bound_by_key(
    keys: Keys, lo: np.ndarray, hi: np.ndarray, values: np.ndarray
) -> np.ndarray:
    """First rank r in [lo, hi) with keys(r) >= value, where keys are sorted over the range.

    Used on the token that follows a fixed prefix: inside the prefix's rank range the
    next tokens are sorted, which is how infini-gram walks next-token distributions.
    """
    lo = np.array(lo, dtype=np.int64)
    hi = np.array(hi, dtype=np.int64)
    values = np.asarray(values, dtype=np.int64)
    active = np.flatnonzero(lo < hi)
    while active.size:
        deadline.check()
        mid = (lo[active] + hi[active]) // 2
        right = keys(mid) < values[active]
        lo[active] = np.where(right, mid + 1, lo[active])
        hi[active] = np.where(right, hi[active], mid)
        active = active[lo[active] < hi[active]]
    return lo


def tokens_after(
    tokens: np.ndarray, positions: Positions, ranks: np.ndarray, offset: int
) -> np.ndarray:
    """Token `offset` places into the suffix at each rank; -1 past the end of the shard."""
    at = positions(np.asarray(ranks, dtype=np.int64)) + offset
    inside = at < len(tokens)
    values = tokens[np.minimum(at, len(tokens) - 1)].astype(np.int64)
    return np.where(inside, values, -1)
