"""Shards sorted side by side in processes of their own, against naive twins.

A full buffer of a large corpus is cut into shards whose suffix arrays are sorted by
child processes at once (`index/suffix_sort.py`). The sizes that trigger it are made
tiny here so that small random corpora take that path: every shard's suffix array must
equal a naive sort of its tokens, the documents and counts those of a one-shard build,
and a sorter that fails must fail the build without leaving a complete-looking index.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_build import brute_count, doc_tokens, index_count, naive_suffix_array

from corpustrace.errors import BuildError
from corpustrace.index import format as fmt
from corpustrace.index import shard_writer
from corpustrace.index.builder import BuildOptions, build
from corpustrace.index.reader import Index
from corpustrace.index.shard_counts import read_counts
from corpustrace.index.shard_writer import ShardBuffer, shard_unigram, split_buffer
from corpustrace.index.writer import build_from_tokens
from corpustrace.tokenizer_load import load_tokenizer


@pytest.fixture
def tiny_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shard_writer, "PART_MIN_POSITIONS", 40)
    monkeypatch.setattr(shard_writer, "PROCESS_MIN_POSITIONS", 40)


def random_docs(rng: random.Random, vocab: int) -> list[list[int]]:
    docs = []
    for _ in range(rng.randint(2, 30)):
        n = rng.choice([0, 1, 5, 30, 90])
        alphabet = rng.choice([2, 7, vocab])
        docs.append([rng.randrange(alphabet) for _ in range(n)])
    return docs


def filled(docs: list[list[int]], dtype: str = "<u2") -> ShardBuffer:
    buf = ShardBuffer(np.dtype(dtype), 65535)
    for i, d in enumerate(docs):
        buf.add(np.asarray(d, dtype=dtype), b'{"id": %d}' % i, (0, i + 1))
    return buf


@pytest.mark.parametrize("seed", range(12))
def test_split_keeps_every_document_in_order(seed: int, tiny_parts: None) -> None:
    rng = random.Random(seed)
    docs = random_docs(rng, 300)
    buf = filled(docs)
    parts = split_buffer(buf, rng.choice([2, 3, 5]))
    assert [c.tolist() for p in parts for c in p.chunks] == docs
    assert sum(p.n_positions for p in parts) == buf.n_positions
    assert all(p.n_docs for p in parts)
    done = 0
    for part in parts:
        assert part.n_positions == sum(1 + len(c) for c in part.chunks)
        done += part.n_docs
        assert part.source_end == (0, done)  # where a resumed build goes on
        if len(parts) > 1:
            assert part.n_positions >= 40 or part is parts[-1] or part.n_docs == 1


def test_a_small_buffer_stays_one_shard() -> None:
    buf = filled([[1, 2, 3]] * 5)
    assert split_buffer(buf, 2) == [buf]


@pytest.mark.parametrize("seed", range(10))
def test_side_by_side_shards_match_naive_twins(
    tmp_path: Path, seed: int, tiny_parts: None, bpe_path: Path
) -> None:
    rng = random.Random(seed)
    tok = load_tokenizer(bpe_path)  # 2-byte ids: the byte-level sort is filtered
    docs = random_docs(rng, tok.vocab_size)
    metas = [(d, {"id": str(i)}) for i, d in enumerate(docs)]
    build_from_tokens(tmp_path / "two", tok, metas, shard_tokens=10**6, sort_workers=2)
    build_from_tokens(tmp_path / "one", tok, metas, shard_tokens=10**6, sort_workers=1)
    two, one = Index.open(tmp_path / "two"), Index.open(tmp_path / "one")
    assert doc_tokens(two) == doc_tokens(one) == docs
    assert np.array_equal(two.unigram, one.unigram)
    if sum(1 + len(d) for d in docs) >= 80:
        assert len(two.shards) == 2
    for shard in two.shards:
        tokens = shard.tokens.tolist()
        assert shard.positions(np.arange(shard.n_tokens)).tolist() == naive_suffix_array(tokens)
        counts = np.bincount([t for t in tokens if t != 65535], minlength=tok.vocab_size)
        stored = read_counts(shard.path)
        assert stored.tolist() == counts.tolist()
    grams = [[1], [0, 0], [3, 1, 2], *([docs[0][:2]] if docs[0][:2] else [])]
    for gram in grams:
        assert index_count(two, gram) == brute_count(docs, gram)


def test_the_builder_sorts_side_by_side(tmp_path: Path, tiny_parts: None) -> None:
    src = tmp_path / "in.jsonl"
    rows = [f'{{"text": "river {i} mill {i % 7} bridge"}}' for i in range(60)]
    src.write_text("\n".join(rows) + "\n")
    build(BuildOptions([str(src)], tmp_path / "two", "bytes", workers=2, quiet=True))
    build(BuildOptions([str(src)], tmp_path / "one", "bytes", workers=1, quiet=True))
    two, one = Index.open(tmp_path / "two"), Index.open(tmp_path / "one")
    assert len(two.shards) == 2 and len(one.shards) == 1
    assert doc_tokens(two) == doc_tokens(one)
    assert np.array_equal(two.unigram, one.unigram)
    ends = [s.info.source_end for s in two.shards]
    assert ends[-1] == {"source": 0, "record": 60} and ends[0]["record"] < 60


def test_a_failing_sorter_fails_the_build_and_leaves_no_index(
    tmp_path: Path, tiny_parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(f'{{"text": "line {i} of the river"}}\n' for i in range(40)))

    def failing(*args: object) -> subprocess.Popen[bytes]:
        code = "import sys; sys.stderr.write('MemoryError: out of memory'); sys.exit(1)"
        return subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )

    monkeypatch.setattr(shard_writer, "start_sort", failing)
    out = tmp_path / "ix"
    fds = len(os.listdir("/proc/self/fd"))
    with pytest.raises(BuildError, match="suffix sort stopped with status 1: MemoryError"):
        build(BuildOptions([str(src)], out, "bytes", workers=2, quiet=True))
    assert len(os.listdir("/proc/self/fd")) <= fds  # every sorter reaped, its pipes closed
    assert not (out / fmt.MANIFEST).exists()
    assert not (out / fmt.shard_name(0)).exists()  # no shard renamed before all sorted
    monkeypatch.undo()
    monkeypatch.setattr(shard_writer, "PART_MIN_POSITIONS", 40)
    build(BuildOptions([str(src)], out, "bytes", workers=2, quiet=True))  # resumes
    assert len(doc_tokens(Index.open(out))) == 40


def test_a_sorter_whose_parent_is_gone_stops(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    np.arange(10, dtype="<u2").tofile(tokens)
    command = [sys.executable, "-m", "corpustrace.index.suffix_sort"]
    args = [str(tokens), "<u2", "1", str(tmp_path / "sa"), "1"]  # pid 1 is not its parent
    assert subprocess.run([*command, *args], check=False).returncode == 1
    assert not (tmp_path / "sa").exists()
    args[-1] = str(__import__("os").getpid())
    done = subprocess.run([*command, *args], check=True, capture_output=True)
    assert done.stdout == b"10"
    assert np.fromfile(tmp_path / "sa", dtype="u1").tolist() == list(range(10))


@pytest.mark.parametrize("dtype", ["<u1", "<u2", "<u4"])
def test_chunked_unigram_equals_bincount(dtype: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shard_writer, "UNIGRAM_CHUNK", 7)
    rng = np.random.default_rng(3)
    separator = np.iinfo(np.dtype(dtype)).max
    tokens = rng.integers(0, 50, 500).astype(dtype)
    tokens[rng.integers(0, 500, 40)] = separator
    want = np.bincount(tokens[tokens != separator], minlength=60)
    assert shard_unigram(tokens, separator, 60).tolist() == want.tolist()
