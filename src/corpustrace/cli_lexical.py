"""`corpustrace lexical build INDEX` and `corpustrace search INDEX QUERY --lexical`."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from corpustrace.cli_common import SubParsers, print_json


def add_lexical_commands(sub: SubParsers) -> None:
    p = sub.add_parser("lexical", help="whole-corpus BM25 (the index's optional lexical part)")
    lex = p.add_subparsers(dest="lexical_command", required=True, metavar="COMMAND")
    b = lex.add_parser("build", help="add (or rebuild) the lexical part of a finished index")
    b.add_argument("index", type=Path)
    b.set_defaults(handler=run_lexical_build)


def run_lexical_build(args: argparse.Namespace) -> int:
    from corpustrace.lexical import build_lexical

    done = build_lexical(args.index)
    print(
        f"{args.index}: lexical index of {done.documents:,} documents, {done.terms:,} terms, "
        f"{done.postings:,} postings ({done.bytes / 1e6:,.1f} MB) in {done.seconds:.1f}s"
    )
    return 0


def lexical_page(index: Path, query: str, limit: int, offset: int) -> dict[str, Any]:
    """One page of BM25 hits with their documents' metadata and snippets."""
    from corpustrace.engine import Engine
    from corpustrace.lexical import LexicalIndex
    from corpustrace.lexical.hits import describe

    lexical = LexicalIndex.open(index)
    engine = Engine.open(index)
    try:
        count, hits = lexical.search(query, limit=limit, offset=offset)
        rows = [dataclasses.asdict(describe(engine, lexical, h)) for h in hits]
    finally:
        engine.close()
    return {"query": query, "count": count, "offset": offset, "limit": limit, "hits": rows}


def run_lexical_search(args: argparse.Namespace) -> int:
    page = lexical_page(args.index, args.text, args.limit, args.offset)
    if args.json:
        print_json(page)
        return 0
    print(f"{page['count']:,} documents match; showing {len(page['hits'])} from {page['offset']}")
    for h in page["hits"]:
        title = h["meta"].get("title") or h["meta"].get("id", "")
        snippet = h["snippet"].replace("\n", " ").strip()
        print(f"\n[{h['doc']}] {title}  BM25 {h['score']:.2f}  ({', '.join(h['matched'])})")
        print(f"  {snippet}")
    return 0
