"""Build the lexical part of an index: BM25 postings over every document, as raw arrays.

The layout is bm25s's (Lù, 2024, "BM25S: Orders of magnitude faster lexical search via
eager sparse scoring"): the BM25 weight of each (term, document) pair is computed once at
build time, so a query only sums the weights of its terms' postings. Documents are the
index's own, decoded with its tokenizer and split by `bm25.words`; idf is Lucene's.
Build memory grows with the number of postings (about 16 bytes each, plus the vocabulary).
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from corpustrace.errors import IndexFormatError
from corpustrace.index import format as fmt
from corpustrace.index.reader import Index
from corpustrace.lexical.bm25 import K1, B, idf_lucene, term_saturation, words


@dataclass
class LexicalBuild:
    documents: int
    terms: int
    postings: int
    seconds: float
    bytes: int


class Postings(NamedTuple):
    terms: list[str]
    term_ids: np.ndarray
    docs: np.ndarray
    tfs: np.ndarray
    lengths: np.ndarray  # words per document


def document_texts(index: Index) -> Iterator[str]:
    """Every document's text, in global document order."""
    decode = index.tokenizer.decode
    for shard in index.shards:
        for local in range(shard.n_docs):
            start, end = shard.doc_span(local)
            yield decode(shard.tokens[start:end])


def postings_of(texts: Iterator[str]) -> Postings:
    """Terms, and (term id, document, term frequency) of every posting in document order."""
    vocab: dict[str, int] = {}
    term_parts: list[np.ndarray] = []
    tf_parts: list[np.ndarray] = []
    lengths: list[int] = []
    for text in texts:
        counts = Counter(words(text))
        lengths.append(sum(counts.values()))
        term_parts.append(
            np.fromiter((vocab.setdefault(w, len(vocab)) for w in counts), np.uint32, len(counts))
        )
        tf_parts.append(np.fromiter(counts.values(), np.uint32, len(counts)))
    sizes = np.asarray([len(p) for p in term_parts], dtype=np.int64)
    docs = np.repeat(np.arange(len(lengths), dtype=np.uint32), sizes)
    term_ids = np.concatenate(term_parts) if term_parts else np.zeros(0, np.uint32)
    tfs = np.concatenate(tf_parts) if tf_parts else np.zeros(0, np.uint32)
    terms = sorted(vocab, key=vocab.__getitem__)
    return Postings(terms, term_ids, docs, tfs, np.asarray(lengths, dtype=np.uint32))


def build_lexical(path: str | Path, k1: float = K1, b: float = B) -> LexicalBuild:
    """Write `lexical/` inside the finished index at `path` and record it in the manifest
    (replacing a lexical part built before)."""
    started = time.monotonic()
    path = Path(path)
    index = Index.open(path)
    terms, term_ids, docs, tfs, lengths = postings_of(document_texts(index))
    n_docs = len(lengths)
    if n_docs != index.total_documents:
        raise IndexFormatError(f"{path}: read {n_docs} documents, manifest says otherwise")
    if any("\n" in t for t in terms):
        raise IndexFormatError("a lexical term holds a newline")  # \w+ never does
    df = np.bincount(term_ids, minlength=len(terms)).astype(np.int64)
    order = np.argsort(term_ids, kind="stable")  # by term, documents ascending within each
    avgdl = float(lengths.mean()) if n_docs and lengths.sum() else 1.0
    weights = idf_lucene(df, n_docs)[term_ids[order]] * term_saturation(
        tfs[order], lengths[docs[order]], avgdl, k1, b
    )
    offsets = np.concatenate([[0], np.cumsum(df)]).astype("<u8")
    arrays = {
        fmt.LEX_TERMS: "\n".join(terms).encode("utf-8"),
        fmt.LEX_TERM_OFFSETS: offsets.tobytes(),
        fmt.LEX_DOCS: docs[order].astype("<u4").tobytes(),
        fmt.LEX_WEIGHTS: weights.astype("<f4").tobytes(),
        fmt.LEX_DOC_LENGTHS: lengths.astype("<u4").tobytes(),
    }
    files = write_dir(path / fmt.LEXICAL_DIR, arrays)
    manifest = fmt.Manifest.load(path)
    manifest.files = {
        k: v for k, v in manifest.files.items() if not k.startswith(fmt.LEXICAL_DIR + "/")
    }
    manifest.files.update(files)
    seconds = time.monotonic() - started
    manifest.lexical = {
        "scoring": "bm25",
        "idf": "lucene",
        "k1": k1,
        "b": b,
        "words": r"lower-cased \w+ runs",
        "documents": n_docs,
        "terms": len(terms),
        "postings": len(order),
        "avgdl": avgdl,
        "build_seconds": round(seconds, 3),
    }
    fmt.write_json_atomic(path / fmt.MANIFEST, manifest.to_json())
    size = sum(f.bytes for f in files.values())
    return LexicalBuild(n_docs, len(terms), len(order), seconds, size)


def write_dir(directory: Path, arrays: dict[str, bytes]) -> dict[str, fmt.FileInfo]:
    """Write the files into a temporary directory, then swap it in; their FileInfo."""
    tmp = directory.with_name(directory.name + fmt.TMP_SUFFIX)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, data in arrays.items():
        (tmp / name).write_bytes(data)
    shutil.rmtree(directory, ignore_errors=True)
    tmp.rename(directory)
    return {
        f"{fmt.LEXICAL_DIR}/{name}": fmt.FileInfo(
            bytes=(directory / name).stat().st_size, sha256=fmt.sha256_file(directory / name)
        )
        for name in arrays
    }
