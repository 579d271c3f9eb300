"""Metrics on fixtures whose values were worked out by hand."""

from __future__ import annotations

import pytest

from corpustrace.eval.metrics import (
    covered,
    mean_ci,
    precision_at,
    recall_at,
    reciprocal_rank,
    reciprocal_rank_fusion,
    span_overlap,
)


def test_reciprocal_rank() -> None:
    assert reciprocal_rank([5, 3, 9], {9}) == pytest.approx(1 / 3)
    assert reciprocal_rank([5, 3, 9], {3, 9}) == pytest.approx(1 / 2)
    assert reciprocal_rank([5, 3], {7}) == 0.0
    assert reciprocal_rank([], {7}) == 0.0


def test_mrr_of_a_fixture() -> None:
    # Queries: first relevant at rank 1, 4 and never: MRR = (1 + 0.25 + 0) / 3 = 0.41666...
    runs = [([1, 2], {1}), ([9, 8, 7, 6], {6}), ([1], {2})]
    assert sum(reciprocal_rank(r, rel) for r, rel in runs) / 3 == pytest.approx(5 / 12)


def test_recall_and_precision_at_k() -> None:
    ranked = [4, 1, 7, 2, 8]
    assert recall_at(ranked, {1, 2, 3}, 2) == pytest.approx(1 / 3)
    assert recall_at(ranked, {1, 2, 3}, 10) == pytest.approx(2 / 3)
    assert recall_at(ranked, set(), 10) == 0.0
    assert precision_at(ranked, {1, 2, 3}, 10) == pytest.approx(0.2)
    assert precision_at(ranked, {4, 1}, 2) == 1.0


def test_mean_ci_uses_student_t() -> None:
    assert mean_ci([]) == (0.0, 0.0)
    assert mean_ci([0.5]) == (0.5, 0.0)
    m, half = mean_ci([1.0, 2.0, 3.0])  # sd 1, n 3: 4.303 / sqrt(3)
    assert m == 2.0 and half == pytest.approx(4.303 / 3**0.5)
    m, half = mean_ci([1.0] * 20)
    assert half == 0.0


def test_span_overlap_counts_non_space_characters() -> None:
    text = "ab cd ef"
    assert covered(text, [(0, 5)]) == {0, 1, 3, 4}
    # predicted "ab cd" (4 chars), truth "cd ef" (4 chars), both "cd" (2 chars)
    assert span_overlap(text, [(0, 5)], [(3, 8)]) == (4, 4, 2)
    assert span_overlap(text, [], [(0, 99)]) == (0, 6, 0)


def test_reciprocal_rank_fusion() -> None:
    # a: 1/61 + 1/62; b: 1/62 + 1/61; c: 1/63 -> a and b tie, smaller id first
    assert reciprocal_rank_fusion([[1, 2, 3], [2, 1]]) == [1, 2, 3]
    assert reciprocal_rank_fusion([[5], [6, 5]]) == [5, 6]
    assert reciprocal_rank_fusion([]) == []
