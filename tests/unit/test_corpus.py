"""Corpus readers: JSONL (plain/gz/zst), Parquet, text trees, input expansion, resume."""

from __future__ import annotations

import datetime as dt
import gzip
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from corpustrace.corpus import (
    Document,
    ReadStats,
    Source,
    expand_inputs,
    iter_documents,
)
from corpustrace.errors import CorpusError

# ---------------------------------------------------------------- helpers


def _line(item: Any) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode()
    return orjson.dumps(item)


def write_jsonl(path: Path, items: list[Any]) -> Path:
    """Write one line per item (dicts as JSON, str/bytes verbatim), compressed by suffix."""
    data = b"".join(_line(item) + b"\n" for item in items)
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    elif path.name.endswith((".zst", ".zstd")):
        data = zstandard.ZstdCompressor().compress(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_text(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def read_all(inputs: list[str], **kwargs: Any) -> list[Document]:
    return list(iter_documents(expand_inputs(inputs), **kwargs))


def texts(docs: list[Document]) -> list[str]:
    return [d.text for d in docs]


def key(doc: Document) -> tuple[Any, ...]:
    return (doc.source_index, doc.record, doc.text, orjson.dumps(doc.meta))


RECORDS: list[dict[str, Any]] = [
    {"text": "hello world", "id": "a1", "url": "http://x/1", "extra": {"k": [1, 2]}},
    {"text": "ünïcödé 日本語 🙂", "lang": "mixed"},
    {"text": "", "id": 7},
    {"text": "last", "score": 0.5, "flag": True, "none": None},
]


# ---------------------------------------------------------------- JSONL


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst", ".ndjson", ".json"])
def test_jsonl_formats_read_the_same(tmp_path: Path, suffix: str) -> None:
    path = write_jsonl(tmp_path / f"data{suffix}", RECORDS)
    docs = read_all([str(path)])
    assert texts(docs) == [r["text"] for r in RECORDS]
    assert [d.record for d in docs] == [0, 1, 2, 3]
    assert all(d.source_index == 0 for d in docs)
    first = docs[0].meta
    assert first == {
        "id": "a1",
        "source": str(path),
        "url": "http://x/1",
        "extra": {"k": [1, 2]},
    }
    assert list(first)[:2] == ["id", "source"]
    assert docs[1].meta["id"] == f"data{suffix}:2"
    assert docs[1].meta["lang"] == "mixed"
    assert docs[2].meta["id"] == "7"  # non-string ids are stringified
    assert docs[3].meta == {
        "id": f"data{suffix}:4",
        "source": str(path),
        "score": 0.5,
        "flag": True,
        "none": None,
    }
    orjson.dumps([d.meta for d in docs])  # JSON-serialisable


def test_jsonl_blank_lines_bom_crlf(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"text": "one"}\r\n\n   \n\t\r\n{"text": "two"}\r\n\n{"text": "three"}'
    )
    docs = read_all([str(path)])
    assert texts(docs) == ["one", "two", "three"]
    assert [d.record for d in docs] == [0, 1, 2]  # blank lines are not records
    assert [d.meta["id"] for d in docs] == ["b.jsonl:1", "b.jsonl:5", "b.jsonl:7"]


def test_jsonl_multi_frame_zst_and_multi_member_gz(tmp_path: Path) -> None:
    part1 = b'{"text": "a"}\n{"text": "b"}\n'
    part2 = b'{"text": "c"}\n'
    zst = tmp_path / "m.jsonl.zst"
    cctx = zstandard.ZstdCompressor()
    zst.write_bytes(cctx.compress(part1) + cctx.compress(part2))
    gz = tmp_path / "m.jsonl.gz"
    gz.write_bytes(gzip.compress(part1) + gzip.compress(part2))
    assert texts(read_all([str(zst)])) == ["a", "b", "c"]
    assert texts(read_all([str(gz)])) == ["a", "b", "c"]


def test_jsonl_large_zst_streams(tmp_path: Path) -> None:
    items = [{"text": f"document number {i} " + "x" * (i % 50), "n": i} for i in range(20000)]
    path = write_jsonl(tmp_path / "big.jsonl.zst", items)
    docs = read_all([str(path)])
    assert len(docs) == 20000
    assert docs[12345].meta["n"] == 12345
    assert docs[-1].text == items[-1]["text"]


def test_custom_text_field_and_record_source(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "c.jsonl",
        [{"content": "body", "text": "not the text", "source": "wikipedia", "id": None}],
    )
    (doc,) = read_all([str(path)], text_field="content")
    assert doc.text == "body"
    assert doc.meta == {
        "id": "c.jsonl:1",
        "source": str(path),
        "text": "not the text",
        "record_source": "wikipedia",
    }


BAD_LINES: list[tuple[bytes, str]] = [
    (b'{"text": "unterminated', "malformed JSON"),
    (b"[1, 2, 3]", "not a JSON object"),
    (b'"just a string"', "not a JSON object"),
    (b'{"body": "no text field"}', "missing text field 'text'"),
    (b'{"text": 42}', "is not a string"),
    (b'{"text": null}', "is not a string"),
    (b'{"text": "caf\xe9"}', "invalid UTF-8"),
]


@pytest.mark.parametrize(("bad", "reason"), BAD_LINES)
def test_bad_line_reports_file_and_line(tmp_path: Path, bad: bytes, reason: str) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [{"text": "ok"}, "", bad, {"text": "after"}])
    with pytest.raises(CorpusError) as info:
        read_all([str(path)])
    message = str(info.value)
    assert message.startswith(f"{path}:3: ")
    assert reason in message
    assert info.value.path == str(path)
    assert info.value.line == 3


