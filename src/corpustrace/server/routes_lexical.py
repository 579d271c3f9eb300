"""POST /api/lexical: BM25 over every document of the index (its optional lexical part)."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from corpustrace.engine.protocol import SearchEngine
from corpustrace.index import format as fmt
from corpustrace.lexical import LexicalIndex
from corpustrace.lexical.hits import describe
from corpustrace.server.errors import TooLarge
from corpustrace.server.routes_api import ERRORS
from corpustrace.server.schemas_lexical import (
    LexicalHitOut,
    LexicalMark,
    LexicalRequest,
    LexicalResponse,
    LexicalStatus,
)
from corpustrace.server.security import require_token
from corpustrace.server.settings import Settings
from corpustrace.server.state import AppState, get_state

router = APIRouter(prefix="/api", dependencies=[Depends(require_token)], responses=ERRORS)
State = Annotated[AppState, Depends(get_state)]
_lock = threading.Lock()


def lexical_of(request: Request, engine: SearchEngine) -> LexicalIndex:
    """The app's lexical index, opened on first use (NoLexicalIndex, a 404, when absent)."""
    with _lock:
        found: LexicalIndex | None = getattr(request.app.state, "lexical_index", None)
        if found is None:
            found = LexicalIndex.open(engine.index.path)
            request.app.state.lexical_index = found
        return found


def check_lexical(settings: Settings, req: LexicalRequest) -> None:
    if len(req.query) > settings.max_lexical_query_chars:
        raise TooLarge(
            f"the query has {len(req.query)} characters; at most "
            f"{settings.max_lexical_query_chars} are searched"
        )
    if req.limit > settings.max_page_size:
        raise TooLarge(f"limit {req.limit} is over max_page_size ({settings.max_page_size})")
    if req.offset > settings.max_lexical_offset:
        raise TooLarge(
            f"offset {req.offset} is over max_lexical_offset ({settings.max_lexical_offset})"
        )


def search(engine: SearchEngine, lexical: LexicalIndex, req: LexicalRequest) -> LexicalResponse:
    count, hits = lexical.search(req.query, limit=req.limit, offset=req.offset)
    rows = []
    for hit in hits:
        d = describe(engine, lexical, hit)
        rows.append(
            LexicalHitOut(
                doc=d.doc,
                shard=d.shard,
                score=d.score,
                meta=d.meta,
                matched=d.matched,
                snippet=d.snippet,
                marks=[LexicalMark(char_start=a, char_end=b) for a, b in d.marks],
            )
        )
    return LexicalResponse(
        query=req.query, count=count, offset=req.offset, limit=req.limit, hits=rows
    )


@router.post("/lexical", response_model=LexicalResponse, tags=["lexical"])
async def lexical(req: LexicalRequest, request: Request, state: State) -> LexicalResponse:
    """Documents ranked by BM25 over the whole corpus; 404 when the index has no lexical part
    (build it with `corpustrace lexical build INDEX`)."""
    check_lexical(state.settings, req)
    index = await state.run(lexical_of, request, state.engine)
    return await state.run(search, state.engine, index, req)


@router.get("/lexical", response_model=LexicalStatus, tags=["lexical"])
async def lexical_status(state: State) -> LexicalStatus:
    """Whether POST /api/lexical can answer (the index has its lexical part), and its size."""
    info = state.engine.index.manifest.lexical
    if info is None:
        info = fmt.Manifest.load(state.engine.index.path).lexical  # built since start-up?
    if info is None:
        return LexicalStatus(available=False)
    return LexicalStatus(
        available=True, documents=info["documents"], terms=info["terms"], postings=info["postings"]
    )
