"""The builder against slow, obviously correct twins: naive suffix sort, brute-force counts."""

from __future__ import annotations

import bisect
import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models, pre_tokenizers

from corpustrace.errors import BuildError, CorpusError
from corpustrace.index import format as fmt
from corpustrace.index.builder import BuildOptions, build, shard_tokens_for
from corpustrace.index.reader import Index
from corpustrace.index.shard_writer import ShardBuffer
from corpustrace.index.writer import build_from_tokens, check_disk
from corpustrace.tokenizer import Tokenizer
from corpustrace.tokenizer_load import load_tokenizer


def naive_suffix_array(tokens: list[int]) -> list[int]:
    return sorted(range(len(tokens)), key=lambda p: tokens[p:])


def brute_count(docs: list[list[int]], gram: list[int]) -> int:
    n = len(gram)
    return sum(1 for d in docs for i in range(len(d) - n + 1) if d[i : i + n] == gram)


def index_count(index: Index, gram: list[int]) -> int:
    """Occurrences found through the suffix arrays (bisect over the sorted suffixes)."""
    total = 0
    for shard in index.shards:
        tokens = shard.tokens.tolist()
        suffixes = [tokens[p : p + len(gram)] for p in shard.positions(np.arange(shard.n_tokens))]
        total += bisect.bisect_right(suffixes, gram) - bisect.bisect_left(suffixes, gram)
    return total


def random_corpus(rng: random.Random) -> list[list[int]]:
    alphabet = rng.choice([2, 3, 5, 40])
    docs = []
    for _ in range(rng.randint(1, 25)):
        kind = rng.random()
        if kind < 0.1:
            docs.append([])
        elif kind < 0.2:
            docs.append([rng.randrange(alphabet)])
        elif kind < 0.3:
            docs.append([rng.randrange(alphabet)] * rng.randint(2, 40))
        else:
            docs.append([rng.randrange(alphabet) for _ in range(rng.randint(1, 60))])
    return docs


def doc_tokens(index: Index) -> list[list[int]]:
    out = []
    for shard in index.shards:
        for d in range(shard.n_docs):
            lo, hi = shard.doc_span(d)
            out.append(shard.tokens[lo:hi].tolist())
    return out


@pytest.mark.parametrize("seed", range(40))
def test_random_corpora_match_naive_twins(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    docs = random_corpus(rng)
    tok = load_tokenizer("bytes")
    shard_tokens = rng.choice([8, 30, 100, 10_000])
    build_from_tokens(
        tmp_path, tok, [(d, {"id": str(i)}) for i, d in enumerate(docs)], shard_tokens
    )
    index = Index.open(tmp_path)
    assert doc_tokens(index) == docs
    assert index.total_documents == len(docs)
    assert index.total_tokens == sum(map(len, docs))
    assert [index.locate(i)[0].doc_meta(index.locate(i)[1])["id"] for i in range(len(docs))] == [
        str(i) for i in range(len(docs))
    ]
    for shard in index.shards:
        tokens = shard.tokens.tolist()
        assert shard.positions(np.arange(shard.n_tokens)).tolist() == naive_suffix_array(tokens)
        assert tokens.count(tok.separator) == shard.n_docs
    expected = Counter(t for d in docs for t in d)
    assert {t: int(c) for t, c in enumerate(index.unigram) if c} == dict(expected)
    grams = {tuple(d[i : i + n]) for d in docs for n in (1, 2, 3, 5) for i in range(len(d) - n + 1)}
    grams |= {tuple(rng.randrange(6) for _ in range(rng.randint(1, 4))) for _ in range(20)}
    for gram in sorted(grams)[:150]:
        assert index_count(index, list(gram)) == brute_count(docs, list(gram)), gram


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def test_real_text_round_trips_through_bpe(
    tmp_path: Path, bpe_path: Path, sample_text: str
) -> None:
    lines = [line for line in sample_text.splitlines() if line.strip()]
    rows = [{"text": line, "id": f"p{i}", "lang": "mixed"} for i, line in enumerate(lines)]
    rows.append({"text": "", "id": "empty"})
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    result = build(
        BuildOptions([str(src)], tmp_path / "ix", str(bpe_path), shard_tokens=300, quiet=True)
    )
    index = Index.open(tmp_path / "ix")
    assert result.documents == len(rows) == index.total_documents
    assert len(index.shards) > 1
    tok = index.tokenizer
    assert [tok.decode(d) for d in doc_tokens(index)] == [r["text"] for r in rows]
    shard, local = index.locate(0)
    assert shard.doc_meta(local) == {"id": "p0", "lang": "mixed", "source": str(src)}
    docs = doc_tokens(index)
    for d in docs[:3]:
        for n in (1, 2, 4):
            for i in range(0, max(len(d) - n, 0), 7):
                assert index_count(index, d[i : i + n]) == brute_count(docs, d[i : i + n])


def test_wide_vocabulary_uses_four_byte_tokens(tmp_path: Path) -> None:
    vocab = {f"w{i}": i for i in range(70_000)}
    vocab["[UNK]"] = 70_000
    hf = HFTokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    hf.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    hf.save(str(tmp_path / "wide.json"))
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "w69999 w1 w69999 w1"}, {"text": "w1"}])
    build(BuildOptions([str(src)], tmp_path / "ix", str(tmp_path / "wide.json"), quiet=True))
    index = Index.open(tmp_path / "ix")
    assert index.manifest.token_width == 4
    assert doc_tokens(index) == [[69999, 1, 69999, 1], [1]]
    assert index_count(index, [69999, 1]) == 2


