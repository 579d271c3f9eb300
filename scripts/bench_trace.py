"""`scripts/bench trace`: latency of tracing and n-gram queries on the build bench's index.

Responses: model-style texts of 458 tokens mixing real passages of the corpus with
generated prose that the corpus does not hold, so some spans match and some do not.
Measured: trace latency p50/p95 per step (TraceResult.timings_ms), warm and (where
`/proc/sys/vm/drop_caches` is writable) with a cold page cache; the span search alone
(`Engine.longest_prefixes`); `Engine.count` / `Engine.find` p50 per n-gram length. When
infini-gram's index of the same corpus exists (`scripts/bench build` makes it), its
engine answers the same questions in the same run: `creativity()` (longest prefix per
position), `attribute()` (OLMoTrace's span step) and `count()` / `find()`.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from bench_build import DATA, GPT2_EOS, ROOT, machine

DROP_CACHES = Path("/proc/sys/vm/drop_caches")
RESPONSE_TOKENS = 458
NGRAM_LENGTHS = (1, 2, 4, 8, 16, 32)
TARGET_TRACE_P50_MS = 1000.0
TARGET_SPAN_RATIO = 1.5
TARGET_COUNT_P50_MS = 5.0
# GPT-2 ids of "." and "\n": OLMoTrace's delimiters, for infini-gram's attribute().
GPT2_DELIMS = [13, 198]
MAX_FREQUENCY = 1_000_000  # TraceParams.max_frequency, infini-gram's max_cnt

WORDS = tuple(
    " ".join(
        [
            "the a model answer question because therefore however which while system user value",
            "result probably often rarely simple careful reason example explain consider imagine",
            "purple harbor lantern quietly orchard velvet meadow copper whistle autumn ledger",
            "river glass mountain pocket saddle violin thunder marble garden compass blanket",
            "we you they it this that these those is are was were will would could should might",
            "first second finally also then next here there about around between under over",
        ]
    ).split()
)


# -- inputs ---------------------------------------------------------------------------------


def novel_text(rng: random.Random, words: int) -> str:
    """Prose-like text from a small word list: plausible tokens, unlikely long matches."""
    out, sentence = [], []
    for _ in range(words):
        sentence.append(rng.choice(WORDS))
        if len(sentence) >= rng.randint(6, 14):
            out.append(" ".join(sentence).capitalize() + ".")
            sentence = []
    if sentence:
        out.append(" ".join(sentence).capitalize() + ".")
    return " ".join(out)


def corpus_passage(engine: Any, rng: random.Random, tokens: int) -> str:
    """`tokens` consecutive tokens of a random document of the corpus, as text."""
    n_docs = int(engine.index.total_documents)
    for _ in range(100):
        doc = rng.randrange(n_docs)
        length = engine.document(doc, 0, 0).length
        if length > tokens:
            start = rng.randrange(length - tokens)
            view = engine.document(doc, start, start + tokens)
            return str(engine.tokenizer.decode(view.tokens))
    raise SystemExit("no document long enough for a passage")


def make_responses(engine: Any, count: int, length: int, seed: int) -> list[str]:
    """Real passages (20-120 tokens) alternating with novel prose, cut to `length` tokens."""
    rng = random.Random(seed)
    tok = engine.tokenizer
    responses = []
    for i in range(count):
        parts = ["Here is what I found:" if i % 2 else "Sure. The relevant code is below."]
        while len(tok.encode("\n".join(parts))) < length + 20:
            if rng.random() < 0.5:
                parts.append(corpus_passage(engine, rng, rng.randint(20, 120)))
            else:
                parts.append(novel_text(rng, rng.randint(15, 60)))
        ids = tok.encode("\n".join(parts))[:length]
        responses.append(str(tok.decode(ids)))
    return responses


def corpus_ngrams(engine: Any, n: int, count: int, seed: int) -> list[list[int]]:
    """n-grams taken from random places of the corpus (so every one occurs)."""
    rng = random.Random(seed * 1000 + n)
    out: list[list[int]] = []
    n_docs = int(engine.index.total_documents)
    while len(out) < count:
        doc = rng.randrange(n_docs)
        length = engine.document(doc, 0, 0).length
        if length >= n:
            start = rng.randrange(length - n + 1)
            out.append([int(t) for t in engine.document(doc, start, start + n).tokens])
    return out


# -- timing ---------------------------------------------------------------------------------


def ms(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return (time.perf_counter() - started) * 1000.0, value


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def stats(values: list[float]) -> dict[str, float]:
    return {
        "p50": pct(values, 50),
        "p95": pct(values, 95),
        "mean": statistics.fmean(values),
        "n": len(values),
    }


def drop_caches() -> bool:
    try:
        with open(DROP_CACHES, "w") as fh:
            fh.write("3\n")
        return True
    except OSError:
        return False


def step_stats(results: list[Any], walls: list[float]) -> dict[str, Any]:
    """p50/p95 of every step of TraceResult.timings_ms, plus the wall time around trace()."""
    steps: dict[str, list[float]] = {}
    for result in results:
        for name, value in result.timings_ms.items():
            steps.setdefault(name, []).append(float(value))
    steps["wall"] = walls
    return {
        "steps": {k: stats(v) for k, v in steps.items()},
        "spans_per_trace": statistics.fmean(len(r.spans) for r in results),
        "documents_per_trace": statistics.fmean(len(r.documents) for r in results),
    }


def trace_runs(engine: Any, responses: list[str], repeats: int) -> dict[str, Any]:
    """Per step p50/p95 of trace() over every response, `repeats` times each."""
    from corpustrace.trace import trace

    results, walls = [], []
    for _ in range(repeats):
        for text in responses:
            wall, result = ms(lambda text=text: trace(engine, text))
            results.append(result)
            walls.append(wall)
    return step_stats(results, walls)


def fresh_trace_runs(index: Path, responses: list[str], drop: bool) -> dict[str, Any]:
    """Each response traced by a freshly opened engine, after dropping the page cache if `drop`.

    drop_caches leaves pages that a process has mapped, so no engine over the index may
    be open in this process while this runs. Without `drop` this measures what a first
    query on a new engine costs apart from disk reads (lazy tables, first touches).
    """
    from corpustrace.engine import Engine
    from corpustrace.trace import trace

    results, walls, opens = [], [], []
    for text in responses:
        gc.collect()
        if drop:
            drop_caches()
        open_ms, engine = ms(lambda: Engine.open(index))
        wall, result = ms(lambda text=text, engine=engine: trace(engine, text))
        engine.close()
        del engine
        results.append(result)
        walls.append(wall)
        opens.append(open_ms)
    out = step_stats(results, walls)
    out["steps"]["open (not in total)"] = stats(opens)
    return out


def cold_ig_runs(make_ig: Callable[[], Any], ids: list[list[int]]) -> dict[str, float]:
    """attribute() in C++ by a freshly constructed infini-gram engine after dropping the cache."""
    times = []
    for seq in ids:
        gc.collect()
        drop_caches()
        ig = make_ig()
        times.append(ms(lambda seq=seq, ig=ig: ig_attribute_native(ig, seq))[0])
        del ig
    return stats(times)


def timed(fn: Callable[[Any], Any], items: list[Any]) -> dict[str, float]:
    times = []
    for item in items:
        times.append(ms(lambda item=item: fn(item))[0])
    return stats(times)


# -- infini-gram ----------------------------------------------------------------------------


def infini_gram_factory(index: Path, engine: Any, bow_path: Path) -> tuple[Any, str]:
    """A maker of infini-gram engines over its index of the same corpus, or None and why."""
    if importlib.util.find_spec("infini_gram") is None:
        return None, "infini-gram is not installed"
    if not (index / "table.0").is_file():
        return None, f"no infini-gram index at {index} (run scripts/bench build first)"
    from infini_gram.engine import InfiniGramEngine

    # Beginning-of-word tokens for enforce_bow: those not starting with an ASCII letter or
    # digit (a space, punctuation, a newline). Ours decides word starts from the text.
    bow = [
        i
        for i, b in enumerate(engine.tokenizer.token_bytes)
        if b and not (b[0] < 128 and chr(b[0]).isalnum())
    ]
    bow_path.write_text("\n".join(map(str, bow)) + "\n")

    def make() -> Any:
        return InfiniGramEngine(
            index_dir=str(index),
            eos_token_id=GPT2_EOS,
            vocab_size=50257,
            version=4,
            token_dtype="u16",
            bow_ids_path=str(bow_path),
        )

    return make, ""


def ig_attribute(ig: Any, ids: list[int]) -> Any:
    """infini-gram's documented call: spans, each with a pointer for every occurrence."""
    return ig.attribute(
        input_ids=ids, delim_ids=GPT2_DELIMS, min_len=1, max_cnt=MAX_FREQUENCY, enforce_bow=True
    )


