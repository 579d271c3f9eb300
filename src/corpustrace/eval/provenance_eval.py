"""Score the trace's spans, document order and levels on the provenance set."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from corpustrace.eval.metrics import mean, ratio, recall_at, reciprocal_rank, span_overlap
from corpustrace.eval.provenance import ProvenanceCase, truth_level
from corpustrace.trace import TraceParams, trace
from corpustrace.trace.rerank import LEVELS, RANKINGS

if TYPE_CHECKING:
    from corpustrace.engine import Engine
    from corpustrace.lexical import LexicalIndex

PREDICTED = (*LEVELS, "absent")  # "absent": a source the trace did not return at all
HIGH_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
MEDIUM_GRID = (0.05, 0.1, 0.15, 0.2, 0.3)


def empty_confusion() -> dict[str, dict[str, int]]:
    return {t: dict.fromkeys(PREDICTED, 0) for t in LEVELS}


def level_accuracy(confusion: dict[str, dict[str, int]]) -> float:
    """Mean over the true levels of the share predicted right (balanced accuracy)."""
    return mean(
        ratio(row[t], sum(row.values())) for t, row in confusion.items() if any(row.values())
    )


def evaluate_ranking(
    engine: Engine, cases: Sequence[ProvenanceCase], ranking: str
) -> dict[str, Any]:
    """Span precision/recall, MRR and recall@10 of the sources, levels vs ground truth."""
    confusion = empty_confusion()
    chars = [0, 0, 0]
    rr: list[float] = []
    r10: list[float] = []
    pairs: list[tuple[float, str]] = []  # (relevance, true level), for the threshold grid
    for case in cases:
        result = trace(engine, case.response, case.prompt, TraceParams(ranking=ranking))
        predicted = [(h.char_start, h.char_end) for h in result.highlights]
        truth = [(p.start, p.end) for p in case.pieces]
        for i, n in enumerate(span_overlap(case.response, predicted, truth)):
            chars[i] += n
        ranked = [d.doc for d in result.documents]
        if case.sources:
            rr.append(reciprocal_rank(ranked, case.sources))
            r10.append(recall_at(ranked, case.sources, 10))
        for d in result.documents:
            confusion[truth_level(case, d.doc)][d.level] += 1
            pairs.append((d.relevance, truth_level(case, d.doc)))
        for missing in case.sources - set(ranked):
            confusion[truth_level(case, missing)]["absent"] += 1
            pairs.append((-1.0, truth_level(case, missing)))
    return {
        "span_precision": ratio(chars[2], chars[0]),
        "span_recall": ratio(chars[2], chars[1]),
        "mrr": mean(rr),
        "recall_at_10": mean(r10),
        "level_accuracy": level_accuracy(confusion),
        "level_precision": level_precision(confusion),
        "confusion": confusion,
        "pairs": pairs,
    }


def level_precision(confusion: dict[str, dict[str, int]]) -> dict[str, float | None]:
    """For each predicted level, the share of its documents whose true level is the same."""
    out: dict[str, float | None] = {}
    for level in LEVELS:
        column = sum(row[level] for row in confusion.values())
        out[level] = confusion[level][level] / column if column else None
    return out


def threshold_grid(pairs: Sequence[tuple[float, str]]) -> list[dict[str, float]]:
    """Balanced level accuracy of every (high, medium) threshold pair, best first."""
    rows = []
    for high in HIGH_GRID:
        for medium in MEDIUM_GRID:
            if medium >= high:
                continue
            confusion = empty_confusion()
            for value, truth in pairs:
                if value < 0:
                    level = "absent"
                else:
                    level = "high" if value >= high else "medium" if value >= medium else "low"
                confusion[truth][level] += 1
            rows.append({"high": high, "medium": medium, "accuracy": level_accuracy(confusion)})
    return sorted(rows, key=lambda r: -r["accuracy"])


def evaluate_lexical(lexical: LexicalIndex, cases: Sequence[ProvenanceCase]) -> dict[str, float]:
    """Whole-corpus BM25 with prompt + response as the query: MRR and recall@10."""
    rr, r10 = [], []
    for case in cases:
        if not case.sources:
            continue
        _, hits = lexical.search(case.prompt + " " + case.response, limit=10)
        ranked = [h.doc for h in hits]
        rr.append(reciprocal_rank(ranked, case.sources))
        r10.append(recall_at(ranked, case.sources, 10))
    return {"mrr": mean(rr), "recall_at_10": mean(r10)}


def evaluate_provenance(
    engine: Engine, lexical: LexicalIndex | None, cases: Sequence[ProvenanceCase]
) -> dict[str, Any]:
    """Every ranking of the trace, whole-corpus BM25, and the coverage threshold grid."""
    rankings = {r: evaluate_ranking(engine, cases, r) for r in RANKINGS}
    grid = threshold_grid(rankings["coverage"]["pairs"])
    for r in rankings.values():
        r.pop("pairs")
    kinds: dict[str, int] = {}
    for case in cases:
        kinds[case.kind] = kinds.get(case.kind, 0) + 1
    return {
        "cases": len(cases),
        "kinds": kinds,
        "rankings": rankings,
        "lexical": evaluate_lexical(lexical, cases) if lexical is not None else None,
        "coverage_threshold_grid": grid[:10],
    }
