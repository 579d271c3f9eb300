"""Query the lexical part of an index: BM25 over every document, from memory-mapped arrays.

score(D, Q) = sum over the query's words q (repeats counted) of weight(q, D), the
BM25 weight stored at build time (see lexical/bm25.py for the formula). Only the
postings of the query's words are read; ties rank by document index.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from corpustrace.errors import IndexFormatError, NotFound, QueryError
from corpustrace.index import format as fmt
from corpustrace.index.reader import open_array
from corpustrace.lexical.bm25 import words


class NoLexicalIndex(NotFound):
    """The index has no lexical part (build it with `corpustrace lexical build`)."""

    code = "no_lexical_index"


@dataclass(frozen=True)
class LexicalHit:
    doc: int  # global document index
    score: float
    matched: tuple[str, ...]  # the query's words found in the document


class LexicalIndex:
    """The `lexical/` arrays of one index, opened read-only (memory maps)."""

    def __init__(self, directory: Path, info: dict[str, Any]) -> None:
        self.info = info
        self.offsets: np.ndarray = open_array(directory / fmt.LEX_TERM_OFFSETS, "<u8")
        self.docs: np.ndarray = open_array(directory / fmt.LEX_DOCS, "<u4")
        self.weights: np.ndarray = open_array(directory / fmt.LEX_WEIGHTS, "<f4")
        self.doc_lengths: np.ndarray = open_array(directory / fmt.LEX_DOC_LENGTHS, "<u4")
        raw = (directory / fmt.LEX_TERMS).read_bytes().decode("utf-8")
        terms = raw.split("\n") if raw else []
        self.vocab = {t: i for i, t in enumerate(terms)}
        if len(self.offsets) != len(terms) + 1 or len(self.docs) != len(self.weights):
            raise IndexFormatError(f"{directory}: lexical arrays disagree (run verify)")

    @classmethod
    def open(cls, index_path: str | Path) -> LexicalIndex:
        path = Path(index_path)
        manifest = fmt.Manifest.load(path)
        if manifest.lexical is None:
            raise NoLexicalIndex(
                f"{path}: no lexical index; build it with `corpustrace lexical build {path}`"
            )
        return cls(path / fmt.LEXICAL_DIR, manifest.lexical)

    @property
    def n_docs(self) -> int:
        return len(self.doc_lengths)

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """(documents, weights) of a term; empty when the corpus never has it."""
        t = self.vocab.get(term)
        if t is None:
            return np.zeros(0, np.uint32), np.zeros(0, np.float32)
        lo, hi = int(self.offsets[t]), int(self.offsets[t + 1])
        return self.docs[lo:hi], self.weights[lo:hi]

    def scores(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """(documents with a positive score, their scores), documents ascending."""
        counts = Counter(words(query))
        parts = [(self.postings(w), n) for w, n in counts.items()]
        docs = [d for (d, _), _ in parts if len(d)]
        if not docs:
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        weights = [w.astype(np.float64) * n for (d, w), n in parts if len(d)]
        found, where = np.unique(np.concatenate(docs), return_inverse=True)
        return found.astype(np.int64), np.bincount(where, weights=np.concatenate(weights))

    def search(self, query: str, limit: int = 10, offset: int = 0) -> tuple[int, list[LexicalHit]]:
        """(documents matching any query word, one page of them by score, best first)."""
        if limit < 1 or offset < 0:
            raise QueryError("limit must be at least 1 and offset not negative")
        docs, scores = self.scores(query)
        order = np.lexsort((docs, -scores))[offset : offset + limit]
        query_words = set(words(query))
        hits = [
            LexicalHit(
                doc=int(docs[i]),
                score=float(scores[i]),
                matched=tuple(sorted(w for w in query_words if self.contains(w, int(docs[i])))),
            )
            for i in order
        ]
        return len(docs), hits

    def contains(self, term: str, doc: int) -> bool:
        found, _ = self.postings(term)
        i = int(np.searchsorted(found, doc))
        return i < len(found) and int(found[i]) == doc
