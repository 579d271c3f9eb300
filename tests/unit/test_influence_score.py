"""Chunked top-k scoring against a brute-force twin (full matmul and a stable sort)."""

from __future__ import annotations

import numpy as np
import pytest

from corpustrace.influence.hessian import unit_rows
from corpustrace.influence.score import rank


def shards_of(rng: np.random.Generator, sizes: list[int], dim: int) -> list[np.ndarray]:
    return [unit_rows(rng.normal(size=(n, dim))).astype(np.float16) for n in sizes]


def brute(shards: list[np.ndarray], q: np.ndarray, k: int, t: np.ndarray | None = None):
    x = np.concatenate([s.astype(np.float32) for s in shards])
    if t is not None:
        x = unit_rows(x @ t.T.astype(np.float32)).astype(np.float32)
    scores = q.astype(np.float32) @ x.T
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    bottom = np.argsort(scores, axis=1, kind="stable")[:, :k]
    return top, bottom, scores


@pytest.mark.parametrize("budget", [64, 4096, 1 << 20])
@pytest.mark.parametrize("k", [1, 5, 200])
def test_rank_equals_brute_force(budget: int, k: int) -> None:
    rng = np.random.default_rng(k * 7 + budget)
    shards = shards_of(rng, [13, 1, 40, 7], 16)
    q = unit_rows(rng.normal(size=(3, 16))).astype(np.float32)
    got = rank(shards, q, k, budget_bytes=budget)
    top, bottom, scores = brute(shards, q, k)
    np.testing.assert_array_equal(got.top, top)
    np.testing.assert_array_equal(got.bottom, bottom)
    np.testing.assert_allclose(got.top_scores, np.take_along_axis(scores, top, 1), atol=1e-6)
    np.testing.assert_allclose(got.bottom_scores, np.take_along_axis(scores, bottom, 1), atol=1e-6)
    assert got.top.shape == (3, min(k, 61))


def test_rank_with_a_transform_of_the_stored_rows() -> None:
    rng = np.random.default_rng(1)
    shards = shards_of(rng, [9, 20], 8)
    t = rng.normal(size=(8, 8))
    q = unit_rows(rng.normal(size=(2, 8))).astype(np.float32)
    got = rank(shards, q, 4, transform=t, budget_bytes=300)
    top, bottom, _ = brute(shards, q, 4, t)
    np.testing.assert_array_equal(got.top, top)
    np.testing.assert_array_equal(got.bottom, bottom)


def test_scores_are_cosines_in_range() -> None:
    rng = np.random.default_rng(2)
    shards = shards_of(rng, [50], 4)
    q = shards[0][:3].astype(np.float32)  # stored rows as queries: cosine 1 with themselves
    got = rank(shards, q, 50)
    assert np.all(got.top_scores <= 1.0) and np.all(got.bottom_scores >= -1.0)
    np.testing.assert_array_equal(got.top[:, 0], [0, 1, 2])
    assert np.all(np.diff(got.top_scores, axis=1) <= 0)
    assert np.all(np.diff(got.bottom_scores, axis=1) >= 0)
