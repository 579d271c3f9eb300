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

DENSE_DOCS = 1 << 22  # up to this many documents a query scores into a dense array


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
        # Plain ndarray views of the memory maps: np.memmap's subclass hooks cost more than
        # the gathers themselves on the many small slices a query takes.
        self.offsets = plain(open_array(directory / fmt.LEX_TERM_OFFSETS, "<u8"))
        self.docs = plain(open_array(directory / fmt.LEX_DOCS, "<u4"))
        self.weights = plain(open_array(directory / fmt.LEX_WEIGHTS, "<f4"))
        self.doc_lengths = plain(open_array(directory / fmt.LEX_DOC_LENGTHS, "<u4"))
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

    def query_postings(self, query: str) -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
        """(documents, weights, times in the query) of each query word the corpus has."""
        out = {}
        for word, n in Counter(words(query)).items():
            docs, weights = self.postings(word)
            if len(docs):
                out[word] = (docs, weights, n)
        return out

    def scores(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """(documents with a positive score, their scores), documents ascending."""
        return self._scores(self.query_postings(query))

    def _scores(
        self, parts: dict[str, tuple[np.ndarray, np.ndarray, int]]
    ) -> tuple[np.ndarray, np.ndarray]:
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        docs = [d for d, _, _ in parts.values()]
        weights = np.concatenate([w.astype(np.float64) * n for _, w, n in parts.values()])
        touched = np.concatenate(docs)
        if self.n_docs <= DENSE_DOCS:  # one pass over a dense array beats sorting postings
            dense = np.bincount(touched, weights=weights, minlength=self.n_docs)
            found = np.flatnonzero(dense > 0)
            return found.astype(np.int64), dense[found]
        found, where = np.unique(touched, return_inverse=True)
        return found.astype(np.int64), np.bincount(where, weights=weights)

    def search(self, query: str, limit: int = 10, offset: int = 0) -> tuple[int, list[LexicalHit]]:
        """(documents matching any query word, one page of them by score, best first)."""
        if limit < 1 or offset < 0:
            raise QueryError("limit must be at least 1 and offset not negative")
        parts = self.query_postings(query)
        docs, scores = self._scores(parts)
        order = top_order(docs, scores, offset + limit)[offset:]
        page = docs[order]
        matched = matched_terms({w: d for w, (d, _, _) in sorted(parts.items())}, page)
        hits = [
            LexicalHit(doc=int(d), score=float(scores[i]), matched=tuple(m))
            for i, d, m in zip(order, page, matched, strict=True)
        ]
        return len(docs), hits


def plain(array: np.ndarray) -> np.ndarray:
    return array.view(np.ndarray)


def matched_terms(postings: dict[str, np.ndarray], docs: np.ndarray) -> list[list[str]]:
    """For each document, the terms (in the mapping's order) whose postings hold it."""
    out: list[list[str]] = [[] for _ in range(len(docs))]
    if not len(docs):
        return out
    for term, found in postings.items():
        at = np.minimum(np.searchsorted(found, docs), len(found) - 1)
        for k in np.flatnonzero(found[at] == docs):
            out[int(k)].append(term)
    return out


def top_order(docs: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best (score descending, then document ascending), in that order."""
    if k < len(scores):
        # Everything scoring at least the k-th best score, ties included, then sorted.
        kth = np.partition(-scores, k - 1)[k - 1]
        keep = np.flatnonzero(-scores <= kth)
        return keep[np.lexsort((docs[keep], -scores[keep]))][:k]
    return np.lexsort((docs, -scores))
