"""Repeated documents folded into one card: same URL, or same text (brute-force grouping)."""

from __future__ import annotations

from pathlib import Path

from corpustrace.engine import Engine
from corpustrace.index.writer import build_from_tokens
from corpustrace.tokenizer_load import load_tokenizer
from corpustrace.trace import TraceParams, trace
from corpustrace.trace.repeats import fold_repeats

MILL = "The mill by the river grinds grain."


def test_same_url_or_same_text_become_one_card(tmp_path: Path) -> None:
    tok = load_tokenizer("bytes")
    docs = [
        (MILL, {"id": "0", "url": "https://a.org/mill"}),
        (MILL + " Copy.", {"id": "1", "url": "https://a.org/mill"}),  # same URL
        (MILL, {"id": "2"}),  # same text as 3 and 4, no URL
        (MILL, {"id": "3"}),
        (MILL, {"id": "4", "url": ""}),
        ("Other words. " + MILL, {"id": "5"}),  # unique
    ]
    build_from_tokens(tmp_path / "i", tok, [(tok.encode(t), m) for t, m in docs])
    params = TraceParams(span_density=1, leading_space=False, max_documents_per_span=100)
    with Engine.open(tmp_path / "i") as engine:
        result = trace(engine, MILL, params=params)
        folded = fold_repeats(result, lambda d: engine.document(d).tokens)
    # Brute force: group the retrieved documents by URL, else by their whole text.
    groups: dict[str, set[int]] = {}
    for d in result.documents:
        text, meta = docs[d.doc]
        groups.setdefault(meta.get("url") or "text:" + text, set()).add(d.doc)
    assert sorted(sorted(g) for g in groups.values()) == [[0, 1], [2, 3, 4], [5]]
    assert sorted(sorted(c.repeat_docs) for c in folded.documents) == [[0, 1], [2, 3, 4], [5]]
    for card in folded.documents:
        assert card.repeats == len(card.repeat_docs) and card.repeat_docs[0] == card.doc
    for span in folded.spans:
        assert span.documents and all(0 <= d < len(folded.documents) for d in span.documents)
    assert [(s.start, s.end, s.count) for s in folded.spans] == [
        (s.start, s.end, s.count) for s in result.spans
    ]