def ig_attribute_native(ig: Any, ids: list[int]) -> int:
    """The same search in its C++ engine, without the Python wrapper's per-occurrence dicts."""
    result = ig.engine.attribute(
        input_ids=ids, delim_ids=GPT2_DELIMS, min_len=1, max_cnt=MAX_FREQUENCY, enforce_bow=True
    )
    return len(result.spans)


# -- report ---------------------------------------------------------------------------------


def print_table(res: dict[str, Any]) -> None:
    c = res["corpus"]
    print(
        f"\nindex: {c['tokens']:,} tokens, {c['documents']:,} documents, {c['shards']} "
        f"shard(s); {res['responses']['count']} responses of "
        f"{res['responses']['tokens_p50']:.0f} tokens (p50)"
    )
    print(f"machine: {res['machine']}\n")
    labels = {
        "warm": "warm page cache",
        "fresh": "new engine each, warm page cache",
        "cold": "new engine each, cold page cache",
    }
    for mode in ("warm", "fresh", "cold"):
        t = res["trace"].get(mode)
        if not t:
            continue
        print(f"trace ({labels[mode]}), ms")
        print(f"  {'':28}{'p50':>10}{'p95':>10}")
        for step, s in t["steps"].items():
            print(f"  {step:28}{s['p50']:10.1f}{s['p95']:10.1f}")
        print(
            f"  spans/trace {t['spans_per_trace']:.1f}, documents/trace "
            f"{t['documents_per_trace']:.1f}\n"
        )
    print(f"{'span search, ms (p50 / p95)':44}{'corpustrace':>18}{'infini-gram':>18}")
    for name, ours, theirs in res["span_rows"]:
        print(f"  {name:42}{ours:>18}{theirs:>18}")
    print(f"\n{'queries, ms p50':44}{'corpustrace':>18}{'infini-gram':>18}")
    for name, ours, theirs in res["query_rows"]:
        print(f"  {name:42}{ours:>18}{theirs:>18}")
    if res["ratios"]:
        print("\nratios (corpustrace / infini-gram; < 1 means we are faster):")
        for name, value in res["ratios"].items():
            print(f"  {name:55}{value:8.2f}x")
    if res.get("infini_gram_skipped"):
        print(f"\ninfini-gram: {res['infini_gram_skipped']}")
    print()
    for name, ok in res["targets"].items():
        print(f"target {name:55} {'n/a' if ok is None else 'PASS' if ok else 'FAIL'}")


