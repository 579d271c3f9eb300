"""The benchmark's results as Markdown tables (docs/quality.md)."""

from __future__ import annotations

from typing import Any

from corpustrace.trace.rerank import LEVELS

PROVENANCE_COLUMNS = ("span_precision", "span_recall", "mrr", "recall_at_10", "level_accuracy")


def f3(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def provenance_table(result: dict[str, Any]) -> str:
    head = "| ranking | span P | span R | MRR | recall@10 | level acc. | P(high) | P(medium) |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for name, r in result["rankings"].items():
        cells = [f3(r[c]) for c in PROVENANCE_COLUMNS]
        cells += [f3(r["level_precision"]["high"]), f3(r["level_precision"]["medium"])]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lex = result.get("lexical")
    if lex:
        lines.append(
            f"| whole-corpus BM25 | – | – | {f3(lex['mrr'])} | {f3(lex['recall_at_10'])} "
            "| – | – | – |"
        )
    return "\n".join(lines)


def confusion_table(confusion: dict[str, dict[str, int]]) -> str:
    lines = ["| true \\ predicted | low | medium | high | absent |", "|---|---|---|---|---|"]
    for truth in reversed(LEVELS):
        row = confusion[truth]
        lines.append(
            f"| {truth} | {row['low']} | {row['medium']} | {row['high']} | {row['absent']} |"
        )
    return "\n".join(lines)


def facts_table(result: dict[str, Any], metric: str) -> str:
    methods = result["methods"]
    buckets = list(next(iter(methods.values())))
    lines = [
        "| method | " + " | ".join(f"f={b}" for b in buckets) + " |",
        "|---|" + "---|" * len(buckets),
    ]
    for name, per_bucket in methods.items():
        cells = [f"{m:.3f} ± {h:.3f}" for m, h in (per_bucket[b][metric] for b in buckets)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def timing_table(t: dict[str, Any]) -> str:
    lines = [
        f"{t['documents']:,} documents, {t['queries']} queries (prompt + response).",
        "",
        "| | corpustrace lexical | rank_bm25 | rank_bm25 / ours |",
        "|---|---|---|---|",
        f"| build (s) | {t['build_s']} | {t['rank_bm25_build_s']} | {_inverse(t['build_ratio'])} |",
        f"| top-10 query (ms) | {t['query_ms']} | {t['rank_bm25_query_ms']} | "
        f"{t['query_speedup']} |",
    ]
    if "bm25s_build_s" in t:
        lines += [
            "",
            f"bm25s {t['bm25s_version']} (in memory, same words and Lucene idf) in the same run: "
            f"build {t['bm25s_build_s']} s, query {t['bm25s_query_ms']} ms "
            f"(bm25s / ours: build {_inverse(t['bm25s_build_ratio'])}, "
            f"query {t['bm25s_query_ratio']}).",
        ]
    return "\n".join(lines)


def _inverse(ratio: float | None) -> str:
    return "–" if not ratio else f"{1 / ratio:.2f}"


def markdown(results: dict[str, Any], command: str) -> str:
    p, f = results["provenance"], results["facts"]
    parts = [
        f"Made by `{command}` in {results['seconds']} s (corpustrace "
        f"{results['corpustrace_version']}).",
        "",
        f"### Provenance set: {p['cases']} responses over {p['corpus']['documents']:,} documents "
        f"of {p['corpus']['name']}",
        "",
        provenance_table(p),
        "",
    ]
    for name, r in p["rankings"].items():
        parts += [f"Levels vs ground truth, `{name}`:", "", confusion_table(r["confusion"]), ""]
    parts += [
        f"### Fact tracing: {f['seeds']} seeds, mean ± 95% CI over seeds "
        f"({f['sets'][0]['documents']:,} documents, {f['sets'][0]['facts']} facts per seed)",
        "",
    ]
    for metric, title in (
        ("mrr", "MRR"),
        ("recall_at_10", "recall@10"),
        ("precision_at_10", "precision@10"),
    ):
        parts += [f"{title} by fact frequency:", "", facts_table(f, metric), ""]
    first = next(iter(f["methods"].values()))
    if "tail_patch" in first["all"]:
        parts += [
            "Tail-patch: change in log p(answer) after one AdamW step on the method's top 10 "
            "documents (higher is better; `random` is the baseline):",
            "",
            facts_table(f, "tail_patch"),
            "",
        ]
    parts += [
        "### Lexical index on the provenance corpus",
        "",
        timing_table(p["lexical_timing"]),
        "",
    ]
    return "\n".join(parts)
