"""Attribution methods compared on the fact-tracing set, and the hook for more.

A method is a factory: given the set's `MethodContext` it returns a ranker, a function
from a `FactQuery` to document indices, best first. `register_method` adds one; the
influence methods (gradient dot product, cosine, TrackStar) register themselves there
once corpustrace.influence provides them, which needs a model trained on the set; none
is registered by default, and none is imitated here.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from corpustrace.eval.corpus import Doc
from corpustrace.eval.metrics import reciprocal_rank_fusion
from corpustrace.eval.tfidf import TfidfCosine
from corpustrace.trace import trace

if TYPE_CHECKING:
    from corpustrace.engine import Engine
    from corpustrace.lexical import LexicalIndex

DEPTH = 100  # documents each ranker returns


@dataclass(frozen=True)
class FactQuery:
    prompt: str
    answer: str
    response: str  # the held-out one-sentence answer a model would give


@dataclass
class MethodContext:
    index: Path
    docs: list[Doc]
    engine: Engine
    lexical: LexicalIndex
    seed: int


Ranker = Callable[[FactQuery], list[int]]
MethodFactory = Callable[[MethodContext], Ranker]


def verbatim(ctx: MethodContext) -> Ranker:
    """The trace's documents, in its (default) order."""
    return lambda q: [d.doc for d in trace(ctx.engine, q.response, q.prompt).documents][:DEPTH]


def bm25(ctx: MethodContext, with_answer: bool) -> Ranker:
    def rank(q: FactQuery) -> list[int]:
        query = q.prompt + " " + q.answer if with_answer else q.prompt
        return [h.doc for h in ctx.lexical.search(query, limit=DEPTH)[1]]

    return rank


def tfidf(ctx: MethodContext) -> Ranker:
    model = TfidfCosine([d.text for d in ctx.docs])
    return lambda q: model.rank(q.prompt + " " + q.answer, DEPTH)


def random_order(ctx: MethodContext) -> Ranker:
    def rank(q: FactQuery) -> list[int]:
        rng = random.Random(f"{ctx.seed}:{q.prompt}")
        return rng.sample(range(len(ctx.docs)), min(DEPTH, len(ctx.docs)))

    return rank


def combined(ctx: MethodContext) -> Ranker:
    """Reciprocal rank fusion of the verbatim trace and BM25 on prompt + answer."""
    first, second = verbatim(ctx), bm25(ctx, True)
    return lambda q: reciprocal_rank_fusion([first(q), second(q)])[:DEPTH]


METHODS: dict[str, MethodFactory] = {
    "verbatim": verbatim,
    "bm25_prompt": lambda ctx: bm25(ctx, False),
    "bm25_prompt_answer": lambda ctx: bm25(ctx, True),
    "tfidf_cosine": tfidf,
    "random": random_order,
    "combined": combined,
}


def register_method(name: str, factory: MethodFactory) -> None:
    """Add an attribution method to the fact-tracing benchmark (e.g. from influence/)."""
    METHODS[name] = factory


TailPatch = Callable[[FactQuery, list[int]], float]
TAIL_PATCH: list[Callable[[MethodContext], TailPatch]] = []  # set with the influence methods


def register_tail_patch(factory: Callable[[MethodContext], TailPatch]) -> None:
    """Score every method's proponents by tail-patch too (needs a model per set)."""
    TAIL_PATCH[:] = [factory]
