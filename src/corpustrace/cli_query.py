"""`corpustrace count | ntd | prob | infgram | search | doc`: infini-gram queries from the shell."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpustrace.cli_common import SubParsers, plural, print_json

if TYPE_CHECKING:
    from corpustrace.engine import Engine


def open_engine(path: Path) -> Engine:
    from corpustrace.engine import Engine

    return Engine.open(path)


def encode(engine: Engine, text: str) -> list[int]:
    return [int(t) for t in engine.tokenizer.encode(text)]


def _common(p: argparse.ArgumentParser, text_help: str) -> None:
    p.add_argument("index", type=Path)
    p.add_argument("text", help=text_help)
    p.add_argument("--json", action="store_true", help="machine-readable output")


def add_query_commands(sub: SubParsers) -> None:
    p = sub.add_parser("count", help="occurrences of a text (as tokens) in the corpus")
    _common(p, "the n-gram, as text")
    p.set_defaults(handler=run_count)

    p = sub.add_parser("ntd", help="next-token distribution after a text")
    _common(p, "the prompt, as text ('' for unigrams)")
    p.add_argument("--top", type=int, default=20, help="entries to show")
    p.add_argument("--max-support", type=int, default=1000)
    p.add_argument("--infgram", action="store_true", help="back off to the longest suffix found")
    p.set_defaults(handler=run_ntd)

    p = sub.add_parser("prob", help="P(next text | prompt text), n-gram or ∞-gram")
    _common(p, "the prompt, as text")
    p.add_argument("next", help="the continuation; its first token is used")
    p.add_argument("--infgram", action="store_true", help="back off to the longest suffix found")
    p.set_defaults(handler=run_prob)

    p = sub.add_parser("search", help="documents containing a text")
    _common(p, "the n-gram, as text")
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--window", type=int, default=30, help="context tokens each side")
    p.add_argument("--lexical", action="store_true", help="BM25 over the whole corpus instead")
    p.set_defaults(handler=run_search)

    p = sub.add_parser("doc", help="a document by its index")
    p.add_argument("index", type=Path)
    p.add_argument("doc", type=int, help="global document index")
    p.add_argument("--start", type=int, default=0, help="first token")
    p.add_argument("--end", type=int, help="token after the last")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run_doc)


def run_count(args: argparse.Namespace) -> int:
    engine = open_engine(args.index)
    ids = encode(engine, args.text)
    found = engine.count(ids)
    if args.json:
        print_json({"count": found, "tokens": ids})
    else:
        print(f"{found:,}")
    return 0


def ntd_entries(engine: Engine, entries: Any, top: int) -> list[dict[str, Any]]:
    return [
        {
            "token": e.token,
            "text": engine.tokenizer.token_text(e.token),
            "count": e.count,
            "prob": e.prob,
        }
        for e in list(entries)[:top]
    ]


def run_ntd(args: argparse.Namespace) -> int:
    engine = open_engine(args.index)
    ids = encode(engine, args.text)
    suffix_len = len(ids)
    if args.infgram:
        inf = engine.infgram_ntd(ids, max_support=args.max_support)
        result, suffix_len = inf.ntd, inf.suffix_len
    else:
        result = engine.ntd(ids, max_support=args.max_support)
    entries = ntd_entries(engine, result.entries, args.top)
    if args.json:
        print_json(
            {
                "tokens": ids,
                "suffix_len": suffix_len,
                "prompt_count": result.prompt_count,
                "approx": result.approx,
                "entries": entries,
            }
        )
        return 0
    note = " (approximate)" if result.approx else ""
    print(
        f"prompt occurs {plural(result.prompt_count, 'time')}, last "
        f"{plural(suffix_len, 'token')} used{note}"
    )
    for e in entries:
        print(f"{e['prob']:8.4f}  {e['count']:>10,}  {e['text']!r}")
    return 0


def run_prob(args: argparse.Namespace) -> int:
    engine = open_engine(args.index)
    ids = encode(engine, args.text)
    nxt = encode(engine, args.next)
    if not nxt:
        from corpustrace.errors import QueryError

        raise QueryError("the continuation is empty")
    data: dict[str, Any]
    if args.infgram:
        inf = engine.infgram_prob(ids, nxt[0])
        data = {
            "suffix_len": inf.suffix_len,
            "prompt_count": inf.prompt_count,
            "count": inf.count,
            "prob": inf.prob,
        }
    else:
        res = engine.prob(ids, nxt[0])
        data = {
            "suffix_len": len(ids),
            "prompt_count": res.prompt_count,
            "count": res.count,
            "prob": res.prob,
        }
    data.update(tokens=ids, next_token=nxt[0])
    if args.json:
        print_json(data)
    else:
        shown = "undefined (prompt not found)" if data["prob"] is None else f"{data['prob']:.6f}"
        print(f"P = {shown}  ({data['count']:,} / {data['prompt_count']:,})")
    return 0


def run_search(args: argparse.Namespace) -> int:
    if args.lexical:
        from corpustrace.cli_lexical import run_lexical_search

        return run_lexical_search(args)
    engine = open_engine(args.index)
    ids = encode(engine, args.text)
    hits = engine.search_documents(ids, offset=args.offset, limit=args.limit, window=args.window)
    rows: list[dict[str, Any]] = [
        {
            "doc": h.doc,
            "shard": h.shard,
            "position": h.position,
            "meta": h.meta,
            "text": h.text,
            "match_char_start": h.match_char_start,
            "match_char_end": h.match_char_end,
        }
        for h in hits.hits
    ]
    if args.json:
        print_json({"count": hits.count, "offset": hits.offset, "limit": hits.limit, "hits": rows})
        return 0
    print(f"{plural(hits.count, 'occurrence')}; showing {len(rows)} from {hits.offset}")
    for r in rows:
        t, a, b = r["text"], r["match_char_start"], r["match_char_end"]
        line = f"{t[:a]}[[{t[a:b]}]]{t[b:]}".replace("\n", " ").strip()
        print(f"\n[{r['doc']}] {r['meta'].get('id', '')}\n  {line}")
    return 0


def run_doc(args: argparse.Namespace) -> int:
    engine = open_engine(args.index)
    view = engine.document(args.doc, start=args.start, end=args.end)
    text = engine.tokenizer.decode(view.tokens)
    if args.json:
        print_json(
            {
                "doc": view.doc,
                "shard": view.shard,
                "meta": view.meta,
                "length": view.length,
                "start": view.start,
                "end": view.end,
                "text": text,
            }
        )
        return 0
    print(f"# document {view.doc} (shard {view.shard}, {plural(view.length, 'token')})")
    for key, value in view.meta.items():
        print(f"# {key}: {value}")
    print(text)
    return 0
