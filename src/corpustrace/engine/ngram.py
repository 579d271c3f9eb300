"""n-gram and ∞-gram language-model queries (infini-gram, Liu et al., 2024).

Denominators count only occurrences that have a next token: an occurrence at the very
end of a document (followed by a separator or the end of the shard) predicts nothing,
so next-token probabilities sum to one. Inside the rank range of a prompt the suffixes
are sorted by the token that follows it, end of shard (-1) first and the separator last,
so the occurrences with a real next token form one sub-range, found by two searches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from corpustrace.engine.results import (
    InfgramNtdResult,
    InfgramProbResult,
    NtdEntry,
    NtdResult,
    ProbResult,
)
from corpustrace.engine.search import Keys, insertion_ranks, lower_bound_by_key, tokens_after
from corpustrace.errors import QueryError
from corpustrace.index.checks import damaged
from corpustrace.index.format import TOKENS

if TYPE_CHECKING:
    from corpustrace.engine.engine import Engine, ShardArrays


def continuation_ranges(
    engine: Engine, prompt: np.ndarray, first: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per shard and per k in `first`, the ranks of prompt[k:] followed by a real token.

    They lie between the insertion ranks of prompt[k:] + [0] and prompt[k:] + [separator]
    (shape (shards, len(first)) each).
    """
    sep = engine.index.separator
    lens = len(prompt) + 1 - first

    def one(shard: ShardArrays) -> tuple[np.ndarray, np.ndarray]:
        ends = [
            insertion_ranks(
                shard.tokens, shard.positions, shard.n, np.append(prompt, last), first, lens
            )
            for last in (0, sep)
        ]
        return ends[0], ends[1]

    ranges = engine.map_shards(one)
    width = len(first)
    lo = np.stack([r[0] for r in ranges]) if ranges else np.zeros((0, width), np.int64)
    hi = np.stack([r[1] for r in ranges]) if ranges else np.zeros((0, width), np.int64)
    return lo, hi


def ratio(count: int, total: int) -> float | None:
    return count / total if total else None


def prob(engine: Engine, prompt: np.ndarray, next_id: int) -> ProbResult:
    """count(prompt + next) / occurrences of prompt with a next token."""
    lo, hi = continuation_ranges(engine, prompt, np.zeros(1, dtype=np.int64))
    prompt_count = int((hi - lo).sum())
    count = engine.count(np.append(prompt, next_id))
    return ProbResult(prompt_count=prompt_count, count=count, prob=ratio(count, prompt_count))


def backoff_start(engine: Engine, prompt: np.ndarray) -> tuple[int, int]:
    """(k, count): the shortest k such that prompt[k:] occurs with a next token.

    ∞-gram backs off to the longest such suffix (Liu et al., 2024); continuation
    counts only grow as the suffix shrinks, and all suffixes are searched in one batch.
    """
    first = np.arange(len(prompt) + 1, dtype=np.int64)
    lo, hi = continuation_ranges(engine, prompt, first)
    counts = (hi - lo).sum(axis=0)
    found = np.flatnonzero(counts > 0)
    k = int(found[0]) if found.size else len(prompt)
    return k, int(counts[k])


def infgram_prob(engine: Engine, prompt: np.ndarray, next_id: int) -> InfgramProbResult:
    k, prompt_count = backoff_start(engine, prompt)
    count = engine.count(np.append(prompt[k:], next_id))
    return InfgramProbResult(
        suffix_len=len(prompt) - k,
        prompt_count=prompt_count,
        count=count,
        prob=ratio(count, prompt_count),
    )


def infgram_ntd(engine: Engine, prompt: np.ndarray, max_support: int = 1000) -> InfgramNtdResult:
    k, _ = backoff_start(engine, prompt)
    return InfgramNtdResult(suffix_len=len(prompt) - k, ntd=ntd(engine, prompt[k:], max_support))


def ntd(engine: Engine, prompt: np.ndarray, max_support: int = 1000) -> NtdResult:
    """Next-token distribution of `prompt`, exact when it has at most `max_support`
    distinct next tokens (over the whole corpus, whatever its sharding).

    Every shard's continuation range is split into runs of equal next token by bisection
    (infini-gram's method: a range whose first and last next tokens agree is one run),
    which costs O(distinct tokens x log count), not O(count); the runs of all shards are
    summed. When the merged distribution has more than `max_support` tokens, `approx` is
    set and only the tokens found at evenly spaced places of all occurrences sorted by
    next token are listed (`sample_positions`); each listed count is still exact. The
    sample depends on the corpus alone, never on how it was split into shards. The empty
    prompt gives the unigram distribution, from the index's unigram table, the same way.
    """
    if max_support < 1:
        raise QueryError("max_support must be at least 1")
    if len(prompt) == 0:
        return unigram_ntd(engine, max_support)
    lo, hi = continuation_ranges(engine, prompt, np.zeros(1, dtype=np.int64))
    lo, hi = lo[:, 0], hi[:, 0]
    total = int((hi - lo).sum())
    if total == 0:
        return NtdResult(prompt_count=0, entries=(), approx=False)
    depth = len(prompt)
    keys = [next_token_keys(shard, depth) for shard in engine.shards]
    # A shard with more than max_support distinct tokens means the merged result has too.
    runs = engine.parallel(
        lambda s: token_runs(keys[s], int(lo[s]), int(hi[s]), max_support), range(len(keys))
    )
    for s, run in enumerate(runs):
        if run is not None:
            check_next_tokens(engine, s, run[0])
    if all(r is not None for r in runs):
        tokens, counts = merge_runs(
            np.concatenate([r[0] for r in runs if r is not None]),
            np.concatenate([r[1] for r in runs if r is not None]),
        )
        if len(tokens) <= max_support:
            return ntd_result(tokens, counts, total, approx=False)
        at = np.searchsorted(np.cumsum(counts), sample_positions(total, max_support), "right")
        keep = np.unique(at)
        return ntd_result(tokens[keep], counts[keep], total, approx=True)
    picked = tokens_at(engine, keys, lo, hi, sample_positions(total, max_support))
    counts = np.zeros(len(picked), dtype=np.int64)
    for s, key in enumerate(keys):
        a = np.full(len(picked), lo[s])
        b = np.full(len(picked), hi[s])
        counts += lower_bound_by_key(key, a, b, picked + 1) - lower_bound_by_key(key, a, b, picked)
    return ntd_result(picked, counts, total, approx=True)


