"""Step 2 of OLMoTrace: keep the least likely spans.

Liu et al., 2025, "OLMoTrace: Tracing Language Model Outputs Back to Trillions of
Training Tokens", step 2. A span's score is its unigram log probability,
the sum over its tokens of log(count(token) / total tokens); a token the corpus never
holds scores -10000. The K = ceil(span_density * L) lowest-scoring spans are kept and
put back in order of position: long and rare spans are the interesting ones.
"""

from __future__ import annotations

import math

import numpy as np

UNSEEN_LOGPROB = -10000.0


def unigram_logprob(ids: np.ndarray, unigram: np.ndarray, total: int) -> float:
    """Sum over the tokens of log(count / total); -10000 for each unseen token."""
    ids = np.asarray(ids, dtype=np.int64)
    known = ids < len(unigram)
    counts = np.zeros(len(ids), dtype=np.float64)
    counts[known] = unigram[ids[known]]
    seen = counts > 0
    if total <= 0:
        return UNSEEN_LOGPROB * len(ids)
    logs = np.full(len(ids), UNSEEN_LOGPROB)
    logs[seen] = np.log(counts[seen] / float(total))
    return float(logs.sum())


def spans_to_keep(n_tokens: int, span_density: float) -> int:
    """K = ceil(span_density * L).

    The product is rounded to 9 decimals first so that binary floating point does not
    turn an exact product up by one (0.05 * 60 is 3.0000000000000004 in floats). That
    rounding must not take a positive product to zero: ceil of any d * L > 0 is at
    least 1 (span_density 1e-300 keeps one span, not none).
    """
    product = span_density * n_tokens
    if product <= 0:
        return 0
    return max(1, math.ceil(round(product, 9)))


def lowest_scoring(scores: list[float], k: int) -> list[int]:
    """Indices of the k lowest scores (ties: earlier first), in increasing index order."""
    order = sorted(range(len(scores)), key=lambda i: (scores[i], i))
    return sorted(order[: max(k, 0)])
