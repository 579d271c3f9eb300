"""Gradient-based attribution on the fact-tracing set: gradient dot product, gradient
cosine and TrackStar (Chang et al. 2024, "Scalable Influence and Fact Tracing for Large
Language Model Pretraining", arXiv 2410.17413, Table 1 compares the same three).

Each seed's set gets its own model, trained by `corpustrace train` on exactly that set's
index (so the facts are in its training data), then:
- `grad_dot`: <P g(z_train), P g(z_query)>, projected loss gradients, no correction;
- `grad_cosine`: the cosine of the same projected gradients;
- `trackstar`: the product's influence store (V from the model's own AdamW state,
  floored; R_train Hessian with damping; unit norm), queried as `/api/influence` does.
The query loss is the NLL of the answer (the fact's object) given the question, as in
the paper's fact tracing. A document's score is the best score of its chunks.

Registered with `register_influence_methods()` (the benchmark's `--influence`); needs the
`influence` extra (torch).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpustrace.eval.methods import (
    DEPTH,
    FactQuery,
    MethodContext,
    Ranker,
    register_method,
    register_tail_patch,
)
from corpustrace.influence.examples import chunk_tokens_of

INFLUENCE_METHODS = ("grad_dot", "grad_cosine", "trackstar")


@dataclass(frozen=True)
class InfluenceEvalOptions:
    epochs: float = 8.0
    layers: int = 2
    width: int = 128
    context: int = 128
    dim: int = 1024
    # One torch thread per model: the benchmark's models are small, and on a shared
    # 2-core machine two threads per process measured 4x slower per step than one.
    threads: int = 1


def doc_ranking(chunk_docs: np.ndarray, scores: np.ndarray, depth: int = DEPTH) -> list[int]:
    """Documents by the best score of their chunks, best first; ties by document index."""
    best: dict[int, float] = {}
    for doc, score in zip(chunk_docs.tolist(), scores.tolist(), strict=True):
        if doc not in best or score > best[doc]:
            best[doc] = score
    return sorted(best, key=lambda d: (-best[d], d))[:depth]


def unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1.0)


class _SeedModel:
    """One seed's trained model, its raw chunk features and its TrackStar store."""

    def __init__(self, ctx: MethodContext, opts: InfluenceEvalOptions) -> None:
        from corpustrace.influence.build import InfluenceBuildOptions, build_store
        from corpustrace.influence.examples import batches, chunk_table
        from corpustrace.influence.features import Projector
        from corpustrace.influence.query import InfluenceIndex
        from corpustrace.influence.train import TrainOptions, train

        work = ctx.index.parent / "influence"
        model_dir, store_dir = work / "model", work / "store"
        if not (model_dir / "corpustrace-train.json").is_file():
            train(
                TrainOptions(
                    ctx.index,
                    model_dir,
                    layers=opts.layers,
                    width=opts.width,
                    context=opts.context,
                    epochs=opts.epochs,
                    seed=ctx.seed,
                    threads=opts.threads,
                    quiet=True,
                )
            )
        build_store(
            InfluenceBuildOptions(
                ctx.index,
                model_dir,
                store_dir,
                dim=opts.dim,
                seed=ctx.seed,
                threads=opts.threads,
                quiet=True,
            )
        )
        # The benchmark serves one index: its Index (engine.index may join several).
        self.trackstar = InfluenceIndex(store_dir, ctx.engine.index.indexes[0])
        index = self.trackstar.index
        table = chunk_table(index, opts.context)
        self.chunk_docs = table[:, 2]
        # Raw projected gradients (no V, no R) for the two baselines.
        self.raw = Projector(self.trackstar.loaded.model, opts.dim, ctx.seed)
        self.raw_train = np.concatenate(
            [self.raw.features([chunk_tokens_of(index, r) for r in b]) for b in batches(table, 8)]
        ).astype(np.float64)
        self.raw_train_unit = unit(self.raw_train)
        first: dict[int, np.ndarray] = {}
        for row in table[::-1]:
            first[int(row[2])] = row
        self.first_chunk = first  # the document's first chunk, for the tail-patch
        from corpustrace.eval.tailpatch import TailPatcher

        self.patcher = TailPatcher(model_dir)
        self.index = index

    def query_features(self, q: FactQuery) -> np.ndarray:
        ids, mask = self.trackstar.query_ids(q.prompt, " " + q.answer.strip())
        with self.trackstar._lock:
            features: np.ndarray = self.raw.features([ids], [mask])[0]
        return features.astype(np.float64)

    def tail_patch(self, q: FactQuery, docs: list[int]) -> float:
        """Change in log p(answer) after one training step on the documents' chunks."""
        ids, mask = self.trackstar.query_ids(q.prompt, " " + q.answer.strip())
        rows = [self.first_chunk[d] for d in docs if d in self.first_chunk]
        chunks = [chunk_tokens_of(self.index, r) for r in rows]
        return self.patcher.delta(chunks, ids, mask)

    def rank_trackstar(self, q: FactQuery) -> list[int]:
        n = len(self.trackstar.store)
        result = self.trackstar.query(q.prompt, " " + q.answer.strip(), k=n)
        return doc_ranking(
            np.array([p.doc for p in result.proponents]),
            np.array([p.score for p in result.proponents]),
        )


_MODELS: dict[Path, _SeedModel] = {}
_LOCK = threading.Lock()


def _seed_model(ctx: MethodContext, opts: InfluenceEvalOptions) -> _SeedModel:
    with _LOCK:
        if ctx.index not in _MODELS:
            _MODELS.clear()  # one seed at a time: free the previous seed's model
            _MODELS[ctx.index] = _SeedModel(ctx, opts)
        return _MODELS[ctx.index]


def grad_dot(ctx: MethodContext, opts: InfluenceEvalOptions) -> Ranker:
    m = _seed_model(ctx, opts)
    return lambda q: doc_ranking(m.chunk_docs, m.raw_train @ m.query_features(q))


def grad_cosine(ctx: MethodContext, opts: InfluenceEvalOptions) -> Ranker:
    m = _seed_model(ctx, opts)
    return lambda q: doc_ranking(m.chunk_docs, m.raw_train_unit @ unit(m.query_features(q)))


def trackstar(ctx: MethodContext, opts: InfluenceEvalOptions) -> Ranker:
    return _seed_model(ctx, opts).rank_trackstar


TAIL_PATCH_K = 10  # proponents per tail-patch step


def tail_patch_scorer(
    ctx: MethodContext, opts: InfluenceEvalOptions
) -> Callable[[FactQuery, list[int]], float]:
    """The tail-patch score of a method's top `TAIL_PATCH_K` documents for a query."""
    m = _seed_model(ctx, opts)
    return lambda q, ranked: m.tail_patch(q, ranked[:TAIL_PATCH_K])


def register_influence_methods(opts: InfluenceEvalOptions | None = None) -> None:
    """Add the three gradient methods to the fact-tracing benchmark (needs torch)."""
    from corpustrace.influence import require_torch

    require_torch()
    o = opts or InfluenceEvalOptions()
    factories = {"grad_dot": grad_dot, "grad_cosine": grad_cosine, "trackstar": trackstar}
    for name in INFLUENCE_METHODS:
        register_method(name, functools.partial(factories[name], opts=o))
    register_tail_patch(lambda ctx: tail_patch_scorer(ctx, o))
