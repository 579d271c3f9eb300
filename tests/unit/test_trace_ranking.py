"""The default ranking puts the source first and gives levels that mean something."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from corpustrace.engine import Engine
from corpustrace.index.writer import build_from_tokens
from corpustrace.tokenizer_load import load_tokenizer
from corpustrace.trace import TraceParams, trace

BYTES = load_tokenizer("bytes")
LEADS = {
    "Mount Everest": (
        "Mount Everest is the highest mountain on Earth above sea level. It lies in the "
        "Mahalangur Himal sub-range of the Himalayas, on the border between Nepal and China. "
        "Its elevation of 8,849 metres was most recently established in 2020."
    ),
    "Ben Jonson": (
        "Benjamin Jonson was an English playwright and poet. He is best known for the satirical "
        "plays Volpone and The Alchemist, and he insists on the highest standards of the stage. "
        "His work was popular on every second evening of the season."
    ),
    "Porridge": (
        "Porridge is a food made by heating or boiling ground, crushed or chopped starchy "
        "plants, typically grain, in milk or water. It is usually served hot in a bowl."
    ),
    "Tuesday": (
        "Tuesday is the day of the week between Monday and Wednesday. The name comes from the "
        "Old English for the day of Tiw, a god of war."
    ),
}
EVEREST_PROMPT = "Tell me about Everest"
EVEREST_RESPONSE = (
    "Mount Everest is the highest mountain on Earth above sea level. My neighbour's cat, "
    "Bartholomew, insists on lukewarm porridge every second Tuesday."
)


@pytest.fixture(scope="module")
def leads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    docs = [(BYTES.encode(text), {"id": title, "title": title}) for title, text in LEADS.items()]
    path = tmp_path_factory.mktemp("leads")
    build_from_tokens(path, BYTES, docs, shard_tokens=1 << 20)
    engine = Engine.open(path, threads=1)
    yield engine
    engine.close()


def titles(engine: Engine, response: str, prompt: str = "", ranking: str = "coverage") -> list:
    result = trace(engine, response, prompt, TraceParams(ranking=ranking))
    return [(d.meta["title"], d.level) for d in result.documents]


def test_everest_ranks_above_the_unrelated_article(leads: Engine) -> None:
    ranked = titles(leads, EVEREST_RESPONSE, EVEREST_PROMPT)
    names = [t for t, _ in ranked]
    assert names[0] == "Mount Everest"
    assert dict(ranked)["Mount Everest"] in ("medium", "high")
    for other, level in ranked[1:]:
        assert level == "low", other


def test_a_verbatim_single_source_copy_is_high(leads: Engine) -> None:
    ranked = titles(leads, LEADS["Porridge"], "What is porridge?")
    assert ranked[0] == ("Porridge", "high")
    assert all(level == "low" for _, level in ranked[1:])
    # Lucene's idf keeps the source first under BM25 too (rank_bm25's may not).
    assert titles(leads, LEADS["Porridge"], "What is porridge?", "bm25")[0][0] == "Porridge"


def test_olmotrace_ranking_scores_a_verbatim_copy_low(leads: Engine) -> None:
    """The behaviour the default fixes: rank_bm25's idf over a handful of documents."""
    result = trace(leads, LEADS["Porridge"], "", TraceParams(ranking="olmotrace"))
    porridge = next(d for d in result.documents if d.meta["title"] == "Porridge")
    assert porridge.level == "low"
    assert porridge.bm25 < 0.18 * len(LEADS["Porridge"]) * 0.5
