"""Exact scoring: cosine of every stored example with each query by a chunked matmul, and
the k largest (proponents) and k smallest (opponents) per query. Memory is bounded by the
rows of one chunk, never by N. Numpy only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from corpustrace.influence.hessian import unit_rows

DEFAULT_BUDGET_BYTES = 64 << 20


@dataclass
class Ranked:
    """Per query: example indices and scores, best first (opponents: most negative first)."""

    top: np.ndarray  # int64 [q, k]
    top_scores: np.ndarray  # float32 [q, k]
    bottom: np.ndarray
    bottom_scores: np.ndarray


def _merge(
    best_i: np.ndarray, best_s: np.ndarray, new_i: np.ndarray, new_s: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The k largest of two candidate sets per row (ties: lower index first)."""
    idx = np.concatenate([best_i, new_i], axis=1)
    val = np.concatenate([best_s, new_s], axis=1)
    if idx.shape[1] > k:
        part = np.argpartition(-val, k - 1, axis=1)[:, :k]
        idx, val = np.take_along_axis(idx, part, 1), np.take_along_axis(val, part, 1)
    order = np.lexsort((idx, -val), axis=1)
    return np.take_along_axis(idx, order, 1), np.take_along_axis(val, order, 1)


def rank(
    shards: Sequence[np.ndarray],
    queries: np.ndarray,
    k: int,
    *,
    transform: np.ndarray | None = None,
    budget_bytes: int = DEFAULT_BUDGET_BYTES,
) -> Ranked:
    """Top-k and bottom-k of queries [q, d] (unit rows) against stored rows [n, d].

    `transform` (d x d), when given, maps each stored row x to unit(transform @ x) before
    the cosine: a batch's own Hessian mix applied to the stored features (query.py).
    """
    q = np.asarray(queries, dtype=np.float32)
    dim = q.shape[1]
    rows_per_chunk = max(1, budget_bytes // (4 * max(dim, 1) * (2 if transform is not None else 1)))
    empty_i = np.zeros((len(q), 0), dtype=np.int64)
    empty_s = np.zeros((len(q), 0), dtype=np.float32)
    top_i, top_s, bot_i, bot_s = empty_i, empty_s, empty_i, empty_s
    base = 0
    t = None if transform is None else np.asarray(transform, dtype=np.float32)
    for shard in shards:
        for lo in range(0, len(shard), rows_per_chunk):
            x = np.asarray(shard[lo : lo + rows_per_chunk], dtype=np.float32)
            if t is not None:
                x = unit_rows(x @ t.T).astype(np.float32)
            scores = (q @ x.T).astype(np.float32)  # [q, rows]
            ids = np.broadcast_to(np.arange(base + lo, base + lo + len(x)), scores.shape)
            top_i, top_s = _merge(top_i, top_s, ids, scores, k)
            bot_i, neg = _merge(bot_i, -bot_s, ids, -scores, k)
            bot_s = -neg
        base += len(shard)
    clip = np.float32(1.0)
    return Ranked(top_i, np.clip(top_s, -clip, clip), bot_i, np.clip(bot_s, -clip, clip))
