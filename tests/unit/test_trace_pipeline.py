"""The trace pipeline end to end on real indexes and the real Engine (OLMoTrace,
Liu et al., 2025), against brute force where a twin exists."""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from corpustrace.engine import Engine
from corpustrace.index.writer import build_from_tokens
from corpustrace.tokenizer import Tokenizer
from corpustrace.tokenizer_load import load_tokenizer
from corpustrace.trace import TraceParams, TraceResult, trace
from corpustrace.trace.filter import unigram_logprob
from corpustrace.trace.rerank import level_of, rank_key

# leading_space off: these compare with the maximal spans of the response as typed.
EXACT = TraceParams(
    span_density=1, delimiters=(), word_boundaries=False, min_span_length=1, leading_space=False
)
AS_TYPED = TraceParams(leading_space=False)
SPANS_ONLY = dataclasses.replace(EXACT, max_documents_per_span=0)
STEPS = ("tokenize", "spans", "filter", "documents", "merge", "rerank", "total")
BYTES = load_tokenizer("bytes")


def make_engine(
    path: Path, texts: list[str], tokenizer: Tokenizer = BYTES, shard_tokens: int = 1 << 20
) -> Engine:
    docs = [(tokenizer.encode(t), {"id": f"d{i}", "text": t}) for i, t in enumerate(texts)]
    build_from_tokens(path, tokenizer, docs, shard_tokens=shard_tokens)
    return Engine.open(path, threads=1)


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    texts = [
        "The quick brown fox jumps over the lazy dog. It was a sunny day.",
        "A lazy dog sleeps all day.\nThe quick brown fox runs away.",
        "Nothing in common here, only zebra words and yaks.",
        "Café au lait and crème brûlée 😀 are French. The fox likes café.",
    ]
    engine = make_engine(tmp_path_factory.mktemp("story"), texts, shard_tokens=120)
    yield engine
    engine.close()


def check_consistent(result: TraceResult) -> None:
    """Invariants every trace must hold: offsets, cross references, JSON types."""
    json.dumps(result.to_dict())
    assert set(result.timings_ms) == set(STEPS)
    for span in result.spans:
        assert result.text[span.char_start : span.char_end] == span.text
        for d in span.documents:
            assert result.spans.index(span) in result.documents[d].spans
    for doc in result.documents:
        for snip in doc.snippets:
            assert snip.text[snip.char_start : snip.char_end] == result.spans[snip.span].text
        for mark in doc.context_spans:
            assert doc.context[mark.char_start : mark.char_end] == result.spans[mark.span].text
        assert {m.span for m in doc.context_spans} >= {doc.spans[0]}
    for h in result.highlights:
        assert result.text[h.char_start : h.char_end] == h.text
    ranking = result.params["ranking"]
    keys = [rank_key(d, ranking) for d in result.documents]
    assert keys == sorted(keys)


def slow_longest(docs: list[list[int]], ids: list[int]) -> list[int]:
    def occurs(seq: list[int]) -> bool:
        return any(d[k : k + len(seq)] == seq for d in docs for k in range(len(d)))

    out = []
    for i in range(len(ids)):
        n = 0
        while i + n < len(ids) and occurs(ids[i : i + n + 1]):
            n += 1
        out.append(n)
    return out


def test_exact_maximal_spans_against_brute_force(tmp_path: Path) -> None:
    rng = random.Random(3)
    for case in range(12):
        texts = ["".join(rng.choice("abc") for _ in range(rng.randint(0, 40))) for _ in range(6)]
        docs = [list(t.encode()) for t in texts]
        with make_engine(tmp_path / str(case), texts, shard_tokens=50) as engine:
            for _ in range(8):
                src = rng.choice(texts)
                a = rng.randint(0, len(src))
                response = rng.choice(["", "c"]) + src[a : a + rng.randint(0, 20)] + "ab"
                response += "".join(rng.choice("abcd") for _ in range(rng.randint(0, 8)))
                ids = list(response.encode())
                longest = slow_longest(docs, ids)
                intervals = [(i, i + n) for i, n in enumerate(longest) if n]
                maximal = [
                    (s, e)
                    for s, e in intervals
                    if not any(c <= s and e <= d and (c, d) != (s, e) for c, d in intervals)
                ]
                result = trace(engine, response, params=SPANS_ONLY)
                assert [(s.start, s.end) for s in result.spans] == maximal, response
                check_consistent(result)


