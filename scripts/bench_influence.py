"""`scripts/bench influence`: TrackStar feature throughput and query latency.

Features: a demo-size GPT-2 (corpustrace.demo_influence.TRAIN: 2 layers, width 64,
context 128) over the demo index (or --index), trained for --train-seconds (throughput does
not depend on how well it is trained), then `Projector.features` + the Hessian transform
over --examples chunks in batches of --batch-size: examples/s.
Latency: one query against --rows stored examples (synthetic unit fp16 features of
dimension --dim in a real feature-store shard layout, memory-mapped): the exact chunked
scoring of score.rank with k = 10 and opponents, p50/p95 over --repeats, page cache warm;
plus the query's own gradient features at batch size 1 on the trained model.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_build import DATA, machine


def parse() -> argparse.Namespace:
    from corpustrace.demo import INDEX_DIR, default_home

    p = argparse.ArgumentParser(prog="scripts/bench influence", description=__doc__)
    p.add_argument("--index", type=Path, default=default_home() / INDEX_DIR)
    p.add_argument("--examples", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--train-seconds", type=float, default=20.0)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=2048, help="stored feature dimension")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int)
    p.add_argument("--work", type=Path, default=DATA / "influence")
    return p.parse_args()


def feature_throughput(args: argparse.Namespace, model_dir: Path) -> dict[str, float]:
    import torch

    from corpustrace.demo_influence import BUILD, TRAIN
    from corpustrace.index.reader import Index
    from corpustrace.influence import hessian
    from corpustrace.influence.examples import batches, chunk_table, chunk_tokens_of
    from corpustrace.influence.features import Projector
    from corpustrace.influence.model_io import load_model
    from corpustrace.influence.train import TrainOptions, train

    if args.threads:
        torch.set_num_threads(args.threads)
    if not (model_dir / "config.json").is_file():
        train(
            TrainOptions(
                index=args.index, out=model_dir, max_seconds=args.train_seconds,
                threads=args.threads, quiet=True, **TRAIN,  # type: ignore[arg-type]
            )
        )  # fmt: skip
    index = Index.open(args.index)
    loaded = load_model(model_dir)
    projector = Projector(loaded.model, int(BUILD["dim"]), 0)
    table = chunk_table(index, int(TRAIN["context"]))[: args.examples]
    rng = np.random.default_rng(0)
    transform = rng.normal(size=(projector.dim, projector.dim)) / np.sqrt(projector.dim)
    tokens = sum(int(r[4] - r[3]) for r in table)
    projector.features([chunk_tokens_of(index, table[0])])  # warm-up
    started = time.perf_counter()
    for rows in batches(table, args.batch_size):
        raw = projector.features([chunk_tokens_of(index, r) for r in rows])
        hessian.unit_rows(raw @ transform)
    seconds = time.perf_counter() - started
    one = []
    for r in table[:5]:
        t = time.perf_counter()
        projector.features([chunk_tokens_of(index, r)])
        one.append((time.perf_counter() - t) * 1000)
    params = sum(p.numel() for p in loaded.model.parameters())
    return {
        "model_parameters": params,
        "vocab": index.tokenizer.vocab_size,
        "dim": projector.dim,
        "examples": len(table),
        "mean_tokens": tokens / len(table),
        "examples_per_s": len(table) / seconds,
        "query_features_ms_p50": statistics.median(one),
    }


def query_latency(args: argparse.Namespace, root: Path) -> dict[str, float]:
    from corpustrace.influence import store as st
    from corpustrace.influence.hessian import unit_rows
    from corpustrace.influence.score import rank

    rng = np.random.default_rng(1)
    shard_rows = 8192
    for i in range(-(-args.rows // shard_rows)):
        n = min(shard_rows, args.rows - i * shard_rows)
        st.write_shard(root, i, unit_rows(rng.standard_normal((n, args.dim), np.float32)))
    shards = []
    for i in range(-(-args.rows // shard_rows)):
        info = st.finished_shard(root, i)
        assert info is not None
        path = root / st.shard_name(i) / st.FEATURES
        shards.append(
            np.memmap(path, dtype=st.FEATURE_DTYPE, mode="r", shape=(info["rows"], args.dim))
        )
    query = unit_rows(rng.standard_normal((1, args.dim))).astype(np.float32)
    rank(shards, query, 10)  # page cache warm
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        rank(shards, query, 10)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {
        "rows": args.rows,
        "dim": args.dim,
        "store_mb": args.rows * args.dim * 2 / 1e6,
        "score_ms_p50": statistics.median(times),
        "score_ms_p95": times[min(len(times) - 1, int(0.95 * len(times)))],
    }


def main() -> int:
    args = parse()
    if not (args.index / "manifest.json").is_file():
        print(f"no index at {args.index}: run scripts/demo once, or pass --index", file=sys.stderr)
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}")
    features = feature_throughput(args, args.work / "model")
    print(json.dumps({"features": features}))
    root = Path(tempfile.mkdtemp(dir=args.work, prefix="store-"))
    try:
        latency = query_latency(args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps({"latency": latency}))
    total = features["query_features_ms_p50"] + latency["score_ms_p50"]
    print(
        f"features: {features['examples_per_s']:.1f} examples/s "
        f"({features['model_parameters']:,}-parameter GPT-2, d = {features['dim']}, "
        f"{features['mean_tokens']:.0f} tokens/example); one query over "
        f"{latency['rows']:,} examples (d = {latency['dim']}): "
        f"score {latency['score_ms_p50']:.0f} ms p50 + its features "
        f"{features['query_features_ms_p50']:.0f} ms = {total:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
