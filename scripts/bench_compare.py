"""`scripts/bench compare`: the rows of issue 13, corpustrace and infini-gram in one run.

On the indexes `scripts/bench build` made of the same documents: `count` / `find` p50
over random corpus n-grams (n 1..20, interleaved: each n-gram asks both engines, in
alternating order); in new processes, alternating between the systems: the time to
open the index (engine ready, imports apart), the first trace of the process (ours:
`trace()` with the OLMoTrace defaults; infini-gram: `attribute()` in its C++ engine,
its OLMoTrace span step) with a warm and, where `/proc/sys/vm/drop_caches` is
writable, a cold page cache, the whole `corpustrace trace` command, and the memory
of the process after 100 traces (RSS, anonymous and file-backed parts). Build rows
come from `scripts/bench build`'s JSON (`--build-json`). Ratios are ours / theirs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench_build import DATA, ROOT, machine
from bench_trace import (
    RESPONSE_TOKENS,
    drop_caches,
    infini_gram_factory,
    make_responses,
    pct,
)

HERE = Path(__file__).resolve()


# -- workers: one new process each ----------------------------------------------------------


def run_worker(spec: dict[str, Any], tmp: Path) -> dict[str, Any]:
    path = tmp / "spec.json"
    path.write_text(json.dumps(spec))
    out = subprocess.run(
        [sys.executable, str(HERE.parent / "bench_worker.py"), str(path)],
        check=True,
        capture_output=True,
        text=True,
        env=child_env(),
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def child_env() -> dict[str, str]:
    """The environment of the new processes, with bytecode caching on as a user has it
    (PYTHONDONTWRITEBYTECODE would make every process compile our sources again)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def cli_trace_ms(index: Path, response: str) -> float:
    """Wall time of the whole `corpustrace trace` command on one response."""
    started = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).parent / "corpustrace"), "trace", str(index), "--json"],
        input=response,
        check=True,
        capture_output=True,
        text=True,
        env=child_env(),
    )
    return (time.perf_counter() - started) * 1e3


def ig_cli_equivalent_ms(spec: dict[str, Any], tmp: Path) -> float:
    """infini-gram has no trace command: a new Python process importing it, opening the
    index and answering one attribute() request, timed from outside the same way."""
    started = time.perf_counter()
    run_worker(spec, tmp)
    return (time.perf_counter() - started) * 1e3


# -- the run --------------------------------------------------------------------------------


def corpus_ngrams(engine: Any, count: int, seed: int) -> list[list[int]]:
    """n-grams (n uniform in 1..20) from random places of the corpus: all occur."""
    rng = random.Random(seed)
    out: list[list[int]] = []
    n_docs = int(engine.index.total_documents)
    while len(out) < count:
        n = rng.randint(1, 20)
        doc = rng.randrange(n_docs)
        length = engine.document(doc, 0, 0).length
        if length >= n:
            start = rng.randrange(length - n + 1)
            out.append([int(t) for t in engine.document(doc, start, start + n).tokens])
    return out


def query_phase(engine: Any, ig: Any, grams: list[list[int]]) -> dict[str, Any]:
    """count and find of every n-gram by both engines, interleaved, order alternating."""
    times: dict[str, list[float]] = {k: [] for k in ("count", "find", "ig_count", "ig_find")}
    same = True
    for g in grams[:50]:  # warm-up: the pages these touch
        engine.count(g)
        ig.count(input_ids=g)
    for i, g in enumerate(grams):
        calls = [
            ("count", lambda g=g: engine.count(g)),
            ("ig_count", lambda g=g: ig.count(input_ids=g)),
            ("find", lambda g=g: engine.find(g)),
            ("ig_find", lambda g=g: ig.find(input_ids=g)),
        ]
        if i % 2:
            calls = [calls[1], calls[0], calls[3], calls[2]]
        values = {}
        for name, fn in calls:
            started = time.perf_counter()
            values[name] = fn()
            times[name].append((time.perf_counter() - started) * 1e3)
        same &= values["count"] == values["ig_count"]["count"]
    out: dict[str, Any] = {k: pct(v, 50) for k, v in times.items()}
    out["counts_identical"] = same
    return out


