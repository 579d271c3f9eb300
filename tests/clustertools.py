"""Shared by the cluster tests: a corpus with frequent and rare n-grams, and a field-by-
field comparison of any engine with the local `Engine` over the same index."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

import numpy as np

from corpustrace.engine import Engine
from corpustrace.engine.protocol import SearchEngine
from corpustrace.index.writer import build_from_tokens
from corpustrace.tokenizer_load import load_tokenizer
from corpustrace.trace import TraceParams, trace

DATA = Path(__file__).parent / "data"
WORDS = (
    "the mill river baker flour stone wheel water north old town bridge market family",
    "weavers century grain cart road hill miller sells bread morning",
)
VOCABULARY = " ".join(WORDS).split()
RESPONSES = [
    "The mill was built by a family of weavers. The baker sells bread in the morning.",
    "the old town bridge and the stone wheel of the mill turn with the river water",
    "Zebras never visit the market, but the miller sells flour on the hill road.",
    "north road morning grain cart family",
    "",
]


def texts(seed: int = 5, n: int = 160) -> list[str]:
    """Sentences of a small vocabulary (so n-grams repeat across shards) and the lines of
    tests/data/sample.txt."""
    rng = random.Random(seed)
    made = [
        " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(3, 18))).capitalize() + "."
        for _ in range(n)
    ]
    lines = (DATA / "sample.txt").read_text(encoding="utf-8").splitlines()
    return [t for pair in zip(made, lines * 10, strict=False) for t in pair] + made[
        len(lines) * 10 :
    ]


def build(path: Path, shard_tokens: int = 6000) -> Path:
    """A byte-token index of `texts()` in several shards."""
    tok = load_tokenizer("bytes")
    docs = [(tok.encode(t), {"id": f"d{i}", "n": i}) for i, t in enumerate(texts())]
    build_from_tokens(path, tok, docs, shard_tokens=shard_tokens)
    return path


def plain(value: Any) -> Any:
    """Results as plain data: dataclasses to dicts, arrays to lists (exact compare)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, np.ndarray):
        return [value.dtype.str, value.tolist()]
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, np.integer):
        return int(value)
    return value


def ngrams(local: Engine, rng: random.Random, count: int) -> list[list[int]]:
    """Corpus n-grams of 1..12 tokens (frequent and rare) and a few random ones."""
    tokens, sep = np.asarray(local.index.shards[0].tokens), local.index.separator
    out = []
    for _ in range(count):
        shard = local.index.shards[rng.randrange(len(local.index.shards))]
        at, n = rng.randrange(1, shard.n_tokens - 13), rng.randint(1, 12)
        seq = [int(t) for t in np.asarray(shard.tokens[at : at + n]) if t != sep]
        out.append(seq or [int(tokens[1])])
    out += [[rng.randrange(32, 127) for _ in range(rng.randint(1, 4))] for _ in range(count // 4)]
    return out


def compare(local: Engine, other: SearchEngine, seed: int = 0, count: int = 24) -> int:
    """Assert `other` answers like `local` on many queries; returns how many were asked."""
    rng = random.Random(seed)
    asked = 0

    def same(a: Any, b: Any) -> None:
        nonlocal asked
        asked += 1
        assert plain(a) == plain(b)

    grams = ngrams(local, rng, count)
    same(local.find_many(grams), other.find_many(grams))
    same(local.count_many(grams), other.count_many(grams))
    same(local.find([]), other.find([]))
    for gram in grams[: count // 2]:
        same(local.find(gram), other.find(gram))
        same(local.longest_prefixes(gram * 3), other.longest_prefixes(gram * 3))
        nxt = gram[-1]
        same(local.prob(gram[:-1], nxt), other.prob(gram[:-1], nxt))
        same(local.infgram_prob(gram, nxt), other.infgram_prob(gram, nxt))
        for support in (2, 1000):
            same(local.ntd(gram[:2], support), other.ntd(gram[:2], support))
            same(local.infgram_ntd(gram, support), other.infgram_ntd(gram, support))
        for limit, s in ((3, seed), (10, seed + 1), (1000, 0)):
            found = local.find(gram)
            same(local.occurrences(gram, limit, s, found), other.occurrences(gram, limit, s))
        offset = rng.randrange(3)
        same(
            local.search_documents(gram, offset, 4, 8),
            other.search_documents(gram, offset, 4, 8),
        )
    finds = local.find_many(grams)
    same(
        local.occurrence_windows(grams, 4, seed, finds, 6),
        other.occurrence_windows(grams, 4, seed, finds, 6),
    )
    docs = [o.doc for per in local.occurrences_many(grams, 3, seed, finds) for o in per]
    same(local.doc_metas(docs), other.doc_metas(docs))
    same(local.ntd([], 5), other.ntd([], 5))
    clauses = [[grams[0], grams[1]], [grams[2]]]
    for cap in (1, 5, 50_000):
        same(local.cnf_search(clauses, 0, 20, cap), other.cnf_search(clauses, 0, 20, cap))
    for doc in rng.sample(range(local.index.total_documents), 10):
        same(local.document(doc, 2, 30), other.document(doc, 2, 30))
        same(local.doc_meta(doc), other.doc_meta(doc))
        shard, local_doc = local.index.locate(doc)
        number = local.index.shards.index(shard)
        position = int(shard.docs[local_doc]) + 1
        same(local.window(number, position, 3, 5, 9), other.window(number, position, 3, 5, 9))
    return asked


def compare_traces(local: Engine, other: SearchEngine, params: TraceParams) -> None:
    for response in RESPONSES:
        a = trace(local, response, "the prompt", params).to_dict()
        b = trace(other, response, "the prompt", params).to_dict()
        a.pop("timings_ms")
        b.pop("timings_ms")
        assert a == b
