"""`corpustrace trace`: OLMoTrace from the shell, one response or a whole JSONL batch."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, TextIO

from corpustrace.cli_common import SubParsers, plural, print_json
from corpustrace.errors import CorpusError, QueryError

# Background shades per relevance level (256-colour ANSI), as the UI's three shades.
SHADES = {"high": "48;5;209", "medium": "48;5;222", "low": "48;5;230"}
RESET = "\033[0m"


def add_trace_command(sub: SubParsers) -> None:
    p = sub.add_parser("trace", help="which spans of a response occur verbatim in the corpus")
    p.add_argument("index", type=Path)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--response", help="the response text (default: standard input)")
    src.add_argument("--response-file", type=Path)
    src.add_argument("--batch", type=Path, help="JSONL with 'response' (and 'prompt') per line")
    prompt = p.add_mutually_exclusive_group()
    prompt.add_argument("--prompt", default="")
    prompt.add_argument("--prompt-file", type=Path)
    p.add_argument("--output", "-o", type=Path, help="--batch results (default: stdout)")
    p.add_argument("--json", action="store_true", help="the full result as JSON")
    p.add_argument("--documents", type=int, default=5, help="documents in the terminal view")
    p.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    add_param_options(p)
    p.set_defaults(handler=run_trace)


def add_param_options(p: argparse.ArgumentParser) -> None:
    """Every pipeline parameter as an option with the same name (dashes for underscores)."""
    p.add_argument("--span-density", type=float)
    p.add_argument(
        "--delimiters",
        nargs="*",
        metavar="D",
        help="span delimiters; --delimiters '' or no value for none (default: newline and '.')",
    )
    p.add_argument("--word-boundaries", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument(
        "--leading-space",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="trace the response as if it followed a space (default on)",
    )
    p.add_argument("--min-span-length", type=int)
    p.add_argument("--max-frequency", type=int)
    p.add_argument("--max-documents-per-span", type=int)
    p.add_argument("--context-tokens", type=int)
    p.add_argument("--snippet-tokens", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--ranking", choices=("coverage", "bm25", "olmotrace"), help="default coverage")


PARAM_NAMES = (
    "span_density",
    "delimiters",
    "word_boundaries",
    "leading_space",
    "min_span_length",
    "max_frequency",
    "max_documents_per_span",
    "context_tokens",
    "snippet_tokens",
    "seed",
    "ranking",
)


_ESCAPE = re.compile(
    r"\\(?:([\\abfnrtv0'\"])|x([0-9A-Fa-f]{2})|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8}))"
)
_SIMPLE = {
    "\\": "\\",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "0": "\0",
    "'": "'",
    '"': '"',
}


def unescape(text: str) -> str:
    """Python-style backslash escapes (\\n, \\t, \\x01, \\u3002, ...) in a shell argument;
    every other character, non-ASCII ones included, stays as it is."""

    def one(m: re.Match[str]) -> str:
        simple, *codes = m.groups()
        if simple is not None:
            return _SIMPLE[simple]
        code = int(next(c for c in codes if c is not None), 16)
        if code > 0x10FFFF:
            return m.group(0)
        return chr(code)

    return _ESCAPE.sub(one, text)


def params_from_args(args: argparse.Namespace) -> Any:
    from corpustrace.trace import TraceParams

    values: dict[str, Any] = {}
    for name in PARAM_NAMES:
        value = getattr(args, name)
        if value is None:
            continue
        if name == "delimiters":
            value = tuple(unescape(v) for v in value if v)
        values[name] = value
    return TraceParams.from_mapping(values)


def read_text(inline: str | None, path: Path | None, default_stdin: bool) -> str:
    if inline is not None:
        return inline
    if path is not None:
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise QueryError(f"{path}: cannot read ({exc.strerror})") from exc
    if not default_stdin:
        return ""
    if sys.stdin.isatty():
        print(
            "reading the response from standard input (end it with Ctrl-D), "
            "or pass --response TEXT or --response-file FILE",
            file=sys.stderr,
        )
    return sys.stdin.read()


def run_trace(args: argparse.Namespace) -> int:
    from corpustrace.engine import Engine

    engine = Engine.open(args.index)
    params = params_from_args(args)
    if args.batch is not None:
        return run_batch(engine, params, args.batch, args.output)
    from corpustrace.trace import trace

    response = read_text(args.response, args.response_file, default_stdin=True)
    if not response.strip():
        raise QueryError(
            "the response to trace is empty (give --response TEXT, "
            "--response-file FILE or text on standard input)"
        )
    prompt = read_text(args.prompt or None, args.prompt_file, default_stdin=False)
    result = trace(engine, response, prompt=prompt, params=params).to_dict()
    if args.json:
        print_json(result)
        return 0
    color = args.color == "always" or (
        args.color == "auto" and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    )
    render(result, args.documents, color, sys.stdout)
    return 0


def run_batch(engine: Any, params: Any, batch: Path, output: Path | None) -> int:
    """One result per input line; the way to check an evaluation set for verbatim overlap."""
    from corpustrace.trace import trace

    out: TextIO = output.open("w", encoding="utf-8") if output else sys.stdout
    traced = with_spans = 0
    try:
        with batch.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                item = parse_batch_line(line, batch, number)
                result = trace(
                    engine, item["response"], prompt=item.get("prompt", ""), params=params
                ).to_dict()
                if "id" in item:
                    result["id"] = item["id"]
                result["line"] = number
                out.write(json.dumps(result, ensure_ascii=False) + "\n")
                traced += 1
                with_spans += bool(result["spans"])
    except OSError as exc:
        raise QueryError(f"{batch}: cannot read ({exc.strerror})") from exc
    finally:
        if output:
            out.close()
    print(f"traced {plural(traced, 'response')}, {with_spans} with verbatim spans", file=sys.stderr)
    return 0


def parse_batch_line(line: str, path: Path, number: int) -> dict[str, Any]:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CorpusError(f"malformed JSON ({exc.msg})", path=str(path), line=number) from exc
    if not isinstance(item, dict) or not isinstance(item.get("response"), str):
        raise CorpusError("expected an object with a string 'response'", str(path), number)
    if not isinstance(item.get("prompt", ""), str):
        raise CorpusError("'prompt' must be a string", str(path), number)
    return item


def mark(text: str, ranges: list[tuple[int, int, str]], color: bool) -> str:
    """`text` with each (start, end, level) range shaded, or bracketed without colour."""
    out, pos = [], 0
    for start, end, level in sorted(ranges):
        if start < pos:
            continue
        out.append(text[pos:start])
        piece = text[start:end]
        out.append(
            f"\033[{SHADES.get(level, SHADES['low'])}m{piece}{RESET}" if color else f"[[{piece}]]"
        )
        pos = end
    out.append(text[pos:])
    return "".join(out)


def render(result: dict[str, Any], documents: int, color: bool, out: TextIO) -> None:
    highlights = [(h["char_start"], h["char_end"], h["level"]) for h in result["highlights"]]
    out.write(mark(result["text"], highlights, color) + "\n\n")
    spans = result["spans"]
    out.write(
        f"{plural(len(spans), 'span')}, {plural(len(result['documents']), 'document')}, "
        f"{result['timings_ms'].get('total', 0):.0f} ms\n"
    )
    for doc in result["documents"][:documents]:
        meta = doc["meta"]
        label = meta.get("title") or meta.get("id") or f"document {doc['doc']}"
        out.write(
            f"\n[{doc['level']} {doc['relevance']:.2f}] {label}  (doc {doc['doc']}, "
            f"{meta.get('source', '')})\n"
        )
        for snip in doc["snippets"][:3]:
            level = spans[snip["span"]]["level"]
            text = mark(snip["text"], [(snip["char_start"], snip["char_end"], level)], color)
            out.write("  … " + text.replace("\n", " ").strip() + " …\n")
