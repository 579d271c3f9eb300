"""The generated benchmark sets hold what their ground truth says, and TF-IDF against a
slow twin."""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from pathlib import Path

import numpy as np

from corpustrace.eval.corpus import Doc, generated_corpus, read_jsonl_corpus
from corpustrace.eval.facts import FREQUENCIES, fact_set, near_miss, people
from corpustrace.eval.provenance import (
    KINDS,
    Piece,
    ProvenanceCase,
    edit,
    provenance_set,
    truth_level,
)
from corpustrace.eval.tfidf import TfidfCosine
from corpustrace.lexical.bm25 import words


def test_provenance_pieces_are_copied_from_their_documents() -> None:
    docs = generated_corpus(60, seed=1)
    cases = provenance_set(docs, 40, seed=2)
    assert len(cases) == 40 and {c.kind for c in cases} == set(KINDS)
    for case in cases:
        for p in case.pieces:
            assert case.response[p.start : p.end] in docs[p.doc].text
        if case.kind == "novel":
            assert not case.pieces
        if case.kind == "spliced":
            assert len(case.sources) == 2
    assert provenance_set(docs, 40, seed=2)[5].response == cases[5].response  # seeded


def test_edit_excludes_the_changed_word() -> None:
    text, copied = edit(random.Random(0), "Everest stands high above Nepal")
    assert len(copied) == 2
    (a, b), (c, d) = copied
    assert text[a:b] + text[b:c] + text[c:d] == text and text[b:c] not in ("", " ")
    assert edit(random.Random(0), "a b c") == ("a b c", [(0, 5)])


def test_truth_level_by_share_of_characters() -> None:
    case = ProvenanceCase("x", "", "aaaa bb", [Piece(0, 4, doc=3), Piece(5, 7, doc=4)])
    assert truth_level(case, 3) == "high"  # 4 of 6 non-space characters
    assert truth_level(case, 4) == "medium"
    assert truth_level(case, 9) == "low"


def test_fact_documents_state_their_fact_and_frequencies_hold() -> None:
    fs = fact_set(seed=0, per_frequency=2, fillers=20)
    assert len(fs.facts) == 2 * len(FREQUENCIES)
    assert Counter(f.frequency for f in fs.facts) == Counter(dict.fromkeys(FREQUENCIES, 2))
    for fact in fs.facts:
        assert len(fact.docs) == fact.frequency
        for d in fact.docs:
            assert fact.obj in fs.docs[d].text
        assert fact.subject.full in fact.prompt and fact.obj in fact.response
        held_out = fact.relation.answer.format(s=fact.subject.full, o=fact.obj)
        assert all(held_out not in fs.docs[d].text for d in fact.docs)
    assert [d.text for d in fact_set(seed=0, per_frequency=2, fillers=20).docs] == [
        d.text for d in fs.docs
    ]


def test_near_miss_changes_one_letter() -> None:
    person = people(random.Random(1), 1)[0]
    twin = near_miss(random.Random(2), person)
    assert twin.first == person.first and len(twin.last) == len(person.last)
    assert sum(a != b for a, b in zip(twin.last, person.last, strict=True)) == 1


def slow_tfidf(texts: list[str], query: str) -> list[float]:
    docs = [Counter(words(t)) for t in texts]
    n = len(docs)
    vocab = {w for d in docs for w in d}
    idf = {w: math.log((1 + n) / (1 + sum(w in d for d in docs))) + 1 for w in vocab}

    def vec(c: Counter[str]) -> dict[str, float]:
        v = {w: c[w] * idf[w] for w in c if w in idf}
        norm = math.sqrt(sum(x * x for x in v.values()))
        return {w: x / norm for w, x in v.items()} if norm else {}

    q = vec(Counter(words(query)))
    return [sum(q.get(w, 0.0) * x for w, x in vec(d).items()) for d in docs]


def test_tfidf_cosine_equals_the_slow_twin() -> None:
    rng = random.Random(5)
    vocab = ["snow", "river", "mill", "bread", "fish", "bridge"]
    for _ in range(20):
        texts = [" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 8))) for _ in range(8)]
        query = " ".join(rng.choice([*vocab, "none"]) for _ in range(3))
        model = TfidfCosine(texts)
        assert np.allclose(model.scores(query), slow_tfidf(texts, query))
        ranked = model.rank(query, 5)
        expected = slow_tfidf(texts, query)
        assert all(expected[d] > 0 for d in ranked)
        assert [expected[d] for d in ranked] == sorted((expected[d] for d in ranked), reverse=True)
    assert TfidfCosine([Doc("a", {}).text]).rank("zzz", 3) == []


def test_read_jsonl_corpus_keeps_metadata_and_samples(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    rows = [{"text": f"Text {i}.", "title": f"T{i}"} for i in range(5)] + [{"text": " "}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    docs = read_jsonl_corpus(path, limit=10)
    assert [d.text for d in docs] == [f"Text {i}." for i in range(5)]
    assert docs[0].meta == {"title": "T0"}
    sample = read_jsonl_corpus(path, limit=3, seed=1)
    assert len(sample) == 3 and sample == read_jsonl_corpus(path, limit=3, seed=1)