def cell(s: dict[str, float] | None) -> str:
    return "-" if s is None else f"{s['p50']:.2f} / {s['p95']:.2f}"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts/bench trace", description=__doc__.split("\n")[0])
    p.add_argument("--index", type=Path, default=DATA / "index-corpustrace")
    p.add_argument("--infini-gram-index", type=Path, default=DATA / "index-infini-gram")
    p.add_argument("--responses", type=int, default=20)
    p.add_argument("--response-tokens", type=int, default=RESPONSE_TOKENS)
    p.add_argument("--repeats", type=int, default=3, help="warm passes over the responses")
    p.add_argument("--queries", type=int, default=200, help="n-grams per length")
    p.add_argument("--no-cold", action="store_true", help="skip the cold page-cache pass")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json-out", type=Path, default=ROOT / "bench-output" / "trace.json")
    return p.parse_args()


def warm_up(engine: Any, ig: Any, responses: list[str], ids: list[list[int]]) -> None:
    """One untimed pass brings the pages the queries touch into the page cache."""
    from corpustrace.trace import trace

    for text, seq in zip(responses, ids, strict=True):
        trace(engine, text)
        if ig is not None:
            ig_attribute_native(ig, seq)


def span_search(
    engine: Any, ig: Any, ids: list[list[int]], res: dict[str, Any], repeats: int
) -> None:
    """Our longest_prefixes and spans step against creativity() and attribute()."""
    reps = ids * repeats
    out: dict[str, Any] = {
        "longest_prefixes": timed(engine.longest_prefixes, reps),
        "trace_spans_step": res["trace"]["warm"]["steps"]["spans"],
    }
    if ig is not None:
        out["ig_creativity"] = timed(lambda s: ig.creativity(input_ids=s), reps)
        out["ig_attribute_native"] = timed(lambda s: ig_attribute_native(ig, s), reps)
        out["ig_attribute"] = timed(lambda s: ig_attribute(ig, s), ids)
    res["span_search"] = out
    res["span_rows"] = [
        (
            "longest prefix per position / creativity()",
            cell(out["longest_prefixes"]),
            cell(out.get("ig_creativity")),
        ),
        (
            "spans step / attribute() in C++",
            cell(out["trace_spans_step"]),
            cell(out.get("ig_attribute_native")),
        ),
        (
            "spans step / attribute() via Python API",
            cell(out["trace_spans_step"]),
            cell(out.get("ig_attribute")),
        ),
    ]