@pytest.mark.parametrize(("bad", "reason"), BAD_LINES)
def test_bad_line_skipped_and_counted(tmp_path: Path, bad: bytes, reason: str) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [{"text": "ok"}, "", bad, {"text": "after"}])
    stats = ReadStats()
    docs = read_all([str(path)], skip_bad_lines=True, stats=stats)
    assert texts(docs) == ["ok", "after"]
    assert [d.record for d in docs] == [0, 2]  # the bad line keeps its record number
    assert stats.documents == 2
    assert stats.bad_lines == 1
    assert len(stats.bad_line_examples) == 1
    assert stats.bad_line_examples[0].startswith(f"{path}:3: ")
    assert reason in stats.bad_line_examples[0]


def test_bad_line_examples_capped(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "many_bad.jsonl", ["{nope"] * 25 + [{"text": "fine"}])
    stats = ReadStats()
    docs = read_all([str(path)], skip_bad_lines=True, stats=stats)
    assert texts(docs) == ["fine"]
    assert stats.bad_lines == 25
    assert len(stats.bad_line_examples) == 10
    assert stats.bad_line_examples[9].startswith(f"{path}:10: ")


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("corrupt.jsonl.gz", b"this is not gzip at all"),
        ("truncated.jsonl.gz", gzip.compress(b'{"text": "a"}\n' * 2000)[:-40]),
        ("corrupt.jsonl.zst", b"this is not zstd at all"),
        (
            "truncated.jsonl.zst",
            zstandard.ZstdCompressor().compress(os.urandom(300_000).hex().encode())[:-100],
        ),
    ],
)
def test_corrupt_compressed_stream(tmp_path: Path, name: str, payload: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(payload)
    with pytest.raises(CorpusError) as info:
        read_all([str(path)], skip_bad_lines=True)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------- Parquet


def test_parquet_reads_rows_and_converts_meta(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    table = pa.table(
        {
            "text": ["first", "", "third ✓"],
            "id": [10, None, 30],
            "when": pa.array(
                [dt.datetime(2024, 1, 2, 3, 4, 5), None, dt.datetime(2020, 5, 6)],
                type=pa.timestamp("us"),
            ),
            "day": [dt.date(2024, 1, 2), dt.date(2024, 1, 3), None],
            "blob": [b"\x00\x01", None, b"hi"],
            "price": pa.array([Decimal("1.50"), None, Decimal("2.25")], pa.decimal128(5, 2)),
            "ratio": [1.5, float("nan"), float("inf")],
            "tags": [["a", "b"], [], None],
            "nested": [{"x": 1}, {"x": 2}, None],
        }
    )
    pq.write_table(table, path, row_group_size=2)
    docs = read_all([str(path)])
    assert texts(docs) == ["first", "", "third ✓"]
    assert [d.record for d in docs] == [0, 1, 2]
    assert docs[0].meta == {
        "id": "10",
        "source": str(path),
        "when": "2024-01-02T03:04:05",
        "day": "2024-01-02",
        "blob": "AAE=",
        "price": "1.50",
        "ratio": 1.5,
        "tags": ["a", "b"],
        "nested": {"x": 1},
    }
    assert docs[1].meta["id"] == "p.parquet:2"
    assert docs[1].meta["ratio"] is None
    assert docs[2].meta["ratio"] is None
    orjson.dumps([d.meta for d in docs])


def test_parquet_missing_text_column(tmp_path: Path) -> None:
    path = tmp_path / "nocol.parquet"
    pq.write_table(pa.table({"body": ["x"]}), path)
    with pytest.raises(CorpusError) as info:
        read_all([str(path)], skip_bad_lines=True)
    assert str(path) in str(info.value)
    assert "missing text column 'text'" in str(info.value)


def test_parquet_bad_text_values(tmp_path: Path) -> None:
    path = tmp_path / "nulls.parquet"
    pq.write_table(pa.table({"text": ["a", None, "c"]}), path)
    with pytest.raises(CorpusError) as info:
        read_all([str(path)])
    assert str(info.value).startswith(f"{path}:2: ")
    stats = ReadStats()
    docs = read_all([str(path)], skip_bad_lines=True, stats=stats)
    assert [(d.text, d.record) for d in docs] == [("a", 0), ("c", 2)]
    assert stats.bad_lines == 1

    ints = tmp_path / "ints.parquet"
    pq.write_table(pa.table({"text": [1, 2]}), ints)
    with pytest.raises(CorpusError, match="not a string"):
        read_all([str(ints)])


def test_parquet_binary_text_column(tmp_path: Path) -> None:
    path = tmp_path / "bin.parquet"
    pq.write_table(pa.table({"text": pa.array([b"caf\xc3\xa9", b"\xff"], pa.binary())}), path)
    stats = ReadStats()
    docs = read_all([str(path)], skip_bad_lines=True, stats=stats)
    assert texts(docs) == ["café"]
    assert stats.bad_lines == 1


def test_parquet_corrupt_file(tmp_path: Path) -> None:
    path = write_text(tmp_path / "broken.parquet", b"PAR1 definitely not parquet")
    with pytest.raises(CorpusError) as info:
        read_all([str(path)])
    assert str(path) in str(info.value)


# ---------------------------------------------------------------- text trees


def make_tree(root: Path) -> None:
    write_text(root / "b.txt", "bee")
    write_text(root / "a.md", "ay ünï")
    write_text(root / "sub" / "c.txt", "see")
    write_text(root / "sub" / "deeper" / "d.txt", "")
    write_text(root / ".hidden.txt", "secret")
    write_text(root / ".git" / "config", "hidden dir")
    write_text(root / "z-bin.dat", b"abc\x00def")
    write_text(root / "latin1.txt", b"caf\xe9")


def test_text_directory(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    make_tree(root)
    sources = expand_inputs([str(root)])
    assert [s.path.relative_to(root).as_posix() for s in sources] == [
        "a.md",
        "b.txt",
        "latin1.txt",
        "sub/c.txt",
        "sub/deeper/d.txt",
        "z-bin.dat",
    ]
    assert all(s.kind == "text" and s.root == root for s in sources)
    stats = ReadStats()
    docs = list(iter_documents(sources, stats=stats))
    assert [d.meta["id"] for d in docs] == [
        "a.md",
        "b.txt",
        "latin1.txt",
        "sub/c.txt",
        "sub/deeper/d.txt",
    ]
    assert texts(docs) == ["ay ünï", "bee", "caf\ufffd", "see", ""]
    assert all(d.meta["source"] == str(root) for d in docs)
    assert all(d.record == 0 for d in docs)
    assert [d.source_index for d in docs] == [0, 1, 2, 3, 4]
    assert stats.binary_files == 1
    assert stats.documents == 5


def test_binary_file_keeps_its_source_index(tmp_path: Path) -> None:
    binary = write_text(tmp_path / "x.bin", b"\x00" * 10)
    after = write_text(tmp_path / "y.txt", "after")
    stats = ReadStats()
    docs = read_all([str(binary), str(after)], stats=stats)
    assert [(d.text, d.source_index) for d in docs] == [("after", 1)]
    assert docs[0].meta == {"id": "y.txt", "source": str(tmp_path)}
    assert stats.binary_files == 1


def test_directory_of_shards_reads_formats(tmp_path: Path) -> None:
    root = tmp_path / "shards"
    write_jsonl(root / "part-0.jsonl.gz", [{"text": "g"}])
    write_jsonl(root / "sub" / "part-1.jsonl.zst", [{"text": "z"}])
    pq.write_table(pa.table({"text": ["p"]}), root / "part-2.parquet")
    write_text(root / "notes.json", '{"pretty": true}')
    sources = expand_inputs([str(root)])
    assert [(s.path.name, s.kind) for s in sources] == [
        ("notes.json", "text"),
        ("part-0.jsonl.gz", "jsonl"),
        ("part-2.parquet", "parquet"),
        ("part-1.jsonl.zst", "jsonl"),
    ]
    docs = list(iter_documents(sources))
    assert texts(docs) == ['{"pretty": true}', "g", "p", "z"]
    assert docs[3].meta["id"] == "sub/part-1.jsonl.zst:1"


# ---------------------------------------------------------------- expand_inputs


def test_globs_sorted_and_input_order_kept(tmp_path: Path) -> None:
    for name in ["c", "a", "b"]:
        write_jsonl(tmp_path / "g" / f"{name}.jsonl", [{"text": name}])
    write_jsonl(tmp_path / "g" / "deep" / "d.jsonl", [{"text": "d"}])
    single = write_text(tmp_path / "first.txt", "first")
    sources = expand_inputs([str(single), str(tmp_path / "g" / "*.jsonl")])
    assert [s.path.name for s in sources] == ["first.txt", "a.jsonl", "b.jsonl", "c.jsonl"]
    assert sources[0] == Source(path=single, kind="text", root=tmp_path)
    assert [s.kind for s in sources[1:]] == ["jsonl"] * 3

    recursive = expand_inputs([str(tmp_path / "g" / "**" / "*.jsonl")])
    assert [s.path.relative_to(tmp_path / "g").as_posix() for s in recursive] == [
        "a.jsonl",
        "b.jsonl",
        "c.jsonl",
        "deep/d.jsonl",
    ]
    docs = list(iter_documents(recursive))
    assert docs[3].meta["id"] == "deep/d.jsonl:1"


def test_explicit_files_have_expected_kinds(tmp_path: Path) -> None:
    names = ["a.jsonl", "b.jsonl.gz", "c.jsonl.zst", "d.json", "e.ndjson", "f.parquet", "g.txt"]
    for name in names:
        write_text(tmp_path / name, b"")
    sources = expand_inputs([str(tmp_path / n) for n in names])
    assert [s.kind for s in sources] == ["jsonl"] * 5 + ["parquet", "text"]
    assert [s.root for s in sources] == [None] * 6 + [tmp_path]


def test_duplicates_are_read_once(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "dup.jsonl", [{"text": "once"}])
    sources = expand_inputs([str(path), str(tmp_path / "*.jsonl"), str(path)])
    assert len(sources) == 1


@pytest.mark.parametrize("missing", ["nope.jsonl", "nothing/*.jsonl", "**/*.nomatch", ""])
def test_nonexistent_input(tmp_path: Path, missing: str) -> None:
    target = str(tmp_path / missing) if missing else ""
    with pytest.raises(CorpusError, match="no such file or pattern"):
        expand_inputs([target])


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty" / ".hidden").mkdir(parents=True)
    with pytest.raises(CorpusError, match="no"):
        expand_inputs([str(tmp_path / "empty")])


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads everything")
def test_unreadable_input(tmp_path: Path) -> None:
    path = write_text(tmp_path / "locked.txt", "x")
    path.chmod(0)
    try:
        with pytest.raises(CorpusError, match=r"locked\.txt"):
            expand_inputs([str(path)])
    finally:
        path.chmod(0o644)


def test_file_vanishing_after_expansion(tmp_path: Path) -> None:
    path = write_text(tmp_path / "gone.txt", "x")
    sources = expand_inputs([str(path)])
    path.unlink()
    with pytest.raises(CorpusError, match=r"gone\.txt"):
        list(iter_documents(sources))


def test_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="unknown source kind"):
        list(iter_documents([Source(path=tmp_path / "x", kind="csv", root=None)]))


def test_many_files_in_order(tmp_path: Path) -> None:
    for i in range(150):
        write_jsonl(tmp_path / "many" / f"f{i:04d}.jsonl", [{"text": f"{i}-{j}"} for j in range(3)])
    docs = read_all([str(tmp_path / "many" / "*.jsonl")])
    assert texts(docs) == [f"{i}-{j}" for i in range(150) for j in range(3)]
    assert [d.source_index for d in docs] == [i for i in range(150) for _ in range(3)]


# ---------------------------------------------------------------- resume


def mixed_corpus(tmp_path: Path) -> list[Source]:
    write_jsonl(tmp_path / "m" / "0.jsonl", [{"text": "a0"}, "", {"text": "a1"}, "{bad", ""])
    write_jsonl(tmp_path / "m" / "1.jsonl.gz", ["", {"text": "b0"}, {"text": ""}, {"x": 1}])
    write_jsonl(tmp_path / "m" / "2.jsonl.zst", [{"text": f"c{i}"} for i in range(7)])
    write_jsonl(tmp_path / "m" / "3.jsonl", [])
    pq.write_table(
        pa.table({"text": [f"p{i}" if i != 4 else None for i in range(11)], "n": list(range(11))}),
        tmp_path / "m" / "4.parquet",
        row_group_size=3,
    )
    tree = tmp_path / "tree"
    write_text(tree / "t1.txt", "t1")
    write_text(tree / "t2.bin", b"\x00binary")
    write_text(tree / "t3.txt", "t3")
    return expand_inputs([str(tmp_path / "m" / "*"), str(tree)])


def test_resume_yields_exact_suffix(tmp_path: Path) -> None:
    sources = mixed_corpus(tmp_path)
    assert [s.kind for s in sources] == ["jsonl"] * 4 + ["parquet"] + ["text"] * 3
    full = list(iter_documents(sources, skip_bad_lines=True))
    assert len(full) == 2 + 2 + 7 + 10 + 2
    positions = [(d.source_index, d.record) for d in full]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)

    full_keys = [key(d) for d in full]
    for i, doc in enumerate(full):
        resumed = list(
            iter_documents(sources, skip_bad_lines=True, start=(doc.source_index, doc.record))
        )
        assert [key(d) for d in resumed] == full_keys[i:]

    # Every start position, including ones at bad records, blank gaps and past the end.
    for source_index in range(len(sources) + 1):
        for record in range(13):
            expected = [k for k in full_keys if (k[0], k[1]) >= (source_index, record)]
            resumed = list(
                iter_documents(sources, skip_bad_lines=True, start=(source_index, record))
            )
            assert [key(d) for d in resumed] == expected, (source_index, record)


def test_resume_does_not_open_or_parse_earlier_input(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "r" / "0.jsonl", [{"text": "x"}])
    write_jsonl(tmp_path / "r" / "1.jsonl", ["{broken", {"text": "y"}, {"text": "z"}])
    sources = expand_inputs([str(tmp_path / "r" / "*.jsonl")])
    (tmp_path / "r" / "0.jsonl").unlink()
    docs = list(iter_documents(sources, start=(1, 1)))
    assert [(d.text, d.source_index, d.record) for d in docs] == [("y", 1, 1), ("z", 1, 2)]


def test_start_must_be_non_negative(tmp_path: Path) -> None:
    sources = expand_inputs([str(write_jsonl(tmp_path / "s.jsonl", [{"text": "x"}]))])
    with pytest.raises(ValueError):
        list(iter_documents(sources, start=(0, -1)))


def test_stats_count_only_yielded_documents(tmp_path: Path) -> None:
    sources = mixed_corpus(tmp_path)
    stats = ReadStats()
    docs = list(iter_documents(sources, skip_bad_lines=True, stats=stats))
    assert stats.documents == len(docs)
    assert stats.bad_lines == 3  # "{bad", {"x": 1}, the null parquet text
    assert stats.binary_files == 1
