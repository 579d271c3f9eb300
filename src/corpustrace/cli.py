"""Command line: translates arguments into library calls and library errors into exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from corpustrace import __version__
from corpustrace.cli_cluster import add_cluster_commands
from corpustrace.cli_common import SubParsers, print_json
from corpustrace.cli_eval import add_eval_command
from corpustrace.cli_influence import add_influence_commands
from corpustrace.cli_lexical import add_lexical_commands
from corpustrace.cli_query import add_query_commands
from corpustrace.cli_serve import add_serve_commands
from corpustrace.cli_trace import add_trace_command
from corpustrace.cli_train import add_train_command
from corpustrace.errors import CorpusTraceError

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130
Handler = Callable[[argparse.Namespace], int]


def parse_size(text: str) -> int:
    """`8G`, `512M`, `300k` or plain bytes."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    raw = text.strip().lower().removesuffix("b").removesuffix("i")
    try:
        if raw and raw[-1] in units:
            return int(float(raw[:-1]) * units[raw[-1]])
        return int(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 8G or 512M)") from exc


# -- build / info / verify -------------------------------------------------------------


def add_build(sub: SubParsers) -> None:
    p = sub.add_parser("build", help="tokenize a corpus into a sharded suffix-array index")
    p.add_argument("inputs", nargs="+", help="JSONL(.gz/.zst), Parquet, text directories, globs")
    p.add_argument("--out", "-o", required=True, type=Path, help="index directory")
    p.add_argument("--tokenizer", "-t", help="bytes | tokenizer.json | dir | .gguf | cached name")
    p.add_argument("--text-field", default="text", help="JSONL/Parquet field holding the text")
    p.add_argument(
        "--workers",
        type=int,
        help="tokenizer threads and shards sorted side by side (default: all cores)",
    )
    p.add_argument("--max-memory", type=parse_size, help="memory bound of the build (e.g. 8G)")
    p.add_argument("--shard-tokens", type=int, help="tokens per shard (overrides --max-memory)")
    p.add_argument("--append", action="store_true", help="add the inputs as new shards")
    p.add_argument("--skip-bad-lines", action="store_true", help="count malformed lines, go on")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--lexical", action="store_true", help="also build the lexical (BM25) part")
    p.add_argument("--ray", metavar="ADDRESS", help="build the shards as tasks on this Ray cluster")
    p.set_defaults(handler=run_build)


def run_build(args: argparse.Namespace) -> int:
    from corpustrace.index.builder import BuildOptions, build

    opts = BuildOptions(
        inputs=args.inputs,
        out=args.out,
        tokenizer=args.tokenizer,
        text_field=args.text_field,
        workers=args.workers,
        max_memory=args.max_memory,
        shard_tokens=args.shard_tokens,
        append=args.append,
        skip_bad_lines=args.skip_bad_lines,
        quiet=args.quiet,
    )
    if getattr(args, "ray", None):
        from corpustrace.cli_cluster import ray_build

        result = ray_build(opts, args.ray)
    else:
        result = build(opts)
    if result.already_complete:
        print(f"{result.out}: index already complete ({result.documents:,} documents)")
        return run_lexical_build(args) if args.lexical else 0
    rate = result.tokens / result.seconds if result.seconds else 0.0
    resumed = f", {result.shards_resumed} resumed" if result.shards_resumed else ""
    print(
        f"{result.out}: {result.documents:,} documents, {result.tokens:,} tokens, "
        f"{result.shards_written} shards written{resumed} in {result.seconds:.1f}s "
        f"({rate:,.0f} tokens/s)"
    )
    bad = result.stats.get("bad_lines", 0)
    if bad:
        print(f"skipped {bad} malformed lines, e.g.:", file=sys.stderr)
        for example in result.stats.get("bad_line_examples", [])[:5]:
            print(f"  {example}", file=sys.stderr)
    if result.stats.get("binary_files"):
        print(f"skipped {result.stats['binary_files']} binary files", file=sys.stderr)
    return run_lexical_build(args) if args.lexical else 0