def sample_positions(total: int, max_support: int) -> np.ndarray:
    """0, stride, 2 stride, ... below `total`, stride = ceil(total / max_support): at most
    `max_support` places, and every token filling a whole stride is hit at least once."""
    return np.arange(0, total, -(-total // max_support), dtype=np.int64)


def merge_runs(tokens: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum the counts of equal tokens; tokens ascending."""
    unique, inverse = np.unique(tokens, return_inverse=True)
    sums = np.bincount(inverse, weights=counts, minlength=len(unique)).astype(np.int64)
    return unique.astype(np.int64), sums


def tokens_at(
    engine: Engine, keys: list[Keys], lo: np.ndarray, hi: np.ndarray, places: np.ndarray
) -> np.ndarray:
    """The distinct next tokens at `places` of all shards' occurrences merged in next-token
    order: for each place k, the smallest token v with more than k occurrences <= v, by a
    binary search over token ids (each step counts occurrences <= v in every shard)."""
    a = np.zeros(len(places), dtype=np.int64)
    b = np.full(len(places), engine.index.id_limit - 1, dtype=np.int64)
    active = np.flatnonzero(a < b)
    while active.size:
        mid = (a[active] + b[active]) // 2
        at_most = np.zeros(len(active), dtype=np.int64)
        for s, key in enumerate(keys):
            start = np.full(len(active), lo[s])
            at_most += lower_bound_by_key(key, start, np.full(len(active), hi[s]), mid + 1) - lo[s]
        right = at_most <= places[active]
        a[active] = np.where(right, mid + 1, a[active])
        b[active] = np.where(right, b[active], mid)
        active = active[a[active] < b[active]]
    return np.unique(a)


def check_next_tokens(engine: Engine, shard_no: int, tokens: np.ndarray) -> None:
    """Next tokens are real ids; anything else was read from a damaged `tokens` file."""
    if tokens.size and int(tokens.max()) >= engine.index.id_limit:
        shard = engine.index.shards[shard_no]
        raise damaged(shard.path / TOKENS, f"token id {int(tokens.max())} inside a document")


def next_token_keys(shard: ShardArrays, depth: int) -> Keys:
    """rank -> the token `depth` places into its suffix (the token after the prompt)."""
    return lambda ranks: tokens_after(shard.tokens, shard.positions, ranks, depth)


def token_runs(keys: Keys, lo: int, hi: int, cap: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(tokens, counts) of the runs of equal sorted keys in [lo, hi), or None once more
    than `cap` distinct keys are seen. Bisects all unresolved segments at once."""
    if lo >= hi:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    a, b = np.array([lo], dtype=np.int64), np.array([hi], dtype=np.int64)
    first, last = keys(a), keys(b - 1)
    out_tokens: list[np.ndarray] = []
    out_counts: list[np.ndarray] = []
    while a.size:
        uniform = first == last  # sorted keys: equal ends mean one run
        out_tokens.append(first[uniform])
        out_counts.append((b - a)[uniform])
        a, b, first, last = a[~uniform], b[~uniform], first[~uniform], last[~uniform]
        seen = np.unique(np.concatenate([*out_tokens, first, last]))
        if len(seen) > cap:
            return None
        mid = (a + b) // 2
        before, at = keys(mid - 1), keys(mid)
        a, b = np.concatenate([a, mid]), np.concatenate([mid, b])
        first, last = np.concatenate([first, at]), np.concatenate([before, last])
    return np.concatenate(out_tokens), np.concatenate(out_counts)


def unigram_ntd(engine: Engine, max_support: int) -> NtdResult:
    unigram = np.asarray(engine.index.unigram, dtype=np.int64)
    tokens = np.flatnonzero(unigram)
    counts = unigram[tokens]
    total = engine.total_tokens
    if len(tokens) <= max_support:
        return ntd_result(tokens, counts, total, approx=False)
    at = np.searchsorted(np.cumsum(counts), sample_positions(total, max_support), side="right")
    keep = np.unique(at)
    return ntd_result(tokens[keep], counts[keep], total, approx=True)


def ntd_result(tokens: np.ndarray, counts: np.ndarray, total: int, approx: bool) -> NtdResult:
    """Sum counts per token and sort by count (descending), then token id."""
    unique, inverse = np.unique(tokens, return_inverse=True)
    sums = np.bincount(inverse, weights=counts, minlength=len(unique)).astype(np.int64)
    keep = sums > 0
    unique, sums = unique[keep], sums[keep]
    order = np.lexsort((unique, -sums))
    entries = tuple(
        NtdEntry(token=int(unique[i]), count=int(sums[i]), prob=int(sums[i]) / total) for i in order
    )
    return NtdResult(prompt_count=total, entries=entries, approx=approx)
