"""Whole-corpus lexical retrieval: BM25 over every document of an index (optional part)."""

from corpustrace.lexical.build import LexicalBuild, build_lexical
from corpustrace.lexical.search import LexicalHit, LexicalIndex, NoLexicalIndex

__all__ = ["LexicalBuild", "LexicalHit", "LexicalIndex", "NoLexicalIndex", "build_lexical"]
