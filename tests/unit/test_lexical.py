"""The whole-corpus lexical index against a slow BM25 written out in plain Python."""

from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from corpustrace.engine import Engine
from corpustrace.index import format as fmt
from corpustrace.index.reader import Index
from corpustrace.index.verify import verify_index
from corpustrace.index.writer import build_from_tokens
from corpustrace.lexical import LexicalIndex, NoLexicalIndex, build_lexical
from corpustrace.lexical import search as lexical_search
from corpustrace.lexical.hits import describe, snippet_around, word_pattern
from corpustrace.tokenizer_load import load_tokenizer

BYTES = load_tokenizer("bytes")
VOCAB = ["Snow", "river", "mill", "bread", "fish", "bridge", "baker", "winter", "Ünïcode", "42"]


def make_index(path: Path, texts: list[str], shard_tokens: int = 1 << 20) -> Path:
    docs = [(BYTES.encode(t), {"id": f"d{i}", "title": f"T{i}"}) for i, t in enumerate(texts)]
    build_from_tokens(path, BYTES, docs, shard_tokens=shard_tokens)
    return path


def slow_bm25(texts: list[str], query: str, k1: float = 1.5, b: float = 0.75) -> list[float]:
    """Lucene-idf BM25 of every document, one loop per symbol of the formula."""

    def toks(text: str) -> list[str]:
        out, word = [], ""
        for ch in text.lower() + " ":
            if ch.isalnum() or ch == "_":
                word += ch
            elif word:
                out.append(word)
                word = ""
        return out

    docs = [toks(t) for t in texts]
    n = len(docs)
    avgdl = sum(len(d) for d in docs) / n
    scores = []
    for d in docs:
        total = 0.0
        for q in toks(query):
            df = sum(q in e for e in docs)
            if df == 0:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            tf = d.count(q)
            total += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avgdl))
        scores.append(total)
    return scores


def random_texts(rng: random.Random, n: int) -> list[str]:
    return [
        " ".join(
            rng.choice(VOCAB) + rng.choice(["", ",", ".", "!"]) for _ in range(rng.randint(0, 15))
        )
        for _ in range(n)
    ]


@pytest.mark.parametrize("dense", [True, False])
def test_scores_and_ranking_equal_the_slow_twin_on_random_corpora(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dense: bool
) -> None:
    monkeypatch.setattr(lexical_search, "DENSE_DOCS", 1 << 22 if dense else 0)
    rng = random.Random(3)
    for trial in range(8):
        texts = random_texts(rng, rng.randint(1, 40))
        path = make_index(tmp_path / f"ix{trial}", texts, shard_tokens=rng.choice([64, 1 << 20]))
        build_lexical(path)
        lexical = LexicalIndex.open(path)
        for _ in range(10):
            query = " ".join(rng.choice([*VOCAB, "absent"]) for _ in range(rng.randint(1, 5)))
            expected = np.asarray(slow_bm25(texts, query))
            docs, scores = lexical.scores(query)
            dense = np.zeros(len(texts))
            dense[docs] = scores
            assert np.allclose(dense, expected, rtol=1e-5, atol=1e-6)
            count, hits = lexical.search(query, limit=len(texts))
            assert count == int((expected > 0).sum())
            got = [h.score for h in hits]
            assert got == sorted(got, reverse=True)
            assert {h.doc for h in hits} == set(np.flatnonzero(expected > 0).tolist())
            for h in hits:
                assert h.score == pytest.approx(expected[h.doc], rel=1e-5)
            for k in (1, 3):
                assert lexical.search(query, limit=k)[1] == hits[:k]
                assert lexical.search(query, limit=k, offset=1)[1] == hits[1 : k + 1]
        assert verify_index(path).ok