def test_leading_space_spans_against_brute_force(tmp_path: Path) -> None:
    """With leading_space the spans are the maximal spans of " " + response (brute force),
    with character offsets moved back by one into the response; a span of the added space
    alone is dropped, and marks in snippets start after the space, as the span does."""
    rng = random.Random(5)
    params = dataclasses.replace(EXACT, leading_space=True)
    for case in range(10):
        texts = ["".join(rng.choice("ab ") for _ in range(rng.randint(0, 40))) for _ in range(6)]
        docs = [list(t.encode()) for t in texts]
        with make_engine(tmp_path / str(case), texts, shard_tokens=50) as engine:
            for _ in range(8):
                src = rng.choice(texts)
                a = rng.randint(0, len(src))
                response = "ab" + src[a : a + rng.randint(0, 20)].lstrip()
                ids = list((" " + response).encode())
                longest = slow_longest(docs, ids)
                intervals = [(i, i + n) for i, n in enumerate(longest) if n]
                maximal = [
                    (s, e)
                    for s, e in intervals
                    if not any(c <= s and e <= d and (c, d) != (s, e) for c, d in intervals)
                    and e > 1
                ]
                result = trace(engine, response, params=params)
                assert result.tokens == ids
                got = [(s.start, s.end, s.char_start, s.char_end) for s in result.spans]
                assert got == [(s, e, max(s - 1, 0), e - 1) for s, e in maximal], response
                check_consistent(result)


def test_leading_space_finds_the_first_word(tmp_path: Path) -> None:
    """The first word of a response matches its mid-sentence form (" Marie"), which a
    byte-level BPE gives another id than "Marie"; off, it matches only as typed."""
    texts = ["In 1903 Marie Curie was awarded the prize.", "Then Marie Curie was famous."] * 3
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    hf.train_from_iterator(texts * 3, trainer)
    tokenizer = Tokenizer(hf, "test-bpe")
    with make_engine(tmp_path / "marie", texts, tokenizer) as engine:
        response = "Marie Curie was famous."
        spaced = trace(engine, response, params=TraceParams(span_density=1))
        assert [(s.text, s.char_start) for s in spaced.spans] == [(response, 0)]
        assert spaced.spans[0].count == 3  # " Marie Curie was famous." x 3
        check_consistent(spaced)
        typed = trace(engine, response, params=AS_TYPED)
        assert response not in [s.text for s in typed.spans]


def test_empty_response(story: Engine) -> None:
    result = trace(story, "")
    assert (result.tokens, result.spans, result.highlights, result.documents) == ([], [], [], [])
    check_consistent(result)


def test_one_token_response(story: Engine) -> None:
    result = trace(story, "T", params=AS_TYPED)
    assert [(s.start, s.end, s.text) for s in result.spans] == [(0, 1, "T")]
    assert result.spans[0].count == story.count([ord("T")])
    check_consistent(result)


def test_unseen_tokens_get_no_span_and_score_minus_10000(story: Engine) -> None:
    result = trace(story, "XXX fox", params=EXACT)
    assert all(s.start >= 3 for s in result.spans)
    assert unigram_logprob(np.asarray([ord("X")]), story.index.unigram, 1000) == -10000
    check_consistent(result)


