"""A damaged index is refused at open, or its damage is an IndexFormatError naming the file
when an answer reads it; never an IndexError, never a wrong document."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import servertools
from corpustrace.engine import Engine
from corpustrace.errors import IndexFormatError
from corpustrace.index import format as fmt
from corpustrace.index.reader import Index
from corpustrace.index.shard_counts import read_counts, write_counts
from corpustrace.index.writer import build_from_tokens
from corpustrace.tokenizer_load import load_tokenizer

SHARD = "shard-00000"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, bpe_path: Path) -> Path:
    """The fixture corpus under the fixture BPE (2-byte ids, vocabulary of 400), one shard."""
    tok = load_tokenizer(bpe_path)
    out = tmp_path_factory.mktemp("damage") / "index"
    build_from_tokens(out, tok, [(tok.encode(t), m) for t, m in servertools.corpus()])
    return out


@pytest.fixture
def copy(pristine: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "index"))


def write_at(path: Path, offset: int, data: bytes) -> None:
    with path.open("r+b") as fh:
        fh.seek(offset)
        fh.write(data)


def flip(path: Path, offset: int) -> None:
    raw = path.read_bytes()
    write_at(path, offset, bytes([raw[offset] ^ 0xFF]))


def refused(path: Path, name: str) -> str:
    with pytest.raises(IndexFormatError) as info:
        Index.open(path)
    message = str(info.value)
    assert name in message, message
    return message


def docs_of(index: Path) -> np.ndarray:
    return np.fromfile(index / SHARD / fmt.DOCS, dtype="<u8")


def test_the_pristine_index_opens(pristine: Path) -> None:
    with Index.open(pristine) as index:
        assert index.manifest.token_width == 2 and len(index.shards) == 1


@pytest.mark.parametrize("name", [fmt.TOKENS, fmt.SA, fmt.DOCS, fmt.META_OFFSETS, fmt.META])
def test_truncated_or_grown_shard_file_is_refused(copy: Path, name: str) -> None:
    path = copy / SHARD / name
    raw = path.read_bytes()
    path.write_bytes(raw[:-1])
    refused(copy, f"{SHARD}/{name}")
    path.write_bytes(raw + b"\0")
    refused(copy, f"{SHARD}/{name}")


@pytest.mark.parametrize("how", ["truncated", "empty", "longer"])
def test_unigram_of_the_wrong_length_is_refused(copy: Path, how: str) -> None:
    path = copy / fmt.UNIGRAM
    raw = path.read_bytes()
    path.write_bytes({"truncated": raw[:-8], "empty": b"", "longer": raw + bytes(8)}[how])
    # the manifest's recorded size is updated too: the structure alone must refuse it
    manifest = json.loads((copy / fmt.MANIFEST).read_text())
    manifest["files"][fmt.UNIGRAM]["bytes"] = path.stat().st_size
    (copy / fmt.MANIFEST).write_text(json.dumps(manifest))
    refused(copy, fmt.UNIGRAM)


def test_flipped_unigram_count_is_refused(copy: Path) -> None:
    counts = np.fromfile(copy / fmt.UNIGRAM, dtype="<u8")
    nonzero = int(np.flatnonzero(counts)[0])
    flip(copy / fmt.UNIGRAM, nonzero * 8)
    assert "sum" in refused(copy, fmt.UNIGRAM)


def relist(index: Path, old: str, new: str) -> None:
    """Record shard file `new` (as it now is) in place of `old` in shard.json and the
    manifest: a shard rewritten consistently, as a build of another version would."""
    path = index / SHARD / new
    entry = {"bytes": path.stat().st_size, "sha256": fmt.sha256_file(path)}
    for where, pick in ((index / SHARD / fmt.SHARD_INFO, None), (index / fmt.MANIFEST, 0)):
        data = json.loads(where.read_text())
        info = data if pick is None else data["shards"][pick]
        del info["files"][old]
        info["files"][new] = entry
        where.write_text(json.dumps(data))


def test_damaged_shard_counts_are_a_named_error(copy: Path) -> None:
    """The shard's own counts bound every single-n-gram search: counts that no longer sum
    to the shard's tokens, or a file that does not decompress, stop the search with an
    error naming the file (never a wrong count)."""
    path = copy / SHARD / fmt.SHARD_UNIGRAM
    counts = read_counts(copy / SHARD).copy()
    token = int(np.flatnonzero(counts)[0])
    counts[token] += 1
    write_counts(path, counts)
    relist(copy, fmt.SHARD_UNIGRAM, fmt.SHARD_UNIGRAM)
    with Engine.open(copy) as engine, pytest.raises(IndexFormatError, match=fmt.SHARD_UNIGRAM):
        engine.count([token])
    with Engine.open(copy) as engine, pytest.raises(IndexFormatError, match=fmt.SHARD_UNIGRAM):
        engine.count_many([[token], [token, token]])
    path.write_bytes(b"\0" * path.stat().st_size)
    with (
        Engine.open(copy) as engine,
        pytest.raises(IndexFormatError, match="damaged or unreadable"),
    ):
        engine.count([token])


def test_shards_written_with_plain_counts_still_open(copy: Path) -> None:
    """Indexes whose shards hold raw `unigram` (written before unigram.zst) open and
    count the same."""
    with Engine.open(copy) as engine:
        want = [engine.count([t]) for t in range(40)]
    read_counts(copy / SHARD).tofile(copy / SHARD / fmt.PLAIN_SHARD_UNIGRAM)
    (copy / SHARD / fmt.SHARD_UNIGRAM).unlink()
    relist(copy, fmt.SHARD_UNIGRAM, fmt.PLAIN_SHARD_UNIGRAM)
    with Engine.open(copy) as engine:
        assert [engine.count([t]) for t in range(40)] == want


def test_flipped_document_start_is_refused(copy: Path) -> None:
    flip(copy / SHARD / fmt.DOCS, 3 * 8)  # the low byte of document 3's start
    refused(copy, f"{SHARD}/{fmt.DOCS}")


def test_flipped_high_byte_of_document_start_is_refused(copy: Path) -> None:
    flip(copy / SHARD / fmt.DOCS, 5 * 8 + 7)
    refused(copy, f"{SHARD}/{fmt.DOCS}")


def test_flipped_separator_is_refused(copy: Path) -> None:
    start = int(docs_of(copy)[4])
    flip(copy / SHARD / fmt.TOKENS, start * 2)
    message = refused(copy, f"{SHARD}/{fmt.DOCS}")
    assert "no separator" in message and f"{SHARD}/{fmt.TOKENS}" in message


@pytest.mark.parametrize("byte", [0, 2, 9])
def test_flipped_metadata_offset_is_refused(copy: Path, byte: int) -> None:
    flip(copy / SHARD / fmt.META_OFFSETS, 8 * byte + (7 if byte == 9 else 0))
    refused(copy, f"{SHARD}/{fmt.META_OFFSETS}")


def test_shard_json_must_match_the_manifest(copy: Path) -> None:
    path = copy / SHARD / fmt.SHARD_INFO
    info = json.loads(path.read_text())
    info["documents"] += 1
    path.write_text(json.dumps(info))
    refused(copy, fmt.SHARD_INFO)
    path.write_text("{not json")
    refused(copy, fmt.SHARD_INFO)
    path.unlink()
    refused(copy, fmt.SHARD_INFO)


def test_shard_list_must_be_the_directories_present(copy: Path, bpe_path: Path) -> None:
    tok = load_tokenizer(bpe_path)
    three = copy.parent / "three"
    docs = [(tok.encode(t), m) for t, m in servertools.corpus()]
    build_from_tokens(three, tok, docs, shard_tokens=400)
    manifest = json.loads((three / fmt.MANIFEST).read_text())
    assert len(manifest["shards"]) >= 3
    last = dict(manifest, shards=manifest["shards"][:-1])  # the last shard dropped
    (three / fmt.MANIFEST).write_text(json.dumps(last))
    refused(three, "not in the manifest")
    middle = dict(manifest, shards=[manifest["shards"][0], *manifest["shards"][2:]])
    (three / fmt.MANIFEST).write_text(json.dumps(middle))
    refused(three, fmt.MANIFEST)
    (three / fmt.MANIFEST).write_text(json.dumps(manifest))
    shutil.rmtree(three / "shard-00001")
    refused(three, "shard-00001")


def test_flipped_token_is_a_named_error_when_read(copy: Path) -> None:
    start = int(docs_of(copy)[2])
    write_at(copy / SHARD / fmt.TOKENS, (start + 3) * 2, (60000).to_bytes(2, "little"))
    with Engine.open(copy) as engine:  # opening cannot see it: no scan of the tokens
        with pytest.raises(IndexFormatError, match=f"{SHARD}/{fmt.TOKENS}.*60000"):
            engine.document(2)
        assert engine.document(1).tokens.size  # other documents still answer
        with pytest.raises(IndexFormatError, match=fmt.TOKENS):
            engine.window(0, start + 1, 1, 10, 10)


def test_flipped_suffix_array_position_is_a_named_error(copy: Path) -> None:
    with Engine.open(copy) as engine:
        query = engine.tokenizer.encode(" the")
        lo, hi = engine.find(query).ranges[0]
        assert hi - lo > 3
    rank = (lo + hi) // 2
    flip(copy / SHARD / fmt.SA, rank * 2 + 1)  # high byte: a position past the shard
    with Engine.open(copy) as engine:
        with pytest.raises(IndexFormatError, match=f"{SHARD}/{fmt.SA}"):
            engine.search_documents(query, limit=100)
        with pytest.raises(IndexFormatError, match=f"{SHARD}/{fmt.SA}"):
            engine.occurrences(query, limit=100)


def test_moved_suffix_array_position_never_gives_a_wrong_document(copy: Path) -> None:
    """A rank moved to another position inside the shard: the binary search may miss it
    (the count is then off: only hashing finds that), but no hit is ever a document
    that does not hold the query."""
    with Engine.open(copy) as engine:
        query = engine.tokenizer.encode(" the")
        lo, hi = engine.find(query).ranges[0]
        other = int(engine.index.shards[0].position(0))  # a suffix that is not the query
    raw = (copy / SHARD / fmt.SA).read_bytes()
    named = 0
    for rank in range(lo, hi):
        write_at(copy / SHARD / fmt.SA, rank * 2, other.to_bytes(2, "little"))
        with Engine.open(copy) as engine:
            try:
                hits = engine.search_documents(query, limit=100).hits
            except IndexFormatError as exc:
                assert f"{SHARD}/{fmt.SA}" in str(exc)
                named += 1
            else:
                for hit in hits:
                    shard = engine.index.shards[hit.shard]
                    at = shard.tokens[hit.position : hit.position + len(query)]
                    assert at.tolist() == query.tolist()
        write_at(copy / SHARD / fmt.SA, 0, raw)
    assert named > 0


def test_metadata_that_is_not_json_is_a_named_error(copy: Path) -> None:
    offsets = np.fromfile(copy / SHARD / fmt.META_OFFSETS, dtype="<u8")
    flip(copy / SHARD / fmt.META, int(offsets[3]))  # the opening brace of document 3
    with Engine.open(copy) as engine:
        with pytest.raises(IndexFormatError, match=f"{SHARD}/{fmt.META}"):
            engine.doc_meta(3)
        assert engine.doc_meta(2)["id"] == "sample-2"


def test_closed_engine_refuses_queries(pristine: Path) -> None:
    engine = Engine.open(pristine)
    engine.close()
    with pytest.raises(IndexFormatError, match="closed"):
        engine.count([1])


def test_out_of_vocabulary_next_token_is_a_named_error(copy: Path) -> None:
    start = int(docs_of(copy)[2])
    with Engine.open(copy) as engine:
        prompt = engine.document(2).tokens[:3]
    write_at(copy / SHARD / fmt.TOKENS, (start + 4) * 2, (60000).to_bytes(2, "little"))
    with Engine.open(copy) as engine:
        with pytest.raises(IndexFormatError, match=f"{SHARD}/{fmt.TOKENS}.*60000"):
            engine.ntd(prompt)
        with pytest.raises(IndexFormatError, match=f"{SHARD}/{fmt.TOKENS}"):
            engine.ntd(prompt, max_support=1)


def test_closed_index_refuses_documents(pristine: Path) -> None:
    engine = Engine.open(pristine)
    engine.close()
    with pytest.raises(IndexFormatError, match="closed"):
        engine.document(0)


def test_separators_are_sampled_first_and_last_always(
    copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from corpustrace.index import checks

    monkeypatch.setattr(checks, "SEPARATOR_SAMPLE", 2)
    with Index.open(copy):
        pass
    last = int(docs_of(copy)[-1])
    flip(copy / SHARD / fmt.TOKENS, last * 2)
    refused(copy, f"{SHARD}/{fmt.DOCS}")
