"""Lexical hits with what a person reads: the document's metadata and a snippet.

The snippet is a window of the document's text around the first occurrence of the
matched query word that is rarest in the corpus, with every matched word marked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from corpustrace.lexical.search import LexicalHit, LexicalIndex

if TYPE_CHECKING:
    from corpustrace.engine.protocol import SearchEngine

SNIPPET_CHARS = 160  # each side of the anchor word
READ_TOKENS = 4000  # tokens of a document read to find the anchor word


@dataclass
class LexicalDocument:
    doc: int
    shard: int
    score: float
    meta: dict[str, Any]
    matched: list[str]
    snippet: str
    marks: list[tuple[int, int]] = field(default_factory=list)  # matched words in `snippet`


def word_pattern(terms: list[str]) -> re.Pattern[str] | None:
    """Whole-word, case-insensitive matcher of any of the terms."""
    if not terms:
        return None
    alternatives = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def snippet_around(
    text: str, rarest: str | None, pattern: re.Pattern[str] | None, each_side: int
) -> tuple[str, list[tuple[int, int]]]:
    """A window of `text` around the first whole-word occurrence of `rarest`, and marks."""
    anchor = 0
    if rarest is not None:
        first = re.search(rf"(?<!\w){re.escape(rarest)}(?!\w)", text, re.IGNORECASE)
        anchor = first.start() if first else 0
    lo, hi = max(0, anchor - each_side), min(len(text), anchor + each_side)
    window = text[lo:hi]
    marks = [(m.start(), m.end()) for m in pattern.finditer(window)] if pattern else []
    return window, marks


def describe(
    engine: SearchEngine, lexical: LexicalIndex, hit: LexicalHit, each_side: int = SNIPPET_CHARS
) -> LexicalDocument:
    """The hit with its document's shard, metadata and a marked snippet."""
    view = engine.document(hit.doc, 0, READ_TOKENS)
    text = engine.tokenizer.decode(view.tokens)
    terms = list(hit.matched)
    rarest = min(terms, key=lambda t: len(lexical.postings(t)[0])) if terms else None
    snippet, marks = snippet_around(text, rarest, word_pattern(terms), each_side)
    return LexicalDocument(
        doc=hit.doc,
        shard=view.shard,
        score=hit.score,
        meta=view.meta,
        matched=terms,
        snippet=snippet,
        marks=marks,
    )