def test_vocabulary_of_256_gets_two_bytes(tmp_path: Path) -> None:
    """Id 255 is a real token of a 256-id vocabulary: one byte would make it the separator."""
    vocab = {f"w{i}": i for i in range(256)}
    hf = HFTokenizer(models.WordLevel(vocab=vocab, unk_token="w0"))
    hf.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    hf.save(str(tmp_path / "t.json"))
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "w1 w255 w255"}])
    build(BuildOptions([str(src)], tmp_path / "ix", str(tmp_path / "t.json"), quiet=True))
    index = Index.open(tmp_path / "ix")
    assert (index.manifest.token_width, index.separator) == (2, 65535)
    assert index_count(index, [255]) == 2


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text('{"text": "fine"}\n{"text": oops}\n{"text": "also fine"}\n')
    with pytest.raises(CorpusError, match=r"bad\.jsonl:2:"):
        build(BuildOptions([str(src)], tmp_path / "ix", "bytes", quiet=True))
    assert not (tmp_path / "ix" / fmt.MANIFEST).exists()
    result = build(
        BuildOptions([str(src)], tmp_path / "ix2", "bytes", skip_bad_lines=True, quiet=True)
    )
    assert result.documents == 2
    manifest = fmt.Manifest.load(tmp_path / "ix2")
    assert manifest.build["bad_lines"] == 1


def test_missing_text_field_and_empty_input(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"body": "no text here"}])
    with pytest.raises(CorpusError, match=r"in\.jsonl:1"):
        build(BuildOptions([str(src)], tmp_path / "a", "bytes", quiet=True))
    ok = build(BuildOptions([str(src)], tmp_path / "b", "bytes", text_field="body", quiet=True))
    assert ok.documents == 1
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(BuildError, match="no documents"):
        build(BuildOptions([str(empty)], tmp_path / "c", "bytes", quiet=True))
    assert not (tmp_path / "c" / fmt.MANIFEST).exists()
    with pytest.raises(CorpusError):
        build(BuildOptions([str(tmp_path / "nope-*.jsonl")], tmp_path / "d", "bytes", quiet=True))


def test_corrupt_compressed_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.jsonl.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage-not-gzip")
    with pytest.raises(CorpusError, match=r"broken\.jsonl\.gz"):
        build(BuildOptions([str(bad)], tmp_path / "ix", "bytes", quiet=True))