def run_lexical_build(args: argparse.Namespace) -> int:
    from corpustrace.cli_lexical import run_lexical_build as build_part

    return build_part(argparse.Namespace(index=args.out))


def index_summary(path: Path) -> dict[str, Any]:
    from corpustrace.index import format as fmt

    manifest = fmt.Manifest.load(path)
    size = manifest.total_bytes
    tokens = manifest.total_tokens
    return {
        "path": str(path),
        "format_version": manifest.format_version,
        "tokens": tokens,
        "documents": manifest.total_documents,
        "shards": len(manifest.shards),
        "tokenizer": manifest.tokenizer,
        "token_width": manifest.token_width,
        "separator": manifest.separator,
        "bytes": size,
        "bytes_per_token": size / tokens if tokens else None,
        "bad_lines": manifest.build.get("bad_lines", 0),
        "created": manifest.created,
        "corpustrace_version": manifest.corpustrace_version,
        "lexical": manifest.lexical,
    }


def add_info(sub: SubParsers) -> None:
    p = sub.add_parser("info", help="what an index holds")
    p.add_argument("index", type=Path)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run_info)


def run_info(args: argparse.Namespace) -> int:
    info = index_summary(args.index)
    if args.json:
        print_json(info)
        return 0
    bpt = info["bytes_per_token"]
    print(f"index        {info['path']} (format {info['format_version']})")
    print(f"tokens       {info['tokens']:,}")
    print(f"documents    {info['documents']:,}")
    print(f"shards       {info['shards']}")
    print(
        f"tokenizer    {info['tokenizer']['name']} (vocabulary {info['tokenizer']['vocab_size']:,})"
    )
    print(f"token width  {info['token_width']} bytes")
    print(
        f"size         {info['bytes'] / 1e6:,.1f} MB" + (f" ({bpt:.2f} bytes/token)" if bpt else "")
    )
    if info["bad_lines"]:
        print(f"bad lines    {info['bad_lines']:,} skipped")
    lexical = info["lexical"]
    if lexical:
        print(
            f"lexical      BM25 over {lexical['terms']:,} terms, {lexical['postings']:,} postings"
        )
    return 0


def add_verify(sub: SubParsers) -> None:
    p = sub.add_parser("verify", help="check sizes, SHA-256 hashes and suffix-array order")
    p.add_argument("index", type=Path)
    p.add_argument("--samples", type=int, default=2000, help="suffix-array pairs per shard")
    p.add_argument("--no-hashes", action="store_true", help="sizes only, skip SHA-256")
    p.set_defaults(handler=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    from corpustrace.index.verify import MAX_COMPARE, verify_index

    report = verify_index(args.index, hashes=not args.no_hashes, samples=args.samples)
    for problem in report.problems:
        print(f"error: {problem}", file=sys.stderr)
    if not report.ok:
        return EXIT_ERROR
    print(
        f"{args.index}: intact ({report.files_checked} files, "
        f"{report.bytes_checked / 1e6:,.1f} MB hashed, "
        f"{report.pairs_checked} suffix pairs in order"
        + (
            f", {report.pairs_undecided} of them equal on their first {MAX_COMPARE:,} tokens"
            if report.pairs_undecided
            else ""
        )
        + ")"
    )
    return 0


# -- entry point -------------------------------------------------------------------------

COMMANDS = [
    add_build,
    add_info,
    add_verify,
    add_query_commands,
    add_trace_command,
    add_serve_commands,
    add_lexical_commands,
    add_eval_command,
    add_influence_commands,
    add_train_command,
    add_cluster_commands,
]


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="corpustrace", description="Trace language-model outputs back to their training data."
    )
    parser.add_argument("--version", action="version", version=f"corpustrace {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except CorpusTraceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
