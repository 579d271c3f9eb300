"""A loaded feature store with its model and index, answering influence queries.

Single query: G(q) = unit((R_train + damping)^(-1/2) P(grad / sqrt(V))), as stored for the
training chunks. A batch (`query_batch`) mixes its own R_eval in: R = lambda R_eval +
(1 - lambda) R_train with the paper's lambda (hessian.mixing_lambda), and the stored rows y
are mapped by R^(-1/2) (R_train + damping)^(1/2), which gives R^(-1/2) g up to the row's
scale: the cosine does not see that scale.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from corpustrace.errors import QueryError
from corpustrace.index.reader import Index
from corpustrace.influence import hessian
from corpustrace.influence import store as st
from corpustrace.influence.errors import StoreMismatch
from corpustrace.influence.examples import as_chunk
from corpustrace.influence.features import Projector
from corpustrace.influence.model_io import check_tokenizer, index_fingerprint, load_model
from corpustrace.influence.score import Ranked, rank

CONTEXT_TOKENS = 40  # shown around a chunk, each side


@dataclass
class Example:
    """One scored training chunk, with what the UI and `--json` show of it."""

    rank: int
    score: float
    example: int
    doc: int
    shard: int
    doc_local: int
    token_start: int
    token_end: int
    text: str
    context: str
    char_start: int  # the chunk inside `context`
    char_end: int
    meta: dict[str, Any]


@dataclass
class InfluenceResult:
    prompt: str
    response: str
    proponents: list[Example]
    opponents: list[Example]
    examples: int
    hessian_lambda: float
    damping: float
    model: str
    note: str | None
    tokens: int = 0  # response tokens whose loss was taken
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class InfluenceIndex:
    """Store + model + index, checked against each other once; thread-safe queries."""

    def __init__(self, store_path: str | Path, index: Index | None = None) -> None:
        self.store = st.FeatureStore.open(store_path)
        m = self.store.manifest
        index_path = index.path if index is not None else Path(m["index"]["path"])
        self.index = index if index is not None else Index.open(index_path)
        if index_fingerprint(self.index.path) != m["index"]["fingerprint"]:
            raise StoreMismatch(
                f"{store_path}: built over another index than {self.index.path} (or that index "
                "was rebuilt); build the store again for this index"
            )
        self.loaded = load_model(m["model"]["path"], m["model"].get("gguf_file"))
        if self.loaded.hash != m["model"]["hash"]:
            raise StoreMismatch(
                f"{store_path}: built for another model than {self.loaded.path} "
                "(its weights changed); build the store again for this model"
            )
        check_tokenizer(self.index, self.loaded)
        self.projector = Projector(self.loaded.model, int(m["requested_dim"]), int(m["seed"]))
        if self.projector.describe() != m["blocks"] or self.projector.dim != self.store.dim:
            raise StoreMismatch(f"{store_path}: the model's layers differ from the store's")
        for name, (r, c) in st.load_scales(self.store.path / st.CORRECTION).items():
            self.projector.scales[name] = (torch.from_numpy(r), torch.from_numpy(c))
        self.context = self.loaded.context
        self._lock = threading.Lock()  # hooks are per-model state: one query at a time

    def describe(self) -> dict[str, Any]:
        return self.store.describe()

    @property
    def note(self) -> str | None:
        if self.store.manifest["model"].get("trained_on_index"):
            return None
        return (
            f"influence is measured for the model {self.loaded.path.name}, over this corpus; "
            "the model was not trained (only) on this index"
        )

    def query_ids(self, prompt: str, response: str) -> tuple[np.ndarray, np.ndarray]:
        """Token ids of prompt + response and the loss mask (the response's tokens).

        Longer than the model's context: the prompt is cut from the left first, then the
        response keeps its first tokens (the result's note says so)."""
        tok = self.index.tokenizer
        p = tok.encode(prompt).astype(np.int64) if prompt else np.zeros(0, dtype=np.int64)
        r = tok.encode(response).astype(np.int64)
        if len(r) == 0:
            raise QueryError("the response is empty: nothing to take the gradient of")
        r = r[: self.context]
        p = p[max(0, len(p) - (self.context - len(r))) :] if len(r) < self.context else p[:0]
        ids = np.concatenate([p, r])
        mask = np.concatenate([np.zeros(len(p), dtype=np.int64), np.ones(len(r), dtype=np.int64)])
        return ids, mask

    def query(
        self, prompt: str, response: str, k: int = 10, opponents: bool = False
    ) -> InfluenceResult:
        return self.query_batch([(prompt, response)], k, opponents, mix_eval=False)[0]

    def query_batch(
        self,
        pairs: list[tuple[str, str]],
        k: int = 10,
        opponents: bool = False,
        mix_eval: bool = True,
    ) -> list[InfluenceResult]:
        """Each (prompt, response) scored against every stored chunk; with `mix_eval` and
        more than one query, R_eval of the batch is mixed into the Hessian."""
        seqs, masks = zip(*(self.query_ids(p, r) for p, r in pairs), strict=True)
        results = self.score_tokens(list(seqs), list(masks), k, opponents, mix_eval)
        for result, ids, (prompt, response) in zip(results, seqs, pairs, strict=True):
            result.prompt, result.response = prompt, response
            cut = self._cut(prompt, response, len(ids), result.tokens)
            if cut:
                result.note = " ".join(x for x in (result.note, cut) if x)
        return results

    def _cut(self, prompt: str, response: str, used: int, response_used: int) -> str | None:
        """What of the query did not fit the model's context, for the result's note."""
        tok = self.index.tokenizer
        parts = []
        if len(tok.encode(response)) > response_used:
            parts.append(f"only the first {response_used} tokens of the response were scored")
        prompt_used = used - response_used
        if prompt and len(tok.encode(prompt)) > prompt_used:
            parts.append(
                f"only the last {prompt_used} tokens of the prompt were used"
                if prompt_used
                else "the prompt was left out"
            )
        if not parts:
            return None
        return f"({' and '.join(parts)}: the model's context is {self.context} tokens)"

    def score_tokens(
        self,
        seqs: list[np.ndarray],
        masks: list[np.ndarray],
        k: int = 10,
        opponents: bool = False,
        mix_eval: bool = True,
    ) -> list[InfluenceResult]:
        """Queries given as token ids and loss masks (1 where a token's NLL counts)."""
        started = time.perf_counter()
        with self._lock:
            raw = self.projector.features(seqs, masks).astype(np.float64)
        t_feat = time.perf_counter()
        lam, damp, transform = 0.0, self.store.damping, None
        if mix_eval and len(seqs) > 1:
            lam, r_inv_sqrt, damp = self._mixed(raw)
            queries = hessian.unit_rows(raw @ r_inv_sqrt)
            undo = hessian.sqrt_psd(self.store.r_train, self.store.damping)
            transform = r_inv_sqrt @ undo
        else:
            queries = hessian.unit_rows(raw @ self.store.inv_sqrt.astype(np.float64))
        ranked = rank(self.store.shards, queries, min(k, len(self.store)), transform=transform)
        t_score = time.perf_counter()
        timings = {
            "features": (t_feat - started) * 1000 / len(seqs),
            "score": (t_score - t_feat) * 1000 / len(seqs),
        }
        tok = self.index.tokenizer
        out = []
        for qi, (ids, mask) in enumerate(zip(seqs, masks, strict=True)):
            on = np.asarray(mask, dtype=bool)
            prompt, response = tok.decode(ids[~on]), tok.decode(ids[on])
            out.append(self._result(prompt, response, ranked, qi, opponents, lam, damp, timings))
            out[-1].tokens = int(on.sum())
        return out

    def _mixed(self, raw: np.ndarray) -> tuple[float, np.ndarray, float]:
        r_train = self.store.r_train.astype(np.float64)
        r_eval = hessian.second_moment(raw)
        c = hessian.eigen_index(len(r_train), len(raw), int(self.store.manifest["hessian_samples"]))
        lam = hessian.mixing_lambda(
            hessian.eigenvalues_desc(r_train), hessian.eigenvalues_desc(r_eval), c
        )
        inv, damp = hessian.inverse_sqrt(
            hessian.mix(r_train, r_eval, lam), float(self.store.manifest["delta"])
        )
        return lam, inv, damp

    def _result(
        self,
        prompt: str,
        response: str,
        ranked: Ranked,
        qi: int,
        opponents: bool,
        lam: float,
        damp: float,
        timings: dict[str, float],
    ) -> InfluenceResult:
        pros = [
            self.example(int(i), float(s), r + 1)
            for r, (i, s) in enumerate(zip(ranked.top[qi], ranked.top_scores[qi], strict=True))
        ]
        cons = []
        if opponents:
            cons = [
                self.example(int(i), float(s), r + 1)
                for r, (i, s) in enumerate(
                    zip(ranked.bottom[qi], ranked.bottom_scores[qi], strict=True)
                )
            ]
        return InfluenceResult(
            prompt,
            response,
            pros,
            cons,
            len(self.store),
            lam,
            damp,
            str(self.loaded.path.name),
            self.note,
            timings_ms=timings,
        )

    def example(self, i: int, score: float, rank_no: int) -> Example:
        """Chunk `i` with its text, a context window marking it, and its document's metadata."""
        chunk = as_chunk(self.store.chunks[i])
        shard = self.index.shards[chunk.shard]
        begin, end = shard.doc_span(chunk.doc_local)
        lo = max(begin, begin + chunk.start - CONTEXT_TOKENS)
        hi = min(end, begin + chunk.end + CONTEXT_TOKENS)
        ids = np.asarray(shard.tokens[lo:hi])
        context, offsets = self.index.tokenizer.decode_with_offsets(ids)
        a, b = begin + chunk.start - lo, begin + chunk.end - lo
        return Example(
            rank=rank_no,
            score=score,
            example=i,
            doc=chunk.doc,
            shard=chunk.shard,
            doc_local=chunk.doc_local,
            token_start=chunk.start,
            token_end=chunk.end,
            text=context[offsets[a] : offsets[b]],
            context=context,
            char_start=offsets[a],
            char_end=offsets[b],
            meta=shard.doc_meta(chunk.doc_local),
        )
