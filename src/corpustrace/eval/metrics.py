"""Ranking and span metrics as small pure functions (standard IR definitions; Manning,
Raghavan & Schütze, 2008, "Introduction to Information Retrieval", ch. 8)."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence

# Two-sided 95% Student t quantiles by degrees of freedom (1..10); normal beyond.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306}
T95 |= {9: 2.262, 10: 2.228}
Interval = tuple[int, int]


def reciprocal_rank(ranked: Sequence[int], relevant: Collection[int]) -> float:
    """1 / rank of the first relevant item (ranks from 1); 0 when none is ranked."""
    for rank, item in enumerate(ranked, start=1):
        if item in relevant:
            return 1.0 / rank
    return 0.0


def recall_at(ranked: Sequence[int], relevant: Collection[int], k: int) -> float:
    """Share of the relevant items found in the first k (0 when nothing is relevant)."""
    if not relevant:
        return 0.0
    return len(set(ranked[:k]) & set(relevant)) / len(set(relevant))


def precision_at(ranked: Sequence[int], relevant: Collection[int], k: int) -> float:
    """Relevant items among the first k, divided by k (a short list is not padded out)."""
    return len(set(ranked[:k]) & set(relevant)) / k


def mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / len(items) if items else 0.0


def mean_ci(values: Sequence[float]) -> tuple[float, float]:
    """Mean and half-width of its 95% confidence interval (Student t; 0 for one value)."""
    n = len(values)
    if n == 0:
        return 0.0, 0.0
    m = mean(values)
    if n == 1:
        return m, 0.0
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1))
    return m, T95.get(n - 1, 1.96) * sd / math.sqrt(n)


def covered(text: str, intervals: Iterable[Interval]) -> set[int]:
    """Positions of the non-space characters of `text` inside any interval."""
    return {
        i
        for a, b in intervals
        for i in range(max(a, 0), min(b, len(text)))
        if not text[i].isspace()
    }


def span_overlap(
    text: str, predicted: Iterable[Interval], truth: Iterable[Interval]
) -> tuple[int, int, int]:
    """(predicted, true, both): counts of non-space characters, to sum over a data set."""
    p, t = covered(text, predicted), covered(text, truth)
    return len(p), len(t), len(p & t)


def ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = 60) -> list[int]:
    """Cormack, Clarke & Büttcher, 2009: score(d) = sum of 1 / (k + rank of d); ties by id."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores, key=lambda d: (-scores[d], d))
