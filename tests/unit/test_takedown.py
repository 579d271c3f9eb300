"""Takedown without a rebuild (issue 10): a trace over a corpus with documents taken down
equals brute force over the corpus without them."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
from brute import Brute, build_engine

from corpustrace.errors import QueryError
from corpustrace.tokenizer_load import load_tokenizer
from corpustrace.trace import TraceParams, trace
from corpustrace.trace.takedown import Takedown, TakedownFile, TakedownRules, parse_takedown

BYTES = load_tokenizer("bytes")
EXACT = TraceParams(
    span_density=1,
    delimiters=(),
    word_boundaries=False,
    leading_space=False,
    max_documents_per_span=1000,
)


def brute_maximal(brute: Brute, ids: list[int]) -> list[tuple[int, int]]:
    longest = brute.longest_prefixes(ids)
    intervals = [(i, i + n) for i, n in enumerate(longest) if n]
    return [
        (s, e)
        for s, e in intervals
        if not any(c <= s and e <= d and (c, d) != (s, e) for c, d in intervals)
    ]


def test_trace_with_takedown_equals_brute_force_without_those_documents(tmp_path: Path) -> None:
    rng = random.Random(8)
    for case in range(10):
        texts = ["".join(rng.choice("abc") for _ in range(rng.randint(0, 30))) for _ in range(8)]
        docs = [list(t.encode()) for t in texts]
        engine = build_engine(tmp_path / str(case), BYTES, docs, shard_tokens=60)
        with engine:
            down = frozenset(rng.sample(range(len(docs)), rng.randint(1, 4)))
            takedown = Takedown.resolve(engine, TakedownRules(ids=down))
            assert takedown.docs == down
            kept = Brute([[] if i in down else d for i, d in enumerate(docs)])
            for _ in range(6):
                src = texts[rng.choice(sorted(down))]  # text from taken-down documents
                a = rng.randint(0, len(src))
                response = src[a : a + rng.randint(1, 20)] + rng.choice(["ab", "cc", ""])
                if not response:
                    continue
                ids = list(response.encode())
                result = trace(engine, response, params=EXACT, takedown=takedown)
                assert [(s.start, s.end) for s in result.spans] == brute_maximal(kept, ids)
                for span in result.spans:
                    assert span.count == kept.count(ids[span.start : span.end])
                    sources = {result.documents[d].doc for d in span.documents}
                    assert sources == {d for d, _ in kept.occurrences(ids[span.start : span.end])}
                assert not {d.doc for d in result.documents} & down


def test_parse_takedown_lines_and_metadata_matches(tmp_path: Path) -> None:
    rules = parse_takedown('# comment\n3\n\n{"url": "https://x.org/a"}\n 7 \n')
    assert rules.ids == {3, 7} and rules.matches == ({"url": "https://x.org/a"},)
    for bad in ("abc", "[1, 2]", "{}", "-4"):
        with pytest.raises(QueryError, match="line 1"):
            parse_takedown(bad)
    docs = [[1, 2, 3], [1, 2], [2, 3]]
    with build_engine(tmp_path / "m", BYTES, docs) as engine:
        takedown = Takedown.resolve(engine, parse_takedown('{"id": "doc-1"}\n99\n'))
        assert takedown.docs == {1}  # 99 does not exist: ignored


def test_takedown_file_is_reloaded_when_it_changes(tmp_path: Path) -> None:
    docs = [[1, 2, 3], [1, 2], [2, 3]]
    path = tmp_path / "takedown.txt"
    path.write_text("0\n", encoding="utf-8")
    file = TakedownFile(path)
    with build_engine(tmp_path / "f", BYTES, docs) as engine:
        first = file.current(engine)
        assert first.docs == {0} and file.current(engine) is first  # unchanged: kept
        path.write_text("0\n2\n", encoding="utf-8")
        later = time.time() + 5
        os.utime(path, (later, later))
        second = file.current(engine)
        assert second.docs == {0, 2} and second.version > first.version
