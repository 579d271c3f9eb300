"""Request and response shapes of POST /api/lexical (whole-corpus BM25)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from corpustrace.server.schemas import Strict


class LexicalRequest(Strict):
    query: str = Field(min_length=1, description="Words to look for (e.g. prompt + response).")
    offset: int = Field(default=0, ge=0, description="Hits to skip (paging).")
    limit: int = Field(default=10, ge=1, description="Hits to return, at most max_page_size.")


class LexicalMark(BaseModel):
    char_start: int
    char_end: int


class LexicalHitOut(BaseModel):
    doc: int = Field(description="Global document index.")
    shard: int
    score: float = Field(description="BM25 (Lucene idf, k1 1.5, b 0.75) over the whole corpus.")
    meta: dict[str, Any]
    matched: list[str] = Field(description="Query words found in the document.")
    snippet: str = Field(description="Text around the rarest matched word.")
    marks: list[LexicalMark] = Field(description="Matched words inside `snippet`.")


class LexicalResponse(BaseModel):
    query: str
    count: int = Field(description="Documents holding any query word, not only the page.")
    offset: int
    limit: int
    hits: list[LexicalHitOut]


class LexicalStatus(BaseModel):
    available: bool = Field(description="Whether the index has its lexical part.")
    documents: int | None = None
    terms: int | None = None
    postings: int | None = None
