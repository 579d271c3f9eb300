"""Run the quality benchmark: the provenance set, the fact-tracing set over seeds, and the
lexical index's build time and query latency against rank_bm25 on the same corpus."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import corpustrace
from corpustrace.eval.corpus import Doc, build_eval_index, generated_corpus, read_jsonl_corpus
from corpustrace.eval.facts import FREQUENCIES, fact_set
from corpustrace.eval.methods import METHODS, TAIL_PATCH, FactQuery, MethodContext, TailPatch
from corpustrace.eval.metrics import mean, mean_ci, precision_at, recall_at, reciprocal_rank
from corpustrace.eval.provenance import provenance_set
from corpustrace.eval.provenance_eval import evaluate_provenance
from corpustrace.eval.timing import lexical_timing

Say = Callable[[str], None]


@dataclass(frozen=True)
class QualityOptions:
    workdir: Path
    corpus: Path | None = None  # JSONL; None: a generated corpus
    corpus_docs: int = 10_000
    cases: int = 300
    seeds: int = 5
    per_frequency: int = 6
    fillers: int = 300
    timing_queries: int = 100


def corpus_docs(options: QualityOptions) -> tuple[list[Doc], str]:
    if options.corpus is not None:
        return read_jsonl_corpus(options.corpus, options.corpus_docs), str(options.corpus.name)
    return generated_corpus(min(options.corpus_docs, 2000), 0), "generated"


def run_provenance(options: QualityOptions, say: Say) -> dict[str, Any]:
    from corpustrace.engine import Engine
    from corpustrace.lexical import LexicalIndex

    docs, name = corpus_docs(options)
    say(f"provenance: indexing {len(docs):,} documents of {name}")
    started = time.monotonic()
    index = build_eval_index(docs, options.workdir / "provenance")
    cases = provenance_set(docs, options.cases, seed=0)
    say(f"provenance: {len(cases)} responses")
    with Engine.open(index) as engine:
        result = evaluate_provenance(engine, LexicalIndex.open(index), cases)
    result["corpus"] = {"name": name, "documents": len(docs)}
    queries = [c.prompt + " " + c.response for c in cases][: options.timing_queries]
    result["lexical_timing"] = lexical_timing(index, docs, queries)
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def score_facts(
    ctx: MethodContext, facts: Sequence[Any], name: str, tail_patch: TailPatch | None = None
) -> dict[int, list[dict[str, float]]]:
    ranker = METHODS[name](ctx)
    buckets: dict[int, list[dict[str, float]]] = {f: [] for f in FREQUENCIES}
    for fact in facts:
        query = FactQuery(fact.prompt, fact.obj, fact.response)
        ranked = ranker(query)
        relevant = set(fact.docs)
        row = {
            "mrr": reciprocal_rank(ranked, relevant),
            "recall_at_10": recall_at(ranked, relevant, 10),
            "precision_at_10": precision_at(ranked, relevant, 10),
        }
        if tail_patch is not None:
            row["tail_patch"] = tail_patch(query, ranked)
        buckets[fact.frequency].append(row)
    return buckets


def run_facts(options: QualityOptions, say: Say) -> dict[str, Any]:
    from corpustrace.engine import Engine
    from corpustrace.lexical import LexicalIndex

    started = time.monotonic()
    per_seed: dict[str, list[dict[str, dict[str, float]]]] = {m: [] for m in METHODS}
    sizes = []
    for seed in range(options.seeds):
        fs = fact_set(seed, options.per_frequency, options.fillers)
        sizes.append({"documents": len(fs.docs), "facts": len(fs.facts)})
        say(f"facts: seed {seed}, {len(fs.docs):,} documents, {len(fs.facts)} facts")
        index = build_eval_index(fs.docs, options.workdir / f"facts-{seed}")
        with Engine.open(index) as engine:
            ctx = MethodContext(index, fs.docs, engine, LexicalIndex.open(index), seed)
            patch = TAIL_PATCH[0](ctx) if TAIL_PATCH else None
            for name in METHODS:
                buckets = score_facts(ctx, fs.facts, name, patch)
                per_seed[name].append(bucket_means(buckets))
    methods = {name: over_seeds(rows) for name, rows in per_seed.items()}
    return {
        "seeds": options.seeds,
        "sets": sizes,
        "methods": methods,
        "seconds": round(time.monotonic() - started, 1),
    }


def bucket_means(buckets: dict[int, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Mean of each metric per frequency bucket, and over all facts ('all')."""
    out = {
        str(f): {k: mean(r[k] for r in rows) for k in rows[0]}
        for f, rows in buckets.items()
        if rows
    }
    everything = [r for rows in buckets.values() for r in rows]
    out["all"] = {k: mean(r[k] for r in everything) for k in everything[0]}
    return out


def over_seeds(rows: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, list[float]]]:
    """[mean, 95% CI half-width] over seeds of each bucket's metric."""
    return {
        bucket: {k: list(mean_ci([r[bucket][k] for r in rows])) for k in rows[0][bucket]}
        for bucket in rows[0]
    }


def run_quality(options: QualityOptions, say: Say = print) -> dict[str, Any]:
    """The whole benchmark; a JSON-ready dict."""
    started = time.monotonic()
    options.workdir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "corpustrace_version": corpustrace.__version__,
        "machine": {"python": platform.python_version(), "processor": platform.machine()},
        "options": {
            k: str(v) if isinstance(v, Path) else v
            for k, v in vars(options).items()
            if k != "workdir"
        },
        "provenance": run_provenance(options, say),
        "facts": run_facts(options, say),
    }
    result["seconds"] = round(time.monotonic() - started, 1)
    return result
