"""`scripts/bench cluster`: tracing through the Ray engine vs the local engine, one run.

The build bench's corpus (the Linux kernel's JSONL, GPT-2 tokens) is indexed once into
`--shards` shards (`$BENCH_DATA/index-cluster`). The same 458-token responses
(scripts/bench_trace.py's: real passages alternating with novel prose) are traced by
the local `Engine` and by `RayEngine` on a two-node local Ray cluster (one CPU per node,
one shard group per node). Reported: trace wall p50/p95 of both, the ratio and the
added milliseconds, and the share of the Ray engine's trace time spent waiting on Ray
calls. Target: Ray p50 <= 1.5 x local p50 + 30 ms. Also the per-shard costs that
docs/scale.md scales up: span-search time per shard, bytes per token, actor memory.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psutil
from bench_build import DATA, machine
from bench_trace import make_responses, ms, stats

from corpustrace.cluster.local import LocalCluster
from corpustrace.cluster.ray_engine import RayEngine
from corpustrace.engine import Engine
from corpustrace.index.builder import BuildOptions, build
from corpustrace.trace import trace

RATIO, PLUS_MS = 1.5, 30.0


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts/bench cluster", description=__doc__.split("\n")[0])
    p.add_argument("--inputs", type=Path, default=DATA / "jsonl-c7fd128069" / "corpus.jsonl")
    p.add_argument("--tokenizer", default=str(DATA / "gpt2"))
    p.add_argument("--index", type=Path, default=DATA / "index-cluster")
    p.add_argument("--shards", type=int, default=4)
    p.add_argument("--responses", type=int, default=20)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--length", type=int, default=458)
    p.add_argument("--json", type=Path, default=DATA / "bench-cluster.json")
    return p.parse_args()


def ensure_index(args: argparse.Namespace) -> Path:
    if not (args.index / "manifest.json").is_file():
        lines = sum(1 for _ in args.inputs.open("rb"))
        size = args.inputs.stat().st_size
        per_shard = max(1 << 16, size // 2 // args.shards)  # ~2 bytes of JSONL per GPT-2 token
        print(f"building {args.index} from {args.inputs} ({lines} documents)", file=sys.stderr)
        build(
            BuildOptions(
                [str(args.inputs)],
                args.index,
                tokenizer=args.tokenizer,
                shard_tokens=per_shard,
                quiet=True,
            )
        )
    return args.index


def interleaved(
    local: Any, engine: Any, responses: list[str], repeats: int
) -> tuple[list[float], list[float], list[float]]:
    """Each response traced by the local engine, then by the Ray engine, in turn, so both
    see the same machine load (this machine is shared). Returns local and Ray wall ms,
    and the ms of each Ray trace spent in Ray calls."""
    local_ms, ray_ms, in_ray = [], [], []
    for _ in range(repeats):
        for text in responses:
            wall, _ = ms(lambda text=text: trace(local, text))
            local_ms.append(wall)
            before = engine.caller.ray_seconds
            wall, _ = ms(lambda text=text: trace(engine, text))
            ray_ms.append(wall)
            in_ray.append((engine.caller.ray_seconds - before) * 1000.0)
    return local_ms, ray_ms, in_ray


def per_shard_search_ms(local: Engine, responses: list[str]) -> float:
    """Span search (longest prefix of every suffix) of one response in one shard, p50."""
    shard = local.shards[0]
    from corpustrace.engine.prefix import longest_prefix_lengths

    times = []
    for text in responses:
        ids = local.query(local.tokenizer.encode(text))
        t, _ = ms(
            lambda ids=ids: longest_prefix_lengths(shard.tokens, shard.positions, shard.n, ids)
        )
        times.append(t)
    return statistics.median(times)


def actor_rss() -> list[int]:
    return [
        p.info["memory_info"].rss
        for p in psutil.process_iter(["name", "cmdline", "memory_info"])
        if "ShardHolder" in " ".join(p.info.get("cmdline") or []) + (p.info.get("name") or "")
    ]


def main() -> int:
    args = parse_args()
    index = ensure_index(args)
    local = Engine.open(index)
    responses = make_responses(local, args.responses, args.length, seed=7)
    manifest = local.index.manifest
    search_ms = per_shard_search_ms(local, responses)
    with LocalCluster(nodes=2, cpus=1, object_store_bytes=200 << 20) as cluster:
        started = time.monotonic()
        engine = RayEngine.open(index, cluster.address, replicas=1, actor_cpus=1.0)
        open_s = time.monotonic() - started
        for text in responses[:3]:  # warm the page cache, the tokenizer and the actors
            trace(local, text)
            trace(engine, text)
        engine.caller.seconds_by_call.clear()
        local_ms, ray_ms, in_ray = interleaved(local, engine, responses, args.repeats)
        rss = actor_rss()
        by_call = {k: v * 1000.0 / len(ray_ms) for k, v in engine.caller.seconds_by_call.items()}
        engine.close()
    lo, ra = stats(local_ms), stats(ray_ms)
    result = {
        "machine": machine(),
        "index": str(index),
        "tokens": manifest.total_tokens,
        "shards": len(manifest.shards),
        "bytes_per_token": manifest.total_bytes / manifest.total_tokens,
        "responses": len(responses),
        "repeats": args.repeats,
        "response_tokens": args.length,
        "local_ms": lo,
        "ray_ms": ra,
        "ratio_p50": ra["p50"] / lo["p50"],
        "added_p50_ms": ra["p50"] - lo["p50"],
        "ray_call_share": sum(in_ray) / sum(ray_ms),
        "target": f"ray p50 <= {RATIO} x local p50 + {PLUS_MS:g} ms",
        "target_met": ra["p50"] <= RATIO * lo["p50"] + PLUS_MS,
        "ray_engine_open_s": open_s,
        "span_search_per_shard_ms_p50": search_ms,
        "tokens_per_shard": manifest.total_tokens / len(manifest.shards),
        "actor_rss_bytes": rss,
        "ray_ms_per_trace_by_call": by_call,
    }
    print(f"machine: {result['machine']}")
    print(
        f"index: {index} ({result['tokens']:,} tokens, {result['shards']} shards, "
        f"{result['bytes_per_token']:.2f} bytes/token)"
    )
    print(f"trace of {len(responses)} x {args.repeats} responses of {args.length} tokens")
    print(f"  local engine  p50 {lo['p50']:8.1f} ms  p95 {lo['p95']:8.1f} ms")
    print(
        f"  Ray engine    p50 {ra['p50']:8.1f} ms  p95 {ra['p95']:8.1f} ms  "
        f"(2 nodes, {result['ray_call_share']:.0%} of the time in Ray calls)"
    )
    print(
        f"  ratio p50 {result['ratio_p50']:.2f}x, +{result['added_p50_ms']:.1f} ms; "
        f"target {result['target']}: {'PASS' if result['target_met'] else 'FAIL'}"
    )
    print(
        f"  span search per shard p50 {search_ms:.1f} ms; actor RSS "
        f"{[round(r / 2**20) for r in rss]} MiB; RayEngine.open {open_s:.1f} s"
    )
    print(
        "  ms per trace in each Ray call: "
        + ", ".join(f"{k} {v:.1f}" for k, v in sorted(by_call.items(), key=lambda kv: -kv[1]))
    )
    args.json.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.json}")
    return 0 if result["target_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
