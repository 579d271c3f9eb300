"""The slow, obviously correct twin of the engine: scan every document.

Documents are lists of token ids. Each one is turned into a string of code points
(token id t -> chr(t)), so `str.find` is an exact token-sequence search that can
never cross two documents. Everything here is a direct transcription of a definition.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from corpustrace.engine import Engine
from corpustrace.index.writer import build_from_tokens
from corpustrace.tokenizer import Tokenizer

Doc = Sequence[int]


def as_text(tokens: Sequence[int]) -> str:
    return "".join(chr(int(t)) for t in tokens)


class Brute:
    def __init__(self, docs: Sequence[Doc]) -> None:
        self.docs = [list(map(int, d)) for d in docs]
        self.texts = [as_text(d) for d in self.docs]

    @property
    def total_tokens(self) -> int:
        return sum(len(d) for d in self.docs)

    def starts_in(self, doc: int, query: Sequence[int]) -> list[int]:
        """Every offset (overlaps included) where `query` starts inside document `doc`."""
        text, needle = self.texts[doc], as_text(query)
        out, at = [], text.find(needle)
        while at != -1 and needle:
            out.append(at)
            at = text.find(needle, at + 1)
        return out

    def occurrences(self, query: Sequence[int]) -> list[tuple[int, int]]:
        """(document, offset) of every occurrence; the empty query occurs at every token."""
        if not query:
            return [(d, i) for d, doc in enumerate(self.docs) for i in range(len(doc))]
        return [(d, i) for d in range(len(self.docs)) for i in self.starts_in(d, query)]

    def count(self, query: Sequence[int]) -> int:
        return len(self.occurrences(query))

    def occurs(self, query: Sequence[int]) -> bool:
        needle = as_text(query)
        return any(needle in text for text in self.texts)

    def longest_prefix(self, ids: Sequence[int], i: int) -> int:
        k = 0
        while i + k < len(ids) and self.occurs(ids[i : i + k + 1]):
            k += 1
        return k

    def longest_prefixes(self, ids: Sequence[int]) -> list[int]:
        return [self.longest_prefix(ids, i) for i in range(len(ids))]

    def next_tokens(self, prompt: Sequence[int]) -> Counter[int]:
        """Tokens that follow the prompt inside a document, with their counts."""
        found: Counter[int] = Counter()
        for d, at in self.occurrences(prompt):
            if at + len(prompt) < len(self.docs[d]):
                found[self.docs[d][at + len(prompt)]] += 1
        return found

    def prob(self, prompt: Sequence[int], token: int) -> tuple[int, int]:
        """(occurrences of the prompt with a next token, occurrences of prompt + token)."""
        nexts = self.next_tokens(prompt)
        return sum(nexts.values()), nexts[token]

    def ntd(self, prompt: Sequence[int]) -> list[tuple[int, int]]:
        """(token, count) sorted by count descending, then token."""
        return sorted(self.next_tokens(prompt).items(), key=lambda tc: (-tc[1], tc[0]))

    def ntd_capped(
        self, prompt: Sequence[int], max_support: int
    ) -> tuple[list[tuple[int, int]], bool]:
        """(entries, approx): the whole ntd when it has at most max_support tokens; else
        the tokens at places 0, stride, 2 stride, ... of the sorted list of all next
        tokens (stride = ceil(total / max_support)), each with its full count."""
        nexts = self.next_tokens(prompt)
        if len(nexts) <= max_support:
            return self.ntd(prompt), False
        ordered = sorted(t for t, c in nexts.items() for _ in range(c))
        stride = -(-len(ordered) // max_support)
        picked = {ordered[k] for k in range(0, len(ordered), stride)}
        return sorted(((t, nexts[t]) for t in picked), key=lambda tc: (-tc[1], tc[0])), True

    def backoff(self, prompt: Sequence[int]) -> int:
        """Length of the longest suffix of the prompt that has a next token somewhere."""
        for k in range(len(prompt) + 1):
            if self.next_tokens(prompt[k:]):
                return len(prompt) - k
        return 0

    def cnf(self, clauses: Sequence[Sequence[Sequence[int]]]) -> list[int]:
        return [
            d
            for d in range(len(self.docs))
            if all(any(self.starts_in(d, ngram) for ngram in clause) for clause in clauses)
        ]


# -- corpora for the comparisons --------------------------------------------------------


@contextmanager
def scratch_dir() -> Iterator[Path]:
    """A temporary directory in memory where the machine has one (/dev/shm): the builder
    fsyncs every file it writes, which on disk costs more than the comparisons do."""
    shm = "/dev/shm"
    base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
    with tempfile.TemporaryDirectory(dir=base, prefix="corpustrace-test-") as name:
        yield Path(name)


def build_engine(
    path: Path,
    tokenizer: Tokenizer,
    docs: Sequence[Doc],
    shard_tokens: int = 1 << 20,
    threads: int = 2,
) -> Engine:
    metas: list[dict[str, Any]] = [{"id": f"doc-{i}", "n": i} for i in range(len(docs))]
    build_from_tokens(path, tokenizer, zip(docs, metas, strict=True), shard_tokens=shard_tokens)
    return Engine.open(path, threads=threads)


Corpus = tuple[list[list[int]], Brute, Engine]


def make_corpora(root: Path, tokenizer: Tokenizer, count: int, seed: int) -> list[Corpus]:
    """`count` random corpora (documents, their brute twin, an engine over their index),
    each split into shards of 3..120 positions, so most have several shards."""
    rng = np.random.default_rng(seed)
    out: list[Corpus] = []
    for i in range(count):
        docs = random_corpus(rng)
        shard_tokens = int(rng.integers(3, 120))
        engine = build_engine(root / str(i), tokenizer, docs, shard_tokens)
        out.append((docs, Brute(docs), engine))
    return out


def random_corpus(rng: np.random.Generator, max_token: int = 254) -> list[list[int]]:
    """Documents over a tiny alphabet (long repeats), with empty, one-token and
    run-length documents mixed in; the extreme real tokens 0 and max_token appear often."""
    size = int(rng.integers(2, 6))
    pool = [0, max_token, *rng.integers(1, max_token, size=8).tolist()]
    alphabet = rng.choice(pool, size=size, replace=False)
    docs: list[list[int]] = []
    for _ in range(int(rng.integers(1, 14))):
        kind = rng.integers(0, 8)
        if kind == 0:
            docs.append([])
        elif kind == 1:
            docs.append([int(rng.choice(alphabet))])
        elif kind == 2:
            docs.append([int(rng.choice(alphabet))] * int(rng.integers(2, 30)))
        else:
            docs.append(rng.choice(alphabet, size=int(rng.integers(2, 40))).tolist())
    return docs


def random_queries(
    rng: np.random.Generator, docs: Sequence[Doc], count: int, max_token: int = 254
) -> list[list[int]]:
    """Spans copied from documents, mutated copies, and random sequences (absent tokens too)."""
    nonempty = [d for d in docs if d]
    out: list[list[int]] = []
    for _ in range(count):
        kind = rng.integers(0, 3)
        if kind == 0 and nonempty:
            doc = nonempty[int(rng.integers(len(nonempty)))]
            a = int(rng.integers(len(doc)))
            out.append(list(doc[a : a + int(rng.integers(1, 12))]))
        elif kind == 1 and nonempty:
            doc = list(nonempty[int(rng.integers(len(nonempty)))])
            doc[int(rng.integers(len(doc)))] = int(rng.integers(0, max_token + 1))
            out.append(doc + rng.integers(0, max_token + 1, size=int(rng.integers(0, 3))).tolist())
        else:
            seen = sorted({t for d in docs for t in d}) or [0]
            symbols = [*seen, int(rng.integers(0, max_token + 1))]
            out.append(rng.choice(symbols, size=int(rng.integers(1, 15))).tolist())
    return out


def all_ngrams(docs: Sequence[Doc], k: int) -> list[list[int]]:
    """Every distinct n-gram of length 1..k that occurs in the documents."""
    seen = {
        tuple(d[i : i + n]) for d in docs for n in range(1, k + 1) for i in range(len(d) - n + 1)
    }
    return [list(g) for g in sorted(seen)]