def query_bench(engine: Any, ig: Any, res: dict[str, Any], count: int, seed: int) -> None:
    """count() and find() p50 for real n-grams of several lengths, both engines."""
    queries: dict[str, Any] = {}
    rows = []
    for n in NGRAM_LENGTHS:
        grams = corpus_ngrams(engine, n, count, seed)
        q = {"count": timed(engine.count, grams), "find": timed(engine.find, grams)}
        if ig is not None:
            q["ig_count"] = timed(lambda g: ig.count(input_ids=g), grams)
            q["ig_find"] = timed(lambda g: ig.find(input_ids=g), grams)
        queries[str(n)] = q
        for what in ("count", "find"):
            theirs = q.get(f"ig_{what}")
            rows.append(
                (
                    f"{what} {n}-gram",
                    f"{q[what]['p50']:.3f}",
                    "-" if theirs is None else f"{theirs['p50']:.3f}",
                )
            )
    res["queries"], res["query_rows"] = queries, rows


def ratios_and_targets(res: dict[str, Any]) -> None:
    span, queries = res["span_search"], res["queries"]
    ratios: dict[str, float] = {}
    if "ig_attribute" in span:
        spans_p50 = span["trace_spans_step"]["p50"]
        ratios["longest prefixes / creativity()"] = (
            span["longest_prefixes"]["p50"] / span["ig_creativity"]["p50"]
        )
        ratios["spans step / attribute() in C++"] = spans_p50 / span["ig_attribute_native"]["p50"]
        ratios["spans step / attribute() via Python API"] = spans_p50 / span["ig_attribute"]["p50"]
        if "ig_attribute_native_cold" in span:
            ratios["spans step / attribute() in C++, cold"] = (
                res["trace"]["cold"]["steps"]["spans"]["p50"]
                / span["ig_attribute_native_cold"]["p50"]
            )
        for n, q in queries.items():
            ratios[f"count {n}-gram / count()"] = q["count"]["p50"] / q["ig_count"]["p50"]
            ratios[f"find {n}-gram / find()"] = q["find"]["p50"] / q["ig_find"]["p50"]
    res["ratios"] = ratios
    span_ratio = ratios.get("spans step / attribute() in C++")
    trace_p50 = res["trace"]["warm"]["steps"]["total"]["p50"]
    res["targets"] = {
        f"trace p50 <= {TARGET_TRACE_P50_MS:g} ms (warm)": trace_p50 <= TARGET_TRACE_P50_MS,
        f"spans step within {TARGET_SPAN_RATIO}x of attribute() in C++": (
            None if span_ratio is None else span_ratio <= TARGET_SPAN_RATIO
        ),
        f"count p50 < {TARGET_COUNT_P50_MS:g} ms (every length)": all(
            q["count"]["p50"] < TARGET_COUNT_P50_MS for q in queries.values()
        ),
    }


def cold_phase(
    args: argparse.Namespace,
    make_ig: Any,
    responses: list[str],
    ids: list[list[int]],
    res: dict[str, Any],
) -> None:
    """Cold page cache: every engine is reopened after drop_caches (none may stay open)."""
    res["cold_available"] = not args.no_cold and drop_caches()
    if not res["cold_available"]:
        return
    res["trace"]["fresh"] = fresh_trace_runs(args.index, responses, drop=False)
    res["trace"]["cold"] = fresh_trace_runs(args.index, responses, drop=True)
    cold_spans = res["trace"]["cold"]["steps"]["spans"]
    theirs = None
    if make_ig is not None:
        theirs = res["span_search"]["ig_attribute_native_cold"] = cold_ig_runs(make_ig, ids)
    res["span_rows"].append(
        ("spans step / attribute() in C++, cold", cell(cold_spans), cell(theirs))
    )


def main() -> int:
    args = parse_args()
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    from corpustrace.engine import Engine

    engine = Engine.open(args.index)
    responses = make_responses(engine, args.responses, args.response_tokens, args.seed)
    ids = [[int(t) for t in engine.tokenizer.encode(r)] for r in responses]
    bow = args.json_out.parent / "bow_ids.txt"
    make_ig, skipped = infini_gram_factory(args.infini_gram_index, engine, bow)
    ig = make_ig() if make_ig is not None else None
    warm_up(engine, ig, responses, ids)
    res: dict[str, Any] = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "corpus": {
            "tokens": int(engine.total_tokens),
            "documents": int(engine.index.total_documents),
            "shards": len(engine.shards),
            "index": str(args.index),
        },
        "responses": {"count": len(responses), "tokens_p50": statistics.median(map(len, ids))},
        "trace": {"warm": trace_runs(engine, responses, args.repeats)},
        "infini_gram_skipped": skipped,
    }
    span_search(engine, ig, ids, res, args.repeats)
    query_bench(engine, ig, res, args.queries, args.seed)
    engine.close()
    del engine, ig
    cold_phase(args, make_ig, responses, ids, res)
    ratios_and_targets(res)
    print_table(res)
    args.json_out.write_text(json.dumps(res, indent=2, default=str))
    print(f"\nwritten: {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