def test_paging_ties_and_matched_words(tmp_path: Path) -> None:
    texts = ["snow river", "snow river", "snow", "bread"]
    path = make_index(tmp_path / "ix", texts)
    build_lexical(path)
    lexical = LexicalIndex.open(path)
    count, first = lexical.search("Snow RIVER", limit=2)
    assert count == 3 and [h.doc for h in first] == [0, 1]  # a tie ranks by document index
    assert first[0].matched == ("river", "snow")
    _, rest = lexical.search("snow river", limit=2, offset=2)
    assert [h.doc for h in rest] == [2] and rest[0].matched == ("snow",)
    assert lexical.search("nothing here", limit=3) == (0, [])
    assert lexical.search("", limit=3) == (0, [])
    with pytest.raises(Exception, match="limit"):
        lexical.search("snow", limit=0)


def test_hits_carry_metadata_and_a_marked_snippet(tmp_path: Path) -> None:
    texts = ["The river runs under the old bridge. " * 3, "Snow falls on the mill."]
    path = make_index(tmp_path / "ix", texts)
    build_lexical(path)
    lexical = LexicalIndex.open(path)
    with Engine.open(path, threads=1) as engine:
        _, hits = lexical.search("mill snow")
        doc = describe(engine, lexical, hits[0])
    assert doc.doc == 1 and doc.meta["title"] == "T1" and doc.shard == 0
    assert {doc.snippet[a:b].lower() for a, b in doc.marks} == {"snow", "mill"}
    text, marks = snippet_around("aa bb aa", "bb", word_pattern(["aa", "bb"]), 2)
    assert text == "a bb" and marks == [(2, 4)]
    assert word_pattern([]) is None


def test_index_without_lexical_part_opens_and_verifies(tmp_path: Path) -> None:
    path = make_index(tmp_path / "ix", ["snow river", "bread"])
    assert Index.open(path).manifest.lexical is None
    assert verify_index(path).ok
    with pytest.raises(NoLexicalIndex, match="lexical build"):
        LexicalIndex.open(path)


def test_manifest_records_the_part_and_rebuild_replaces_it(tmp_path: Path) -> None:
    path = make_index(tmp_path / "ix", ["snow river snow", "bread"])
    first = build_lexical(path)
    manifest = fmt.Manifest.load(path)
    assert manifest.lexical is not None
    assert manifest.lexical["documents"] == 2 and manifest.lexical["terms"] == first.terms == 3
    assert manifest.lexical["idf"] == "lucene" and first.postings == 3
    listed = {k for k in manifest.files if k.startswith("lexical/")}
    assert listed == {f"lexical/{n}" for n in fmt.LEXICAL_FILES}
    build_lexical(path)
    assert verify_index(path).ok
    assert not (path / ("lexical" + fmt.TMP_SUFFIX)).exists()


def test_verify_finds_damaged_lexical_arrays(tmp_path: Path) -> None:
    path = make_index(tmp_path / "ix", ["snow river", "bread river"])
    build_lexical(path)
    weights = path / "lexical" / fmt.LEX_WEIGHTS
    raw = bytearray(weights.read_bytes())
    raw[3] ^= 0x80  # the sign bit of the first weight
    weights.write_bytes(bytes(raw))
    report = verify_index(path)
    assert not report.ok and "SHA-256" in report.problems[0]
    assert verify_index(path, hashes=False).problems  # sizes fine, the weight is not positive


def test_verify_finds_inconsistent_postings_without_hashes(tmp_path: Path) -> None:
    path = make_index(tmp_path / "ix", ["snow river", "bread river", "snow"])
    build_lexical(path)
    docs = path / "lexical" / fmt.LEX_DOCS
    values = np.fromfile(docs, dtype="<u4")
    values[::-1].astype("<u4").tofile(docs)  # same size, order broken
    problems = verify_index(path, hashes=False).problems
    assert problems and "ascending" in problems[0]
    np.full(len(values), 99, dtype="<u4").tofile(docs)
    assert "does not exist" in verify_index(path, hashes=False).problems[0]


def test_words_counted_like_the_tokenizer_of_the_index(tmp_path: Path) -> None:
    path = make_index(tmp_path / "ix", ["Snow, snow; SNOW!", ""])
    build_lexical(path)
    lexical = LexicalIndex.open(path)
    assert lexical.doc_lengths.tolist() == [3, 0]
    docs, weights = lexical.postings("snow")
    assert docs.tolist() == [0] and weights[0] > 0
    assert Counter(lexical.vocab) == Counter({"snow": 0})
