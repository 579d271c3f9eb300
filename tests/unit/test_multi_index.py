"""Several indexes as one corpus (issue 10): the engine over indexes A, B, C answers
exactly as brute force over the concatenation of their documents."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from brute import Brute, random_corpus, random_queries, scratch_dir

from corpustrace.engine import Engine
from corpustrace.errors import IndexFormatError
from corpustrace.index.writer import build_from_tokens
from corpustrace.tokenizer_load import load_tokenizer
from corpustrace.trace import TraceParams, trace

BYTES = load_tokenizer("bytes")


def build(path: Path, docs: list[list[int]], first: int, shard_tokens: int) -> Path:
    metas = [{"id": f"doc-{first + i}"} for i in range(len(docs))]
    build_from_tokens(path, BYTES, zip(docs, metas, strict=True), shard_tokens=shard_tokens)
    return path


def test_three_indexes_answer_like_brute_force_over_their_concatenation() -> None:
    rng = np.random.default_rng(21)
    with scratch_dir() as root:
        for case in range(8):
            parts = [random_corpus(rng) for _ in range(3)]
            paths, first = [], 0
            for k, docs in enumerate(parts):
                shard_tokens = int(rng.integers(3, 120))
                paths.append(build(root / f"{case}-{k}" / f"phase{k}", docs, first, shard_tokens))
                first += len(docs)
            every = [d for docs in parts for d in docs]
            brute = Brute(every)
            with Engine.open(paths) as engine:
                assert engine.index.total_documents == len(every)
                assert engine.total_tokens == sum(len(d) for d in every)
                unigram = np.bincount([t for d in every for t in d], minlength=BYTES.vocab_size)
                assert np.array_equal(np.asarray(engine.index.unigram)[: len(unigram)], unigram)
                queries = random_queries(rng, every, 12)
                assert engine.count_many(queries).tolist() == [brute.count(q) for q in queries]
                for q in queries:
                    assert engine.longest_prefixes(q).tolist() == brute.longest_prefixes(q)
                    for support in (1, 3, 1000):
                        result = engine.ntd(q, support)
                        got = [(e.token, e.count) for e in result.entries]
                        assert (got, result.approx) == brute.ntd_capped(q, support)
                for doc in range(len(every)):
                    view = engine.document(doc)
                    assert view.tokens.tolist() == every[doc]
                    assert view.meta["id"] == f"doc-{doc}"
                    phase = next(k for k in range(3) if doc < sum(len(p) for p in parts[: k + 1]))
                    assert engine.index_name(doc) == f"phase{phase}"


def test_a_trace_over_several_indexes_equals_one_over_their_union(tmp_path: Path) -> None:
    texts = [
        ["The river begins in the mountains.", "A mill stands by the river."],
        ["The mill grinds grain all day.", "Bakers buy flour at the mill."],
        ["In spring the river floods the meadow by the mill."],
    ]
    flat = [t for part in texts for t in part]
    paths, first = [], 0
    for k, part in enumerate(texts):
        paths.append(build(tmp_path / f"p{k}", [BYTES.encode(t).tolist() for t in part], first, 64))
        first += len(part)
    union = build(tmp_path / "union", [BYTES.encode(t).tolist() for t in flat], 0, 1 << 20)
    params = TraceParams(span_density=1, max_documents_per_span=100)
    response = "At the mill, the river floods the meadow by the mill. Bakers buy flour."
    with Engine.open(paths) as several, Engine.open(union) as one:
        a, b = trace(several, response, params=params), trace(one, response, params=params)
        assert [(s.start, s.end, s.count) for s in a.spans] == [
            (s.start, s.end, s.count) for s in b.spans
        ]
        assert sorted(d.doc for d in a.documents) == sorted(d.doc for d in b.documents)
        names = {d.doc: d.index for d in a.documents}
        assert names and all(
            names[doc] == f"p{0 if doc < 2 else 1 if doc < 4 else 2}" for doc in names
        )
        assert {d.index for d in b.documents} == {"union"}


def test_indexes_with_different_tokenizers_are_refused(tmp_path: Path, bpe_path: Path) -> None:
    a = build(tmp_path / "a", [[1, 2, 3]], 0, 1 << 20)
    bpe = load_tokenizer(bpe_path)
    b = tmp_path / "b"
    build_from_tokens(b, bpe, [(bpe.encode("the river"), {"id": "x"})])
    with pytest.raises(IndexFormatError, match=r"another tokenizer.*must share one tokenizer"):
        Engine.open([a, b])