def test_defaults_cut_at_delimiters_and_keep_k_spans(story: Engine) -> None:
    response = "The quick brown fox jumps over the lazy dog. It was a sunny day, said the fox."
    result = trace(story, response, params=AS_TYPED)
    assert len(result.spans) <= -(-len(result.tokens) * 5 // 100)  # ceil(0.05 * L)
    assert result.spans and result.spans[0].text == "The quick brown fox jumps over the lazy dog."
    assert all("." not in s.text[:-1] for s in result.spans)
    check_consistent(result)


def test_response_longer_than_any_document(story: Engine) -> None:
    response = " ".join(["The quick brown fox jumps over the lazy dog."] * 6)
    result = trace(story, response, params=TraceParams(span_density=1, leading_space=False))
    sentence = "The quick brown fox jumps over the lazy dog."
    # between the sentences " The " matches ("French. The fox"): a span overlapping both
    assert [s.text for s in result.spans] == [sentence, " The "] * 5 + [sentence]
    check_consistent(result)


def test_unicode_offsets_with_a_trained_bpe(tmp_path: Path) -> None:
    texts = [
        "Crème brûlée 😀 is a dessert. Naïve cafés serve it 🍮 daily.",
        "Zoë met 😀 at the café.",
    ]
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    hf.train_from_iterator(texts * 3, trainer)
    tokenizer = Tokenizer(hf, "test-bpe")
    with make_engine(tmp_path / "bpe", texts, tokenizer) as engine:
        response = "Honestly, crème brûlée 😀 is a dessert that Zoë met 😀 at the café."
        result = trace(engine, response, "what is crème brûlée?", TraceParams(span_density=1))
        texts_found = [s.text for s in result.spans]
        assert " brûlée 😀 is a dessert" in texts_found
        assert "Zoë met 😀 at the café." in texts_found
        check_consistent(result)


def test_overlapping_spans_become_one_highlight(tmp_path: Path) -> None:
    with make_engine(tmp_path / "ov", ["xxabcdyy", "zzcdefzz"]) as engine:
        result = trace(engine, "abcdef", params=EXACT)
        assert [(s.start, s.end) for s in result.spans] == [(0, 4), (2, 6)]
        assert [(h.start, h.end, h.text, h.spans) for h in result.highlights] == [
            (0, 6, "abcdef", [0, 1])
        ]
        check_consistent(result)


def test_one_document_holds_all_its_spans(tmp_path: Path) -> None:
    doc = "alpha beta gamma. delta epsilon zeta."
    with make_engine(tmp_path / "one", [doc, "unrelated text"]) as engine:
        params = TraceParams(span_density=1, context_tokens=5, snippet_tokens=3)
        result = trace(engine, "alpha beta gamma. delta epsilon zeta.", params=params)
        assert [s.text for s in result.spans] == ["alpha beta gamma.", " delta epsilon zeta."]
        (document,) = [d for d in result.documents if d.doc == 0]
        assert document.spans == [0, 1] and len(document.snippets) == 2
        # windows of 5 tokens each side overlap: the context is their union
        assert document.context == doc
        assert [m.span for m in document.context_spans] == [0, 1]
        assert document.meta == {"id": "d0", "text": doc}
        check_consistent(result)


def test_far_apart_spans_keep_the_first_spans_window(tmp_path: Path) -> None:
    doc = "alpha beta gamma." + " filler" * 40 + " delta epsilon zeta."
    with make_engine(tmp_path / "far", [doc]) as engine:
        params = TraceParams(span_density=1, context_tokens=3)
        result = trace(engine, "alpha beta gamma. delta epsilon zeta.", params=params)
        (document,) = result.documents
        assert document.context == "alpha beta gamma. fi"
        assert [m.span for m in document.context_spans] == [0]
        check_consistent(result)


def test_sampling_is_seeded_when_a_span_is_frequent(tmp_path: Path) -> None:
    texts = [f"doc {i} says: rare phrase here, number {i}" for i in range(40)]
    with make_engine(tmp_path / "many", texts, shard_tokens=400) as engine:
        assert len(engine.index.shards) > 1
        response = "someone says: rare phrase here, indeed"

        def docs_for(seed: int) -> list[int]:
            params = TraceParams(span_density=1, seed=seed)
            result = trace(engine, response, params=params)
            check_consistent(result)
            (span,) = [s for s in result.spans if "rare phrase" in s.text]
            assert span.count == 40 and len(span.documents) == 10
            return sorted(result.documents[d].doc for d in span.documents)

        assert docs_for(0) == docs_for(0)
        assert docs_for(0) != docs_for(1)


def test_span_in_every_shard(tmp_path: Path) -> None:
    texts = [f"shared words {i}" + " pad" * 10 for i in range(8)]
    with make_engine(tmp_path / "every", texts, shard_tokens=60) as engine:
        n_shards = len(engine.index.shards)
        assert n_shards >= 4
        params = TraceParams(span_density=1, max_documents_per_span=100)
        result = trace(engine, "the shared words are here", params=params)
        (span,) = [s for s in result.spans if s.text == "shared words "]
        assert span.count == 8
        assert {result.documents[d].shard for d in span.documents} == set(range(n_shards))
        check_consistent(result)


def test_spans_at_the_first_and_last_suffix_array_rank(tmp_path: Path) -> None:
    texts = ["\t\tstart of things", "middle", "end of things ~~~"]
    with make_engine(tmp_path / "ranks", texts) as engine:
        shard = engine.index.shards[0]
        first = shard.tokens[shard.position(0) :][:2].tolist()
        last_real = shard.n_tokens - shard.n_docs - 1
        last = shard.tokens[shard.position(last_real) :][:3].tolist()
        assert bytes(first) == b"\t\t" and bytes(last) == b"~~~"
        result = trace(engine, "\t\tstart? ~~~", params=EXACT)
        texts_found = [s.text for s in result.spans]
        assert "\t\tstart" in texts_found and " ~~~" in texts_found
        check_consistent(result)


def test_bm25_relevance_and_levels_in_the_pipeline(story: Engine) -> None:
    prompt = "Tell me about the fox"
    response = "The quick brown fox jumps over the lazy dog. The fox likes café."
    result = trace(story, response, prompt, TraceParams(span_density=1, ranking="olmotrace"))
    contexts = [d.context for d in result.documents]
    assert len(contexts) >= 2
    query = (prompt + " " + response).lower().split()
    expected = BM25Okapi([c.lower().split() for c in contexts], k1=1.5, b=0.75).get_scores(query)
    assert np.allclose([d.bm25 for d in result.documents], expected)
    for d in result.documents:
        assert d.relevance == pytest.approx(np.clip(d.bm25 / (0.18 * len(response)), 0, 1))
        assert d.level == level_of(d.relevance)
    for span in result.spans:
        levels = {result.documents[i].level for i in span.documents}
        assert span.level in levels
    check_consistent(result)


def test_result_to_dict_has_the_public_names(story: Engine) -> None:
    data = trace(story, "the lazy dog", "prompt").to_dict()
    assert set(data) == {
        "tokens",
        "text",
        "prompt",
        "params",
        "spans",
        "highlights",
        "documents",
        "timings_ms",
    }
    assert data["params"]["delimiters"] == ["\n", "."]
    span = data["spans"][0]
    assert set(span) == {
        "start",
        "end",
        "char_start",
        "char_end",
        "text",
        "count",
        "unigram_logprob",
        "level",
        "documents",
    }
    doc = data["documents"][0]
    assert set(doc) == {
        "doc",
        "shard",
        "meta",
        "bm25",
        "relevance",
        "level",
        "spans",
        "snippets",
        "context",
        "context_spans",
        "index",
        "repeats",
        "repeat_docs",
    }
    assert set(doc["snippets"][0]) == {"text", "span", "char_start", "char_end"}
    assert set(doc["context_spans"][0]) == {"span", "char_start", "char_end"}
    assert set(data["highlights"][0]) == {
        "char_start",
        "char_end",
        "start",
        "end",
        "text",
        "level",
        "spans",
    }


def test_filter_keeps_the_k_least_likely_spans(story: Engine) -> None:
    response = (
        "A lazy dog sleeps. The quick brown fox runs away, over the lazy dog, on a sunny day."
    )
    every = trace(story, response, params=TraceParams(span_density=1)).spans
    kept = trace(story, response, params=TraceParams()).spans
    k = -(-len(story.tokenizer.encode(response)) // 20)  # ceil(0.05 * L)
    assert 0 < k < len(every)
    lowest = sorted(every, key=lambda s: (s.unigram_logprob, s.start))[:k]
    assert [(s.start, s.end) for s in kept] == sorted((s.start, s.end) for s in lowest)


def test_max_frequency_drops_common_spans(story: Engine) -> None:
    params = TraceParams(span_density=1, word_boundaries=False, delimiters=())
    spans = trace(story, "e lazy", params=params).spans
    assert [s.text for s in spans] == ["e lazy"]
    rare = dataclasses.replace(params, max_frequency=1)
    assert all(s.count <= 1 for s in trace(story, "e lazy", params=rare).spans)
    assert trace(story, "e", params=rare).spans == []


def test_batched_find_equals_one_at_a_time(story: Engine) -> None:
    grams = [story.tokenizer.encode(t) for t in ["the", "fox", "é", "The quick", "zzzz", " "]]
    assert story.find_many(grams) == [story.find(g) for g in grams]
    assert [f.count for f in story.find_many(grams)] == story.count_many(grams).tolist()
