"""Issue 9, points 1 and 2 in the library: a trace's sizes are bounded (typed errors that
name the limit), its memory stays bounded by them whatever the corpus repeats, and a
deadline stops the work soon after it passes."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import servertools
from corpustrace import deadline as deadlines
from corpustrace.deadline import Deadline
from corpustrace.engine.engine import Engine
from corpustrace.errors import DeadlineExceeded, LimitExceeded, QueryError
from corpustrace.tokenizer_load import load_tokenizer
from corpustrace.trace import TraceParams, trace
from corpustrace.trace.merge import find_all
from corpustrace.trace.params import (
    MAX_CONTEXT_TOKENS,
    MAX_DELIMITERS,
    MAX_DOCUMENTS_PER_SPAN,
    MAX_SNIPPET_TOKENS,
)

HOSTILE = {
    k: tuple(v) if isinstance(v, list) else v for k, v in servertools.HOSTILE_TRACE_OPTIONS.items()
}


@pytest.fixture(scope="module")
def repeated_engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    out = tmp_path_factory.mktemp("repeated") / "index"
    docs = servertools.repeated_corpus(times=2000)  # a document of 90,000 tokens
    servertools.build_index(out, load_tokenizer("bytes"), docs)
    return Engine.open(out)


@pytest.mark.parametrize(
    ("name", "limit"),
    [
        ("context_tokens", MAX_CONTEXT_TOKENS),
        ("snippet_tokens", MAX_SNIPPET_TOKENS),
        ("max_documents_per_span", MAX_DOCUMENTS_PER_SPAN),
    ],
)
def test_sizes_over_the_library_limits_are_refused(name: str, limit: int) -> None:
    TraceParams(**{name: limit})  # the limit itself is allowed
    with pytest.raises(LimitExceeded, match=f"{name} must be at most {limit}"):
        TraceParams(**{name: limit + 1})
    with pytest.raises(LimitExceeded):
        TraceParams(**{name: 10**40})


def test_other_integers_and_delimiters_are_bounded() -> None:
    for name in ("min_span_length", "max_frequency", "seed"):
        with pytest.raises(LimitExceeded, match=name):
            TraceParams(**{name: 2**64})
    with pytest.raises(LimitExceeded, match="delimiters"):
        TraceParams(delimiters=tuple(chr(0x4E00 + i) for i in range(MAX_DELIMITERS + 1)))
    with pytest.raises(LimitExceeded, match="delimiter"):
        TraceParams(delimiters=("x" * 1000,))
    assert issubclass(LimitExceeded, QueryError)  # every interface already reports these


def test_the_issue_request_is_refused_by_the_library(repeated_engine: Engine) -> None:
    text = servertools.repeated_text(2000)
    with pytest.raises(LimitExceeded, match="must be at most"):
        trace(repeated_engine, text, "", TraceParams(**HOSTILE))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32])
def test_find_all_matches_a_brute_force_twin(dtype: type[np.unsignedinteger]) -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        hay = rng.integers(0, 3, size=int(rng.integers(0, 40))).astype(dtype)
        if rng.random() < 0.5:  # values whose bytes can match out of alignment
            hay = (hay.astype(np.int64) * 257 + 1).astype(dtype)
        needle = hay[rng.integers(0, max(1, len(hay))) :][: int(rng.integers(0, 5))]
        if rng.random() < 0.3:
            needle = rng.integers(0, 3, size=int(rng.integers(1, 4))).astype(dtype)
        brute = [
            i
            for i in range(len(hay) - len(needle) + 1)
            if len(needle) and list(hay[i : i + len(needle)]) == list(needle)
        ]
        assert find_all(hay, needle) == brute, (hay, needle)


def test_find_all_memory_does_not_grow_with_the_needle_times_the_haystack() -> None:
    hay = np.frombuffer((servertools.REPEATED_SENTENCE * 2500).encode(), dtype=np.uint8)
    needle = hay[:4000].copy()
    tracemalloc.start()
    try:
        found = find_all(hay, needle)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(found) == (len(hay) - len(needle)) // len(servertools.REPEATED_SENTENCE) + 1
    assert peak < 20 * hay.nbytes, f"find_all peaked at {peak / 2**20:.1f} MiB"


def test_trace_memory_is_bounded_on_a_repeated_document(repeated_engine: Engine) -> None:
    """The widest context the library allows, one span of the whole text occurring
    ~2,000 times in one 90,000-token document: the peak stays bounded by the parameters
    (the context and the sampled windows), not by occurrences times span length."""
    params = {**HOSTILE, "context_tokens": MAX_CONTEXT_TOKENS, "snippet_tokens": 500}
    params["max_documents_per_span"] = 100
    text = servertools.repeated_text(1500)
    tracemalloc.start()
    try:
        result = trace(repeated_engine, text, "", TraceParams(**params))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.spans and result.documents[0].meta["id"] == "repeated"
    assert len(result.documents[0].context_spans) > 100  # every occurrence in it is marked
    assert peak < 60 * 2**20, f"the trace peaked at {peak / 2**20:.0f} MiB"


def test_a_deadline_stops_a_long_trace(repeated_engine: Engine) -> None:
    text = servertools.repeated_text(8000)  # several seconds of step 1 without a deadline
    params = TraceParams(span_density=1, delimiters=("\u0001",), word_boundaries=False)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match=r"time limit of 0\.2 s"):
        trace(repeated_engine, text, "", params, deadline=Deadline(0.2))
    assert time.monotonic() - started < 3.0


def test_a_cancelled_deadline_stops_engine_loops(repeated_engine: Engine) -> None:
    ids = repeated_engine.tokenizer.encode(servertools.repeated_text(500))
    token = Deadline()
    assert not token.expired
    token.cancel()
    with deadlines.active(token), pytest.raises(DeadlineExceeded):
        repeated_engine.longest_prefixes(ids)
    deadlines.check()  # outside: no deadline, nothing raised
    assert len(repeated_engine.longest_prefixes(ids)) == len(ids)


def test_an_ambient_deadline_reaches_the_engine_pool(tmp_path: Path) -> None:
    out = tmp_path / "index"
    tok = load_tokenizer("bytes")
    docs = [(tok.encode(t), m) for t, m in servertools.repeated_corpus(times=50)]
    from corpustrace.index.writer import build_from_tokens

    build_from_tokens(out, tok, docs, shard_tokens=1000)
    with Engine.open(out, threads=2) as engine:
        engine.parallel_min_positions = 0  # search the shards on the engine's pool
        token = Deadline()
        token.cancel()
        ids = tok.encode("quick brown")
        with deadlines.active(token), pytest.raises(DeadlineExceeded):
            engine.longest_prefixes(ids)
        assert len(engine.index.shards) > 1
        assert engine.longest_prefixes(ids).tolist()[0] == len(ids)
