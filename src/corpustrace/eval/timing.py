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
    timing: dict[str, Any] = {
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
    timing.update(bm25s_timing(docs, queries, ours_build, ours_ms))
    return timing


def bm25s_timing(
    docs: Sequence[Doc], queries: Sequence[str], ours_build: float, ours_ms: float
) -> dict[str, Any]:
    """The same for bm25s (eager sparse BM25 in memory) when it is installed; {} if not."""
    try:
        import bm25s
    except ImportError:
        return {}
    started = time.perf_counter()
    retriever = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    retriever.index([words(d.text) for d in docs], show_progress=False)
    build = time.perf_counter() - started
    started = time.perf_counter()
    for q in queries:
        retriever.retrieve([words(q) or ["\x00"]], k=min(10, len(docs)), show_progress=False)
    ms = (time.perf_counter() - started) * 1000 / max(len(queries), 1)
    return {
        "bm25s_version": str(getattr(bm25s, "__version__", "")),
        "bm25s_build_s": round(build, 3),
        "bm25s_query_ms": round(ms, 3),
        "bm25s_build_ratio": round(ours_build / build, 2) if build else None,
        "bm25s_query_ratio": round(ms / ours_ms, 2) if ours_ms else None,
    }
