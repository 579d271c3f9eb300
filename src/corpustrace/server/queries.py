"""Blocking translations between API schemas and engine calls (run on the thread pool).

Each function takes the engine, the settings (for limits) and a request model, and
returns a response model; the engine raises QueryError/NotFound for bad input.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np

from corpustrace.engine.protocol import SearchEngine
from corpustrace.engine.results import NtdResult
from corpustrace.errors import NotFound, QueryError
from corpustrace.server import schemas as s
from corpustrace.server.errors import TooLarge
from corpustrace.server.settings import Settings
from corpustrace.tokenizer import leading_space_variants
from corpustrace.trace import TraceParams
from corpustrace.trace.takedown import Takedown

PREVIEW_TOKENS = 60
MAX_MARK_HITS = 1_000


def tokens(
    engine: SearchEngine, settings: Settings, text: str | None, ids: Sequence[int] | None, what: str
) -> np.ndarray:
    """Token ids of a text or an id list, bounded by `max_query_tokens`."""
    limit = settings.max_query_tokens
    if text is not None:
        if len(text) > limit * 16:  # cheap guard before tokenizing a huge string
            raise TooLarge(f"{what} is longer than {limit} tokens")
        array = engine.tokenizer.encode(text)
    else:
        array = np.asarray(list(ids or []), dtype=np.int64)
    if len(array) > limit:
        raise TooLarge(f"{what} has {len(array)} tokens; at most {limit} are allowed")
    return engine.query(array, what)


def next_token(engine: SearchEngine, text: str | None, token_id: int | None) -> int:
    if token_id is not None:
        return engine.token(token_id, "next_id")
    ids = engine.tokenizer.encode(text or "")
    if len(ids) != 1:
        raise QueryError(f"next_token {text!r} is {len(ids)} tokens, not one")
    return int(ids[0])


def texts(engine: SearchEngine, ids: Sequence[int] | np.ndarray) -> list[str]:
    return [engine.tokenizer.token_text(int(i)) for i in ids]


def variants(
    engine: SearchEngine, settings: Settings, text: str, spaced: bool, what: str
) -> list[tuple[str, np.ndarray]]:
    """(text, ids) of each spelling tried: as typed, and with a leading space (when
    that still fits `max_query_tokens`; the limit is the text's as typed)."""
    out = [(text, tokens(engine, settings, text, None, what))]
    for other in (leading_space_variants(text) if spaced else [text])[1:]:
        with contextlib.suppress(TooLarge):
            out.append((other, tokens(engine, settings, other, None, what)))
    return out


def best(counts: list[int]) -> int:
    """Index of the largest count; the first (as typed) on a tie."""
    return max(range(len(counts)), key=lambda i: (counts[i], -i))


def count(
    engine: SearchEngine, settings: Settings, req: s.NgramRequest, takedown: Takedown | None = None
) -> s.CountResponse:
    """Occurrences in the corpus; with a takedown list, outside the taken-down documents."""
    count_many = takedown.count_many(engine) if takedown else engine.count_many
    if req.query is None:
        ids = tokens(engine, settings, None, req.ids, "query")
        return s.CountResponse(
            count=int(count_many([ids])[0]), tokens=ids.tolist(), token_texts=texts(engine, ids)
        )
    tried = variants(engine, settings, req.query, req.leading_space, "query")
    counts = [int(c) for c in count_many([ids for _, ids in tried])]
    pick = best(counts)
    text, ids = tried[pick]
    return s.CountResponse(
        count=counts[pick],
        tokens=ids.tolist(),
        token_texts=texts(engine, ids),
        query_used=text,
        variants=[
            s.VariantOut(text=t, count=c, tokens=i.tolist())
            for (t, i), c in zip(tried, counts, strict=True)
        ],
    )


def find(engine: SearchEngine, settings: Settings, req: s.NgramRequest) -> s.FindResponse:
    ids = tokens(engine, settings, req.query, req.ids, "query")
    found = engine.find(ids)
    ranges = [s.ShardRange(shard=i, start=lo, end=hi) for i, (lo, hi) in enumerate(found.ranges)]
    return s.FindResponse(count=found.count, tokens=ids.tolist(), ranges=ranges)


def prob(engine: SearchEngine, settings: Settings, req: s.ProbRequest) -> s.ProbResponse:
    prompt = tokens(engine, settings, req.prompt, req.prompt_ids, "prompt")
    nxt = next_token(engine, req.next_token, req.next_id)
    result = engine.prob(prompt, nxt)
    return s.ProbResponse(
        prompt_count=result.prompt_count,
        count=result.count,
        prob=result.prob,
        prompt_tokens=prompt.tolist(),
        next_id=nxt,
    )


def ntd_out(engine: SearchEngine, result: NtdResult, prompt: np.ndarray) -> s.NtdResponse:
    entries = [
        s.NtdEntryOut(
            token=e.token,
            token_text=engine.tokenizer.token_text(e.token),
            count=e.count,
            prob=e.prob,
        )
        for e in result.entries
    ]
    return s.NtdResponse(
        prompt_count=result.prompt_count,
        approx=result.approx,
        entries=entries,
        prompt_tokens=prompt.tolist(),
    )


def check_support(settings: Settings, max_support: int) -> None:
    if max_support > settings.max_support:
        raise TooLarge(f"max_support {max_support} is above the limit {settings.max_support}")


def ntd(engine: SearchEngine, settings: Settings, req: s.NtdRequest) -> s.NtdResponse:
    check_support(settings, req.max_support)
    if req.prompt is None or not req.prompt:
        prompt = tokens(engine, settings, req.prompt, req.prompt_ids, "prompt")
        return ntd_out(engine, engine.ntd(prompt, req.max_support), prompt)
    tried = variants(engine, settings, req.prompt, req.leading_space, "prompt")
    results = [engine.ntd(ids, req.max_support) for _, ids in tried]
    pick = best([r.prompt_count for r in results])
    out = ntd_out(engine, results[pick], tried[pick][1])
    out.prompt_used = tried[pick][0]
    out.variants = [
        s.VariantOut(text=t, count=r.prompt_count, tokens=i.tolist())
        for (t, i), r in zip(tried, results, strict=True)
    ]
    return out


def infgram(engine: SearchEngine, settings: Settings, req: s.InfgramRequest) -> s.InfgramResponse:
    prompt = tokens(engine, settings, req.prompt, req.prompt_ids, "prompt")
    if req.mode == "prob":
        nxt = next_token(engine, req.next_token, req.next_id)
        p = engine.infgram_prob(prompt, nxt)
        suffix = prompt[len(prompt) - p.suffix_len :]
        return s.InfgramResponse(
            mode="prob",
            suffix_len=p.suffix_len,
            suffix_text=engine.tokenizer.decode(suffix),
            prompt_count=p.prompt_count,
            count=p.count,
            prob=p.prob,
        )
    check_support(settings, req.max_support)
    r = engine.infgram_ntd(prompt, req.max_support)
    suffix = prompt[len(prompt) - r.suffix_len :]
    return s.InfgramResponse(
        mode="ntd",
        suffix_len=r.suffix_len,
        suffix_text=engine.tokenizer.decode(suffix),
        prompt_count=r.ntd.prompt_count,
        ntd=ntd_out(engine, r.ntd, suffix),
    )


def search(
    engine: SearchEngine, settings: Settings, req: s.SearchRequest, takedown: Takedown | None = None
) -> s.SearchResponse:
    """One page of hits (or CNF documents); hits in taken-down documents are left out of
    the page (the count still includes them)."""
    out = search_all(engine, settings, req)
    if takedown:
        out.hits = [h for h in out.hits if h.doc not in takedown]
        out.documents = [d for d in out.documents if d.doc not in takedown]
    return out


def search_all(engine: SearchEngine, settings: Settings, req: s.SearchRequest) -> s.SearchResponse:
    if req.limit > settings.max_page_size:
        raise TooLarge(f"limit {req.limit} is above the page size limit {settings.max_page_size}")
    check_limit("offset", req.offset, settings.max_search_offset)
    check_limit("window", req.window, settings.max_search_window)
    if req.clauses is not None:
        return cnf_search(engine, settings, req, req.clauses)
    ids = tokens(engine, settings, req.query, req.ids, "query")
    found = engine.search_documents(ids, req.offset, req.limit, req.window)
    hits = [
        s.HitOut(
            doc=h.doc,
            shard=h.shard,
            position=h.position,
            meta=h.meta,
            index=engine.index_name(h.doc),
            text=h.text,
            match_char_start=h.match_char_start,
            match_char_end=h.match_char_end,
        )
        for h in found.hits
    ]
    return s.SearchResponse(
        mode="ngram",
        count=found.count,
        approx=False,
        offset=found.offset,
        limit=found.limit,
        hits=hits,
        documents=[],
    )


def cnf_search(
    engine: SearchEngine, settings: Settings, req: s.SearchRequest, clauses: list[list[str]]
) -> s.SearchResponse:
    bound = settings.max_clauses
    if not clauses or any(not clause for clause in clauses):
        raise QueryError("a CNF query needs at least one clause, each with at least one n-gram")
    if len(clauses) > bound or any(len(clause) > bound for clause in clauses):
        raise TooLarge(f"at most {bound} clauses of at most {bound} n-grams each")
    ids = [[tokens(engine, settings, term, None, "CNF n-gram") for term in c] for c in clauses]
    if any(len(term) == 0 for clause in ids for term in clause):
        raise QueryError("CNF n-grams must not be empty")
    found = engine.cnf_search(ids, req.offset, req.limit)
    docs = [summary(engine, doc) for doc in found.documents]
    return s.SearchResponse(
        mode="cnf",
        count=found.count,
        approx=found.approx,
        offset=req.offset,
        limit=req.limit,
        hits=[],
        documents=docs,
    )


def summary(engine: SearchEngine, doc: int) -> s.DocumentSummary:
    view = engine.document(doc, 0, PREVIEW_TOKENS)
    return s.DocumentSummary(
        doc=doc,
        index=engine.index_name(doc),
        meta=view.meta,
        length=view.length,
        preview=engine.tokenizer.decode(view.tokens),
    )


def document(
    engine: SearchEngine,
    settings: Settings,
    doc: int,
    start: int,
    end: int | None,
    marks: list[str],
    takedown: Takedown | None = None,
) -> s.DocumentResponse:
    if len(marks) > settings.max_marks:
        raise TooLarge(f"at most {settings.max_marks} marks per request")
    if any(len(m) > settings.max_response_chars for m in marks):
        raise TooLarge(f"a mark is longer than {settings.max_response_chars} characters")
    if takedown is not None and doc in takedown:
        raise NotFound(f"document {doc} was taken down")
    limit = start + settings.max_document_tokens
    view = engine.document(doc, start, limit if end is None else min(end, limit))
    text = engine.tokenizer.decode(view.tokens)
    return s.DocumentResponse(
        doc=view.doc,
        shard=view.shard,
        local_doc=view.local_doc,
        meta=view.meta,
        index=engine.index_name(view.doc),
        length=view.length,
        start=view.start,
        end=view.end,
        tokens=view.tokens.tolist(),
        text=text,
        marks=find_marks(text, marks),
    )


def find_marks(text: str, marks: list[str]) -> list[s.MarkOut]:
    """Every occurrence of every mark string in `text` (overlaps allowed), by position."""
    found: list[s.MarkOut] = []
    for i, mark in enumerate(marks):
        if not mark:
            continue
        at = text.find(mark)
        hits = 0
        while at >= 0 and hits < MAX_MARK_HITS:
            found.append(s.MarkOut(mark=i, char_start=at, char_end=at + len(mark)))
            hits += 1
            at = text.find(mark, at + 1)
    found.sort(key=lambda m: (m.char_start, -m.char_end))
    return found


def trace_params(options: s.TraceOptions | None, settings: Settings) -> TraceParams:
    """TraceParams from the given fields; absent ones keep OLMoTrace's defaults. The sizes
    a request sets are bounded by the settings (413 naming the limit)."""
    given = options.given() if options is not None else {}
    for name in ("context_tokens", "snippet_tokens", "max_documents_per_span"):
        check_limit(name, given.get(name), getattr(settings, "max_" + name.removeprefix("max_")))
    delimiters = given.get("delimiters")
    if delimiters is not None:
        check_limit("the number of delimiters", len(delimiters), settings.max_delimiters)
    return TraceParams.from_mapping(given)


def check_limit(what: str, value: int | None, limit: int) -> None:
    if value is not None and value > limit:
        raise TooLarge(f"{what} {value} is above the limit {limit} of this server")


def check_trace_text(settings: Settings, response: str, prompt: str) -> None:
    limit = settings.max_response_chars
    for what, text in (("response", response), ("prompt", prompt)):
        if len(text) > limit:
            raise TooLarge(
                f"nothing was traced: the {what} has {len(text):,} characters, more than the "
                f"{limit:,} this server traces at once; shorten it and trace it again"
            )
