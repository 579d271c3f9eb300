"""The engine against its brute-force twin at every storage width: 2- and 4-byte token ids
on random corpora, and suffix arrays of 3 bytes per position (shards over 65,536 positions)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from brute import Brute, Corpus, all_ngrams, build_engine, random_queries, scratch_dir
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models, pre_tokenizers

from corpustrace.engine import Engine
from corpustrace.tokenizer import Tokenizer
from corpustrace.tokenizer_load import load_tokenizer


def word_tokenizer(vocab_size: int) -> Tokenizer:
    vocab = {f"w{i}": i for i in range(vocab_size)}
    hf = HFTokenizer(models.WordLevel(vocab=vocab, unk_token="w0"))
    hf.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return Tokenizer(hf, "words")


def wide_corpus(rng: np.random.Generator, vocab_size: int) -> list[list[int]]:
    """Documents over a few ids, among them those whose bytes order differently when read
    little-endian (255 / 256, 65535 / 65536) and the largest id of the vocabulary."""
    edges = [i for i in (0, 1, 255, 256, 257, 65535, 65536, vocab_size - 1) if i < vocab_size]
    pool = sorted({*edges, *rng.integers(0, vocab_size, size=4).tolist()})
    alphabet = rng.choice(pool, size=int(rng.integers(2, min(6, len(pool)) + 1)), replace=False)
    docs: list[list[int]] = []
    for _ in range(int(rng.integers(1, 12))):
        kind = rng.integers(0, 6)
        if kind == 0:
            docs.append([])
        elif kind == 1:
            docs.append([int(rng.choice(alphabet))] * int(rng.integers(1, 25)))
        else:
            docs.append([int(t) for t in rng.choice(alphabet, size=int(rng.integers(2, 40)))])
    return docs


def check_against_brute(engine: Engine, docs: list[list[int]], rng: np.random.Generator) -> None:
    brute = Brute(docs)
    top = engine.tokenizer.vocab_size - 1
    queries = all_ngrams(docs, 3) + random_queries(rng, docs, 30, max_token=top)
    expected = [brute.count(q) for q in queries]
    assert engine.count_many(queries).tolist() == expected
    assert [engine.find(q).count for q in queries] == expected
    for q in queries[:: max(1, len(queries) // 12)]:
        occs = engine.occurrences(q, limit=10_000)
        found = []
        for o in occs:
            start, _ = engine.index.shards[o.shard].doc_span(o.local_doc)
            found.append((o.doc, o.position - start))
        assert sorted(found) == sorted(brute.occurrences(q))
        assert [(e.token, e.count) for e in engine.ntd(q).entries] == brute.ntd(q)
    for q in random_queries(rng, docs, 4, max_token=top):
        assert engine.longest_prefixes(q).tolist() == brute.longest_prefixes(q)


@pytest.mark.parametrize(("vocab_size", "width"), [(256, 2), (300, 2), (65535, 2), (70_000, 4)])
def test_wide_token_ids_match_brute_force(vocab_size: int, width: int) -> None:
    tok = word_tokenizer(vocab_size)
    assert tok.width == width
    rng = np.random.default_rng(vocab_size)
    with scratch_dir() as root:
        for i in range(10):
            docs = wide_corpus(rng, vocab_size)
            shard_tokens = int(rng.integers(3, 120))
            with build_engine(root / str(i), tok, docs, shard_tokens) as engine:
                assert engine.index.manifest.token_width == width
                check_against_brute(engine, docs, rng)


@pytest.fixture(scope="module", params=["bytes", 300, 70_000])
def big_shard(request: pytest.FixtureRequest) -> Iterator[Corpus]:
    """One shard of about 70,000 positions: its suffix array stores 3 bytes a position."""
    tok = load_tokenizer("bytes") if request.param == "bytes" else word_tokenizer(request.param)
    top = min(tok.vocab_size, tok.separator) - 1
    rng = np.random.default_rng(7)
    alphabet = [0, 1, 255 if top > 255 else 2, top]
    docs = [
        [int(t) for t in rng.choice(alphabet, size=int(rng.integers(0, 1400)))] for _ in range(100)
    ]
    docs.append([top] * 2000)  # a long run: deep common prefixes
    with scratch_dir() as root:
        engine = build_engine(root / "ix", tok, docs, shard_tokens=1 << 20)
        yield docs, Brute(docs), engine
        engine.close()


def test_three_byte_suffix_array_matches_brute_force(big_shard: Corpus) -> None:
    docs, brute, engine = big_shard
    (shard,) = engine.index.shards
    assert shard.n_tokens > 65_536 and shard.sa_width == 3
    positions = shard.positions(np.arange(shard.n_tokens))
    assert np.array_equal(np.sort(positions), np.arange(shard.n_tokens))  # a permutation
    rng = np.random.default_rng(11)
    top = min(engine.tokenizer.vocab_size, engine.tokenizer.separator) - 1
    # at most 16 tokens: a mutated copy of a whole document would make the twin scan for long
    short = [q[:16] for q in random_queries(rng, docs, 40, max_token=top)]
    queries = all_ngrams(docs[:3], 3)[:40] + short + [[top] * 1500]
    assert engine.count_many(queries).tolist() == [brute.count(q) for q in queries]
    for q in queries[::8]:
        assert engine.find(q).count == brute.count(q)
        occs = engine.occurrences(q, limit=100_000)
        found = sorted((o.doc, o.position - shard.doc_span(o.local_doc)[0]) for o in occs)
        assert found == sorted(brute.occurrences(q))
        assert [(e.token, e.count) for e in engine.ntd(q).entries] == brute.ntd(q)
    for q in short[:3]:
        assert engine.longest_prefixes(q).tolist() == brute.longest_prefixes(q)