def warm_page_cache(*indexes: Path) -> None:
    """Read every file of the indexes once, so that "warm" means a warm page cache
    whatever ran before (a build, or an earlier run's drop_caches)."""
    for index in indexes:
        for path in sorted(index.rglob("*")):
            if path.is_file():
                with path.open("rb") as fh:
                    while fh.read(1 << 23):
                        pass


def process_phase(args: argparse.Namespace, base: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """New processes, alternating systems: open, first request, memory after 100."""
    specs = {
        "ours": {**base, "system": "ours", "index": str(args.index)},
        "ig": {**base, "system": "ig", "index": str(args.infini_gram_index)},
    }
    out: dict[str, Any] = {}
    for system in ("ours", "ig"):  # untimed: bytecode caches written, files read once
        run_worker({**specs[system], "first": 0, "traces": 1}, tmp)
    cli_trace_ms(args.index, base["responses"][0])
    modes = [("warm", False)] + ([("cold", True)] if args.cold else [])
    warm_page_cache(args.index, args.infini_gram_index)
    for mode, cold in modes:
        for i in range(args.processes):
            for system in ("ours", "ig") if i % 2 == 0 else ("ig", "ours"):
                if cold:
                    drop_caches()
                traces = args.traces if (mode == "warm" and i < 2) else 1
                r = run_worker({**specs[system], "first": i, "traces": traces}, tmp)
                out.setdefault(f"{mode}_{system}", []).append(r)
    warm_page_cache(args.index, args.infini_gram_index)  # the cold series left it cold
    for i in range(args.processes):
        spec = {**specs["ours"], "first": i, "traces": 1, "tokenizer_first": True}
        out.setdefault("warm_ours_tokenizer", []).append(run_worker(spec, tmp))
    cli: dict[str, list[float]] = {"ours": [], "ig": []}
    for i in range(args.processes):
        cli["ours"].append(cli_trace_ms(args.index, base["responses"][i]))
        cli["ig"].append(ig_cli_equivalent_ms({**specs["ig"], "first": i, "traces": 1}, tmp))
    out["cli"] = cli
    return out


def summarize(q: dict[str, Any], p: dict[str, Any], build: dict[str, Any]) -> list[Any]:
    def med(runs: list[dict[str, Any]], key: str) -> float:
        return pct([r[key] for r in runs], 50)

    def mem(runs: list[dict[str, Any]], key: str) -> float:
        full = [r for r in runs if r["traces"] > 1]
        return pct([r["memory_kib"][key] / 1024 for r in full], 50)

    rows: list[tuple[str, float, float, str]] = [
        ("count p50 (n 1..20)", q["count"], q["ig_count"], "ms"),
        ("find p50", q["find"], q["ig_find"], "ms"),
        (
            "open the index (engine ready)",
            med(p["warm_ours"], "open_ms"),
            med(p["warm_ig"], "open_ms"),
            "ms",
        ),
        (
            "import of the library",
            med(p["warm_ours"], "import_ms"),
            med(p["warm_ig"], "import_ms"),
            "ms",
        ),
        (
            "first trace of a new process, warm",
            med(p["warm_ours"], "first_ms"),
            med(p["warm_ig"], "first_ms"),
            "ms",
        ),
    ]
    full = (
        [r for r in p["warm_ours"] if r["traces"] > 1],
        [r for r in p["warm_ig"] if r["traces"] > 1],
    )
    rows.append(
        (
            "warm trace p50 (requests 2..100 of a process)",
            pct([r["later_p50_ms"] for r in full[0]], 50),
            pct([r["later_p50_ms"] for r in full[1]], 50),
            "ms",
        )
    )
    parsed = p["warm_ours_tokenizer"]
    what = "BPE tables" if all(r["bpe_tables"] for r in parsed) else "tokenizer.json"
    rows.append(
        (f"  of which loading the tokenizer ({what})", med(parsed, "tokenizer_ms"), 0.0, "ms")
    )
    rows.append(
        (
            "  first trace, tokenizer loaded before",
            med(parsed, "first_ms"),
            med(p["warm_ig"], "first_ms"),
            "ms",
        )
    )
    if "cold_ours" in p:
        rows.append(
            (
                "first trace, page cache dropped",
                med(p["cold_ours"], "first_ms"),
                med(p["cold_ig"], "first_ms"),
                "ms",
            )
        )
        rows.append(
            (
                "open, page cache dropped",
                med(p["cold_ours"], "open_ms"),
                med(p["cold_ig"], "open_ms"),
                "ms",
            )
        )
    rows += [
        (
            "CLI trace of one response / new process",
            pct(p["cli"]["ours"], 50),
            pct(p["cli"]["ig"], 50),
            "ms",
        ),
        ("RSS after 100 traces", mem(p["warm_ours"], "VmRSS"), mem(p["warm_ig"], "VmRSS"), "MiB"),
        ("  anonymous", mem(p["warm_ours"], "RssAnon"), mem(p["warm_ig"], "RssAnon"), "MiB"),
        ("  file-backed", mem(p["warm_ours"], "RssFile"), mem(p["warm_ig"], "RssFile"), "MiB"),
    ]
    ours, ig = build.get("corpustrace"), build.get("infini_gram")
    if ours and ig and "skipped" not in ig:
        rows += [
            (
                "build throughput",
                ours["tokens_per_s"] / 1e3,
                ig["tokens_per_s"] / 1e3,
                "k tokens/s",
            ),
            ("build wall time", ours["wall_s"], ig["wall_s"], "s"),
            (
                "build peak RSS, process tree",
                ours["peak_tree_rss"] / 2**20,
                ig["peak_tree_rss"] / 2**20,
                "MiB",
            ),
            (
                "build largest process (ru_maxrss)",
                ours["ru_maxrss"] / 2**20,
                ig["ru_maxrss"] / 2**20,
                "MiB",
            ),
            ("index bytes/token", ours["bytes_per_token"], ig["bytes_per_token"], ""),
        ]
    return rows


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts/bench compare", description=__doc__.split("\n")[0])
    p.add_argument("--index", type=Path, default=DATA / "index-corpustrace")
    p.add_argument("--infini-gram-index", type=Path, default=DATA / "index-infini-gram")
    p.add_argument("--build-json", type=Path, default=ROOT / "bench-output" / "build.json")
    p.add_argument("--responses", type=int, default=24)
    p.add_argument("--queries", type=int, default=1000, help="n-grams for count/find")
    p.add_argument("--processes", type=int, default=6, help="new processes per system and mode")
    p.add_argument("--traces", type=int, default=100, help="traces before reading the RSS")
    p.add_argument("--no-cold", dest="cold", action="store_false", help="skip drop_caches")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json-out", type=Path, default=ROOT / "bench-output" / "compare.json")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.json_out.parent
    from corpustrace.engine import Engine

    load_before = os.getloadavg()
    engine = Engine.open(args.index)
    responses = make_responses(engine, args.responses, RESPONSE_TOKENS, args.seed)
    ids = [[int(t) for t in engine.tokenizer.encode(r)] for r in responses]
    bow = tmp / "bow_ids.txt"
    make_ig, skipped = infini_gram_factory(args.infini_gram_index, engine, bow)
    if make_ig is None:
        raise SystemExit(f"infini-gram: {skipped}")
    ig = make_ig()
    grams = corpus_ngrams(engine, args.queries, args.seed)
    warm_page_cache(args.index, args.infini_gram_index)
    q = query_phase(engine, ig, grams)
    corpus = {
        "tokens": int(engine.total_tokens),
        "documents": int(engine.index.total_documents),
        "sa_width": engine.index.shards[0].sa_width,
        "shards": len(engine.shards),
    }
    engine.close()
    del engine, ig
    args.cold = args.cold and drop_caches()
    base = {"responses": responses, "ids": ids, "bow": str(bow), "traces": 1, "first": 0}
    p = process_phase(args, base, tmp)
    build = json.loads(args.build_json.read_text()) if args.build_json.is_file() else {}
    rows = summarize(q, p, build)
    load_after = os.getloadavg()
    print(f"\ncorpus: {corpus}; machine: {machine()}")
    print(
        f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f}; "
        f"counts identical: {q['counts_identical']}\n"
    )
    print(f"{'':44}{'corpustrace':>14}{'infini-gram':>14}{'ratio':>9}")
    for name, ours, theirs, unit in rows:
        ratio = ours / theirs if theirs else float("nan")
        print(f"{name + (f' ({unit})' if unit else ''):44}{ours:14.3f}{theirs:14.3f}{ratio:8.2f}x")
    result = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "corpus": corpus,
        "load": [load_before, load_after],
        "queries": q,
        "processes": p,
        "rows": rows,
        "cold": args.cold,
    }
    args.json_out.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nwritten: {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
