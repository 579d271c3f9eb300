"""Build time and query latency of the lexical index, against rank_bm25 (the library
OLMoTrace's rerank uses) on the same documents and queries, in the same run."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from corpustrace.eval.corpus import Doc
from corpustrace.lexical import LexicalIndex, build_lexical
from corpustrace.lexical.bm25 import words


def lexical_timing(index: Path, docs: Sequence[Doc], queries: Sequence[str]) -> dict[str, Any]:
    """Seconds to build, milliseconds per top-10 query, for both; and their ratios."""
    from rank_bm25 import BM25Okapi

    started = time.perf_counter()
    build_lexical(index)
    ours_build = time.perf_counter() - started
    started = time.perf_counter()
    baseline = BM25Okapi([words(d.text) for d in docs])
    base_build = time.perf_counter() - started
    lexical = LexicalIndex.open(index)
    started = time.perf_counter()
    for q in queries:
        lexical.search(q, limit=10)
    ours_ms = (time.perf_counter() - started) * 1000 / max(len(queries), 1)
    started = time.perf_counter()
    for q in queries:
        np.argsort(-baseline.get_scores(words(q)))[:10]
    base_ms = (time.perf_counter() - started) * 1000 / max(len(queries), 1)
    return {
        "documents": len(docs),
        "queries": len(queries),
        "build_s": round(ours_build, 3),
        "rank_bm25_build_s": round(base_build, 3),
        "query_ms": round(ours_ms, 3),
        "rank_bm25_query_ms": round(base_ms, 3),
        "build_ratio": round(ours_build / base_build, 2) if base_build else None,
        "query_speedup": round(base_ms / ours_ms, 1) if ours_ms else None,
        "note": "ours decodes every document from the index and writes arrays; "
        "rank_bm25 is given the words in memory",
    }
