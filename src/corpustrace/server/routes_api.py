"""The JSON API under /api: thin routes; blocking work goes to the app's thread pool."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

import corpustrace
from corpustrace.index.multi import MultiIndex
from corpustrace.server import queries
from corpustrace.server import schemas as s
from corpustrace.server.security import require_token
from corpustrace.server.state import AppState, get_state

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": s.ErrorResponse, "description": text}
    for code, text in {
        400: "Bad query (code bad_query)",
        401: "Missing or wrong bearer token",
        404: "No such document",
        413: "Body, text or query over a configured limit",
        422: "Malformed JSON or parameters",
        503: "Server busy (code overloaded, with Retry-After), index not open, or shards "
        "with no live replica (code shards_unavailable)",
        504: "Time limit reached",
    }.items()
}

State = Annotated[AppState, Depends(get_state)]
public = APIRouter(prefix="/api", tags=["service"])
router = APIRouter(prefix="/api", dependencies=[Depends(require_token)], responses=ERRORS)


@public.get("/health", response_model=s.HealthResponse)
async def health(request: Request) -> s.HealthResponse:
    """Liveness: answers without touching the index or the thread pool (over Ray, with
    the state of the shard groups, each pinged)."""
    state = get_state(request)
    # Only a cluster needs a thread (it pings the groups): locally, a hop to a thread
    # would make health wait for the GIL behind the busy trace workers twice more.
    cluster = await asyncio.to_thread(state.cluster_status) if state.is_cluster else None
    return s.HealthResponse(version=corpustrace.__version__, cluster=cluster)


@public.head("/health", include_in_schema=False)
async def health_head() -> Response:
    """HEAD /api/health: the same liveness check for probes that send HEAD."""
    return Response(media_type="application/json")


@router.get("/info", response_model=s.InfoResponse, tags=["service"])
async def info(state: State) -> s.InfoResponse:
    """The served index: sizes, shards, tokenizer, the server's limits (and the cluster)."""
    info = info_of(state)
    cluster = await asyncio.to_thread(state.cluster_status) if state.is_cluster else None
    return info if cluster is None else info.model_copy(update={"cluster": cluster})


@router.get("/models", response_model=s.ModelsResponse, tags=["chat"])
async def models(state: State) -> s.ModelsResponse:
    listed = [s.ModelOut(name=b.name, description=b.description) for b in state.backends.values()]
    return s.ModelsResponse(models=listed, default=listed[0].name if listed else None)


@router.post("/trace", response_model=s.TraceResponse, tags=["trace"])
async def trace(req: s.TraceRequest, state: State) -> Response:
    """OLMoTrace: spans of the response found verbatim in the corpus, and their documents."""
    queries.check_trace_text(state.settings, req.response, req.prompt)
    params = queries.trace_params(req, state.settings)
    body, _ = await state.trace(req.response, req.prompt, params)
    # Already a validated TraceResponse, serialised on the pool, off the event loop.
    return Response(body, media_type="application/json")


@router.post("/count", response_model=s.CountResponse, tags=["queries"])
async def count(req: s.NgramRequest, state: State) -> s.CountResponse:
    """Occurrences of an n-gram (text or token ids)."""
    return await state.run(queries.count, state.engine, state.settings, req, state.takedown())


@router.get("/count", response_model=s.CountResponse, tags=["queries"])
async def count_get(
    state: State,
    q: Annotated[str | None, Query(description="n-gram text")] = None,
    ids: Annotated[str | None, Query(description="comma-separated token ids")] = None,
) -> s.CountResponse:
    """Same as POST /api/count, with `?q=text` or `?ids=1,2,3`."""
    try:
        req = s.NgramRequest.model_validate({"query": q, "ids": parse_ids(ids)})
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    return await state.run(queries.count, state.engine, state.settings, req, state.takedown())


@router.post("/find", response_model=s.FindResponse, tags=["queries"])
async def find(req: s.NgramRequest, state: State) -> s.FindResponse:
    """Suffix-array rank range of an n-gram in every shard."""
    return await state.run(queries.find, state.engine, state.settings, req)


@router.post("/prob", response_model=s.ProbResponse, tags=["queries"])
async def prob(req: s.ProbRequest, state: State) -> s.ProbResponse:
    """n-gram probability of the next token given the whole prompt."""
    return await state.run(queries.prob, state.engine, state.settings, req)