def test_empty_documents_are_kept(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": ""}, {"text": "a"}, {"text": ""}])
    build(BuildOptions([str(src)], tmp_path / "ix", "bytes", quiet=True))
    index = Index.open(tmp_path / "ix")
    assert doc_tokens(index) == [[], [97], []]


def test_too_little_disk_is_refused_before_writing(tmp_path: Path) -> None:
    buf = ShardBuffer(np.dtype("<u2"), 65535)
    buf.n_positions = 1 << 60  # a shard far larger than any disk
    with pytest.raises(BuildError, match="not enough disk space"):
        check_disk(tmp_path, buf, 2)


def test_append_equals_one_build(tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", [{"text": f"alpha {i} beta"} for i in range(30)])
    b = write_jsonl(tmp_path / "b.jsonl", [{"text": f"gamma {i} beta"} for i in range(20)])
    build(BuildOptions([str(a)], tmp_path / "ix", "bytes", shard_tokens=200, quiet=True))
    first = fmt.Manifest.load(tmp_path / "ix")
    build(BuildOptions([str(b)], tmp_path / "ix", None, append=True, shard_tokens=200, quiet=True))
    build(BuildOptions([str(a), str(b)], tmp_path / "one", "bytes", shard_tokens=10**6, quiet=True))
    grown, one = Index.open(tmp_path / "ix"), Index.open(tmp_path / "one")
    assert len(grown.shards) > len(first.shards)
    assert grown.shards[0].info.files == first.shards[0].files  # old shards untouched
    assert doc_tokens(grown) == doc_tokens(one)
    assert np.array_equal(grown.unigram, one.unigram)
    assert index_count(grown, list(b"beta")) == 50
    with pytest.raises(BuildError, match="already holds an index"):
        build(BuildOptions([str(b)], tmp_path / "ix", "bytes", quiet=True))
    with pytest.raises(BuildError, match="not adding them twice"):
        build(BuildOptions([str(b)], tmp_path / "ix", None, append=True, quiet=True))
    again = build(BuildOptions([str(a), str(b)], tmp_path / "one", "bytes", quiet=True))
    assert again.already_complete


def test_tokenizer_is_saved_and_loads_offline(tmp_path: Path, bpe_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "The river begins."}])
    build(BuildOptions([str(src)], tmp_path / "ix", str(bpe_path), quiet=True))
    saved = Tokenizer.from_index_dir(tmp_path / "ix" / fmt.TOKENIZER_DIR)
    original = load_tokenizer(bpe_path)
    assert (
        saved.encode("The river begins.").tolist() == original.encode("The river begins.").tolist()
    )


def test_shard_size_follows_memory_bound() -> None:
    small, large = shard_tokens_for(1 << 30, 2), shard_tokens_for(8 << 30, 2)
    assert 0 < small < large
    assert large * 9 * 2 <= 8 << 30


def test_every_input_format_builds_the_same_documents(tmp_path: Path) -> None:
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq
    import zstandard

    texts = ["first doc ünï", "", "third 🌊 doc"]
    lines = "".join(json.dumps({"text": t, "id": f"d{i}"}) + "\n" for i, t in enumerate(texts))
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(lines.encode()))
    (tmp_path / "b.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(lines.encode()))
    pq.write_table(pa.table({"text": texts, "id": ["p0", "p1", "p2"]}), tmp_path / "c.parquet")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    for i, t in enumerate(texts):
        (tree / "sub" / f"f{i}.txt").write_text(t, encoding="utf-8")
    for name, inputs in {
        "gz": [str(tmp_path / "a.jsonl.gz")],
        "zst": [str(tmp_path / "b.jsonl.zst")],
        "parquet": [str(tmp_path / "c.parquet")],
        "tree": [str(tree)],
    }.items():
        build(BuildOptions(inputs, tmp_path / f"ix-{name}", "bytes", quiet=True))
        index = Index.open(tmp_path / f"ix-{name}")
        assert [bytes(d).decode() for d in doc_tokens(index)] == texts, name
    tree_index = Index.open(tmp_path / "ix-tree")
    assert tree_index.shards[0].doc_meta(2)["id"] == "sub/f2.txt"
    everything = [str(tmp_path / "*.jsonl.*"), str(tmp_path / "c.parquet"), str(tree)]
    result = build(BuildOptions(everything, tmp_path / "ix-all", "bytes", quiet=True))
    assert result.documents == 12
    with pytest.raises(BuildError, match="among the inputs"):
        build(BuildOptions([str(tmp_path / "ix-all")], tmp_path / "ix-all", None, append=True))


@pytest.mark.parametrize("width_vocab", [200, 300, 70_000])
def test_suffix_array_written_in_small_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, width_vocab: int
) -> None:
    """The chunked filter of byte-level suffixes gives the same order for every width."""
    from corpustrace.index import suffix_sort

    monkeypatch.setattr(suffix_sort, "SA_CHUNK", 7)
    vocab = {f"w{i}": i for i in range(width_vocab)}
    hf = HFTokenizer(models.WordLevel(vocab=vocab, unk_token="w0"))
    hf.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = Tokenizer(hf, "words")
    rng = random.Random(width_vocab)
    # ids whose bytes order differently little- and big-endian (255 vs 256)
    big = [i for i in (width_vocab - 1, 255, 256, 1, 0) if i < width_vocab]
    docs = [[rng.choice(big) for _ in range(rng.randint(0, 30))] for _ in range(12)]
    build_from_tokens(tmp_path, tok, [(d, {}) for d in docs], shard_tokens=120)
    index = Index.open(tmp_path)
    for shard in index.shards:
        tokens = shard.tokens.tolist()
        assert shard.positions(np.arange(shard.n_tokens)).tolist() == naive_suffix_array(tokens)
