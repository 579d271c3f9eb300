"""`corpustrace influence build | query | verify`: TrackStar influence from the shell
(needs the `influence` extra: torch and transformers)."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

from corpustrace.cli_common import SubParsers, print_json
from corpustrace.errors import QueryError


def add_influence_commands(sub: SubParsers) -> None:
    top = sub.add_parser("influence", help="TrackStar influence: build a feature store, query it")
    isub = top.add_subparsers(dest="influence_command", required=True, metavar="COMMAND")

    p = isub.add_parser("build", help="features of every chunk of an index, for one model")
    p.add_argument("index", type=Path)
    p.add_argument("--model", "-m", required=True, type=Path, help="model directory or .gguf")
    p.add_argument("--gguf-file", help="GGUF file name inside the model directory")
    p.add_argument("--out", "-o", required=True, type=Path, help="feature store directory")
    p.add_argument("--dim", type=int, default=4096, help="projection dimension d (at most)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chunk-tokens", type=int, help="tokens per example (default: context)")
    p.add_argument("--max-documents", type=int, help="the first N documents only")
    p.add_argument("--v-source", default="auto", choices=["auto", "own", "hf", "estimate", "none"])
    p.add_argument("--v-floor", default="mean", help="'mean' (default) or a number")
    p.add_argument("--damping", type=float, default=0.1, help="x the mean eigenvalue")
    p.add_argument("--hessian-samples", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--shard-examples", type=int, default=8192)
    p.add_argument("--threads", type=int)
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(handler=run_build)

    p = isub.add_parser("query", help="proponents (and opponents) of a response")
    p.add_argument("store", type=Path)
    p.add_argument("--prompt", default="")
    p.add_argument("--response", help="the text whose influence to trace")
    p.add_argument("--batch", type=Path, help="JSONL of {prompt, response}: R_eval from the batch")
    p.add_argument("--k", "-k", type=int, default=5)
    p.add_argument("--opponents", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run_query)

    p = isub.add_parser("verify", help="check a feature store's files and hashes")
    p.add_argument("store", type=Path)
    p.set_defaults(handler=run_verify)


def _floor(text: str) -> float | str:
    if text == "mean":
        return text
    try:
        return float(text)
    except ValueError:
        raise QueryError(f"--v-floor must be 'mean' or a number, not {text!r}") from None


def run_build(args: argparse.Namespace) -> int:
    from corpustrace.influence import require_torch

    require_torch()
    from corpustrace.influence.build import InfluenceBuildOptions, build_store

    r = build_store(
        InfluenceBuildOptions(
            index=args.index,
            model=args.model,
            out=args.out,
            gguf_file=args.gguf_file,
            dim=args.dim,
            seed=args.seed,
            chunk_tokens=args.chunk_tokens,
            max_documents=args.max_documents,
            v_source=args.v_source,
            v_floor=_floor(args.v_floor),
            damping=args.damping,
            hessian_samples=args.hessian_samples,
            batch_size=args.batch_size,
            shard_examples=args.shard_examples,
            threads=args.threads,
            quiet=args.quiet,
        )
    )
    if r.already_complete:
        print(f"{r.out}: store already complete ({r.examples:,} examples, d = {r.dim})")
        return 0
    m = r.manifest
    resumed = f", {r.shards_resumed} shards resumed" if r.shards_resumed else ""
    print(
        f"{r.out}: {r.examples:,} examples, d = {r.dim}, V from {m['v_source']}, damping "
        f"{m['damping']:.4g}{resumed} in {r.seconds:.1f}s ({r.rate:.1f} examples/s)"
    )
    return 0


def _pairs(args: argparse.Namespace) -> list[tuple[str, str]]:
    if args.batch is not None:
        pairs = []
        for n, line in enumerate(args.batch.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                pairs.append((str(item.get("prompt", "")), str(item["response"])))
            except (ValueError, KeyError, AttributeError) as exc:
                raise QueryError(f"{args.batch}:{n}: need {{prompt, response}} ({exc})") from None
        return pairs
    if not args.response:
        raise QueryError("give --response TEXT (or --batch FILE)")
    return [(args.prompt, args.response)]


def run_query(args: argparse.Namespace) -> int:
    from corpustrace.influence import require_torch

    require_torch()
    from corpustrace.influence.query import InfluenceIndex

    pairs = _pairs(args)
    if args.k < 1:
        raise QueryError("--k must be at least 1")
    influence = InfluenceIndex(args.store)
    results = influence.query_batch(pairs, args.k, args.opponents)
    if args.json:
        data: Any = [r.to_dict() for r in results]
        print_json(data if args.batch is not None else data[0])
        return 0
    for r in results:
        print_result(r.to_dict())
    return 0


def print_result(r: dict[str, Any]) -> None:
    print(f"response: {r['response']!r}" + (f"  (prompt {r['prompt']!r})" if r["prompt"] else ""))
    print(
        f"  {r['examples']:,} examples scored, lambda {r['hessian_lambda']:.3g}, "
        f"damping {r['damping']:.3g}"
    )
    if r["note"]:
        print(f"  note: {r['note']}")
    for title, rows in (("proponents", r["proponents"]), ("opponents", r["opponents"])):
        if not rows:
            continue
        print(f"  {title}:")
        for e in rows:
            name = e["meta"].get("title") or e["meta"].get("id") or f"document {e['doc']}"
            print(
                f"  {e['rank']:>3}. {e['score']:+.3f}  {name} (#{e['doc']}, shard {e['shard']}, "
                f"tokens {e['token_start']}-{e['token_end']})"
            )
            body = " ".join(e["text"].split())
            print(textwrap.indent(textwrap.fill(body[:300], 88), "         "))
    print()


def run_verify(args: argparse.Namespace) -> int:
    from corpustrace.influence.store import FeatureStore, verify_store

    problems = verify_store(args.store)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 1
    info = FeatureStore.open(args.store).describe()
    print(f"{args.store}: intact ({info['examples']:,} examples, d = {info['dim']})")
    return 0