@router.post("/ntd", response_model=s.NtdResponse, tags=["queries"])
async def ntd(req: s.NtdRequest, state: State) -> s.NtdResponse:
    """Next-token distribution after the whole prompt."""
    return await state.run(queries.ntd, state.engine, state.settings, req)


@router.post("/infgram", response_model=s.InfgramResponse, tags=["queries"])
async def infgram(req: s.InfgramRequest, state: State) -> s.InfgramResponse:
    """∞-gram: back off to the longest suffix of the prompt that occurs (prob or ntd)."""
    return await state.run(queries.infgram, state.engine, state.settings, req)


@router.post("/search", response_model=s.SearchResponse, tags=["queries"])
async def search(req: s.SearchRequest, state: State) -> s.SearchResponse:
    """Occurrences of an n-gram with context, or documents matching a CNF query; paged."""

    def answer() -> s.SearchResponse:
        return queries.search(state.engine, state.settings, req, state.takedown())

    return await state.run(answer)


@router.get("/documents/{doc}", response_model=s.DocumentResponse, tags=["queries"])
async def document(
    state: State,
    doc: Annotated[int, Path(ge=0, description="Global document index")],
    start: Annotated[int, Query(ge=0, description="First token of the window")] = 0,
    end: Annotated[int | None, Query(ge=0, description="End of the window (exclusive)")] = None,
    mark: Annotated[list[str] | None, Query(description="Strings to locate in the text")] = None,
) -> s.DocumentResponse:
    """A document's tokens, text and metadata (a window of at most max_document_tokens)."""

    def answer() -> s.DocumentResponse:
        takedown = state.takedown()
        return queries.document(state.engine, state.settings, doc, start, end, mark or [], takedown)

    return await state.run(answer)


def parse_ids(ids: str | None) -> list[str] | None:
    """`1,2,3` -> ['1', '2', '3'] (pydantic turns them into ints or reports them)."""
    if ids is None:
        return None
    return [part.strip() for part in ids.split(",") if part.strip()]


def info_of(state: AppState) -> s.InfoResponse:
    index = state.engine.index
    manifest = index.manifest
    # Several indexes as one corpus (local engine), or one index (also over Ray).
    parts = index.parts if isinstance(index, MultiIndex) else []
    manifests = [one.manifest for one in index.indexes] if isinstance(index, MultiIndex) else []
    names = [p.name for p in parts] or [""]
    manifests = manifests or [manifest]
    several = len(parts) > 1
    shards = [
        s.ShardOut(
            name=f"{name}/{info.name}" if several else info.name,
            tokens=info.tokens,
            documents=info.documents,
            bytes=sum(f.bytes for f in info.files.values()),
        )
        for name, one in zip(names, manifests, strict=True)
        for info in one.shards
    ]
    shard_bytes = sum(one.shard_bytes for one in manifests)
    total = sum(one.total_bytes for one in manifests)
    settings = state.settings
    return s.InfoResponse(
        version=corpustrace.__version__,
        format_version=manifest.format_version,
        built_with=manifest.corpustrace_version,
        created=manifest.created,
        tokens=index.total_tokens,
        documents=index.total_documents,
        shards=shards,
        tokenizer=manifest.tokenizer,
        token_width=manifest.token_width,
        vocab_size=state.engine.tokenizer.vocab_size,
        sizes=s.IndexSizes(
            total_bytes=total, shard_bytes=shard_bytes, other_bytes=total - shard_bytes
        ),
        limits=s.LimitsOut(
            max_body_bytes=settings.max_body_bytes,
            max_response_chars=settings.max_response_chars,
            max_query_tokens=settings.max_query_tokens,
            max_page_size=settings.max_page_size,
            max_support=settings.max_support,
            max_document_tokens=settings.max_document_tokens,
            max_context_tokens=settings.max_context_tokens,
            max_snippet_tokens=settings.max_snippet_tokens,
            max_documents_per_span=settings.max_documents_per_span,
        ),
        chat=bool(state.backends),
        indexes=[
            s.IndexPartOut(
                name=p.name,
                documents=p.documents,
                tokens=p.tokens,
                first_doc=p.first_doc,
                shards=p.shards,
            )
            for p in parts
        ],
        influence=state.influence.describe() if state.influence is not None else None,
    )
