"""n-gram probabilities, next-token distributions and ∞-gram back-off against brute force."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tokenizers
from brute import (
    Brute,
    Corpus,
    all_ngrams,
    build_engine,
    make_corpora,
    random_corpus,
    random_queries,
    scratch_dir,
)
from tokenizers import models

from corpustrace.engine import Engine, NtdResult
from corpustrace.errors import QueryError
from corpustrace.tokenizer import Tokenizer
from corpustrace.tokenizer_load import load_tokenizer


@pytest.fixture(scope="module")
def corpora() -> Iterator[list[Corpus]]:
    with scratch_dir() as root:
        out = make_corpora(root, load_tokenizer("bytes"), 30, seed=77)
        yield out
        for _, _, engine in out:
            engine.close()


def prompts_for(rng: np.random.Generator, docs: list[list[int]], count: int) -> list[list[int]]:
    grams = all_ngrams(docs, 3)
    picked = [grams[i] for i in rng.choice(len(grams), min(count, len(grams)), replace=False)]
    return [[], *picked, *random_queries(rng, docs, 3)]


def assert_ntd_equals_brute(result: NtdResult, brute: Brute, prompt: list[int]) -> None:
    expected = brute.ntd(prompt)
    assert [(e.token, e.count) for e in result.entries] == expected
    assert result.prompt_count == sum(c for _, c in expected)
    assert not result.approx
    if expected:
        assert sum(e.prob for e in result.entries) == pytest.approx(1.0)


def test_prob_matches_brute_force(corpora: list[Corpus]) -> None:
    rng = np.random.default_rng(1)
    for docs, brute, engine in corpora[:15]:
        symbols = sorted({t for d in docs for t in d})
        for prompt in prompts_for(rng, docs, 4):
            for token in [*symbols[:2], 200]:
                result = engine.prob(prompt, token)
                prompt_count, count = brute.prob(prompt, token)
                assert (result.prompt_count, result.count) == (prompt_count, count)
                if prompt_count:
                    assert result.prob == pytest.approx(count / prompt_count)
                else:
                    assert result.prob is None


def test_ntd_matches_brute_force(corpora: list[Corpus]) -> None:
    rng = np.random.default_rng(2)
    for docs, brute, engine in corpora:
        for prompt in prompts_for(rng, docs, 6):
            assert_ntd_equals_brute(engine.ntd(prompt), brute, prompt)


def test_ntd_of_the_empty_prompt_is_the_unigram_distribution(corpora: list[Corpus]) -> None:
    _docs, brute, engine = corpora[3]
    result = engine.ntd([])
    assert result.prompt_count == engine.total_tokens == brute.total_tokens
    assert_ntd_equals_brute(result, brute, [])


def test_ntd_samples_when_there_are_more_next_tokens_than_max_support(tmp_path: Path) -> None:
    """Many distinct continuations: the result is approximate, every listed count is exact,
    and no token that fills a whole sampling stride can be missed."""
    rng = np.random.default_rng(3)
    prompt = [7, 8]
    docs = [[*prompt, int(rng.integers(0, 120))] for _ in range(600)]
    docs += [[*prompt, 5] * 40, [1, 2, *prompt]]
    engine = build_engine(tmp_path, load_tokenizer("bytes"), docs, shard_tokens=400)
    brute = Brute(docs)
    exact = dict(brute.ntd(prompt))
    total = sum(exact.values())
    assert_ntd_equals_brute(engine.ntd(prompt, max_support=1000), brute, prompt)
    for support in (1, 5, 30):
        result = engine.ntd(prompt, max_support=support)
        assert result.approx and result.prompt_count == total
        assert result.entries and all(exact[e.token] == e.count for e in result.entries)
        assert all(e.prob == pytest.approx(e.count / total) for e in result.entries)
        stride = -(-total // support)
        listed = {e.token for e in result.entries}
        assert {t for t, c in exact.items() if c >= stride} <= listed
        assert len(listed) <= support
        assert ntd_pairs(result) == brute.ntd_capped(prompt, support)
    with pytest.raises(QueryError):
        engine.ntd(prompt, max_support=0)


def ntd_pairs(result: NtdResult) -> tuple[list[tuple[int, int]], bool]:
    return [(e.token, e.count) for e in result.entries], result.approx


def test_max_support_caps_the_merged_distribution_like_brute_force(
    corpora: list[Corpus],
) -> None:
    """Exact when the merged support fits, else the sample of the brute twin: never more
    than max_support tokens, whatever the number of shards."""
    rng = np.random.default_rng(11)
    for docs, brute, engine in corpora:
        for prompt in prompts_for(rng, docs, 6):
            for support in (1, 2, 3, 1000):
                result = engine.ntd(prompt, max_support=support)
                assert ntd_pairs(result) == brute.ntd_capped(prompt, support), (prompt, support)
                assert len(result.entries) <= support


def test_ntd_does_not_depend_on_the_sharding(tmp_path: Path) -> None:
    """The same corpus built as 1 and as 3 shards answers ntd and infgram_ntd identically,
    exact or capped (issue 10, point 7: the cap was applied per shard)."""
    rng = np.random.default_rng(12)
    docs = [rng.integers(0, 6, size=int(rng.integers(5, 60))).tolist() for _ in range(40)]
    docs += [[9, 1, int(t)] for t in rng.integers(10, 90, size=60)]
    total = sum(len(d) + 1 for d in docs)
    tok = load_tokenizer("bytes")
    one = build_engine(tmp_path / "one", tok, docs)
    three = build_engine(tmp_path / "three", tok, docs, shard_tokens=total // 3 + 1)
    assert len(one.shards) == 1 and len(three.shards) >= 3
    brute = Brute(docs)
    with one, three:
        for prompt in [[], [9, 1], [9], [1], *prompts_for(rng, docs, 20)]:
            for support in (1, 4, 7, 20, 1000):
                a, b = one.ntd(prompt, support), three.ntd(prompt, support)
                assert a == b, (prompt, support)
                assert ntd_pairs(a) == brute.ntd_capped(prompt, support)
                assert one.infgram_ntd(prompt, support) == three.infgram_ntd(prompt, support)


def test_infgram_backs_off_like_brute_force(corpora: list[Corpus]) -> None:
    rng = np.random.default_rng(4)
    for docs, brute, engine in corpora[:20]:
        for prompt in prompts_for(rng, docs, 3):
            prompt = [*random_queries(rng, docs, 1)[0], *prompt]
            suffix_len = brute.backoff(prompt)
            tail = prompt[len(prompt) - suffix_len :]
            token = int(rng.choice([t for d in docs for t in d] or [0]))
            result = engine.infgram_prob(prompt, token)
            prompt_count, count = brute.prob(tail, token)
            assert (result.suffix_len, result.prompt_count, result.count) == (
                suffix_len,
                prompt_count,
                count,
            )
            assert result.prob == (count / prompt_count if prompt_count else None)
            dist = engine.infgram_ntd(prompt)
            assert dist.suffix_len == suffix_len
            assert_ntd_equals_brute(dist.ntd, brute, tail)


def test_prompts_at_document_ends_do_not_count_as_continued(tmp_path: Path) -> None:
    docs = [[1, 2], [1, 2, 3], [4, 1, 2], [1, 2, 3, 1, 2]]
    engine = build_engine(tmp_path, load_tokenizer("bytes"), docs, shard_tokens=8)
    assert engine.count([1, 2]) == 5
    result = engine.prob([1, 2], 3)
    assert (result.prompt_count, result.count, result.prob) == (2, 2, 1.0)
    assert engine.infgram_prob([9, 1, 2], 3).suffix_len == 2
    assert engine.infgram_prob([2, 3], 1).suffix_len == 2
    assert engine.infgram_prob([3, 1, 2], 4).suffix_len == 2
    assert engine.infgram_ntd([1, 2, 3, 1, 2]).suffix_len == 2  # the whole prompt ends docs
    assert engine.ntd([4, 1, 2]) == NtdResult(prompt_count=0, entries=(), approx=False)
    assert engine.prob([9], 1).prob is None


def word_tokenizer(size: int) -> Tokenizer:
    """A word-level vocabulary of `size` tokens: ids need two bytes, separator 65535."""
    vocab = {f"w{i}": i for i in range(size)}
    return Tokenizer(tokenizers.Tokenizer(models.WordLevel(vocab, unk_token="w0")), "words")


def test_two_byte_tokens(tmp_path: Path) -> None:
    tokenizer = word_tokenizer(300)
    assert tokenizer.width == 2 and tokenizer.separator == 65535
    rng = np.random.default_rng(5)
    docs = [*random_corpus(rng, max_token=299), [299, 298, 0] * 5, [256, 257, 258]]
    engine = build_engine(tmp_path, tokenizer, docs, shard_tokens=25)
    brute = Brute(docs)
    queries = all_ngrams(docs, 3) + random_queries(rng, docs, 30, max_token=299)
    assert engine.count_many(queries).tolist() == [brute.count(q) for q in queries]
    for q in queries[::5]:
        assert engine.longest_prefixes(q).tolist() == brute.longest_prefixes(q)
        assert_ntd_equals_brute(engine.ntd(q), brute, q)
    for bad in ([300], [65535], [1, 70000]):
        with pytest.raises(QueryError):
            engine.count(bad)
    with pytest.raises(QueryError):
        engine.prob([1], 65535)


def test_many_threads_share_one_engine(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    docs = [rng.integers(0, 4, size=int(rng.integers(0, 60))).tolist() for _ in range(60)]
    engine = build_engine(tmp_path, load_tokenizer("bytes"), docs, shard_tokens=200, threads=3)
    engine.parallel_min_positions = 0  # force the thread pool even on a tiny index
    queries = random_queries(rng, docs, 8, max_token=4)
    expected = [
        (engine.count(q), engine.longest_prefixes(q).tolist(), engine.ntd(q)) for q in queries
    ]
    failures: list[str] = []

    def worker() -> None:
        for q, want in zip(queries, expected, strict=True):
            got = (engine.count(q), engine.longest_prefixes(q).tolist(), engine.ntd(q))
            if got != want:
                failures.append(f"{q}: {got} != {want}")

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    brute = Brute(docs)
    assert [w[0] for w in expected] == [brute.count(q) for q in queries]
    engine.close()


def test_engine_open_and_sizes(tmp_path: Path) -> None:
    docs = [[1, 2, 3], [], [4]]
    build_engine(tmp_path, load_tokenizer("bytes"), docs).close()
    with Engine.open(tmp_path, threads=1) as engine:
        assert engine.total_tokens == 4 == engine.count([])
        assert engine.tokenizer.vocab_size == 256
        assert engine.threads == 1
        assert len(engine.find([1]).ranges) == len(engine.index.shards)
