"""Takedown without a rebuild: documents removed from every trace answer, exactly.

The suffix arrays still hold the taken-down documents, so every count the trace uses is
corrected by the occurrences inside them, counted by a direct scan of their tokens
(a takedown list is short next to the corpus). Spans are then the maximal spans of the
corpus without those documents: a span found only in taken-down documents shrinks to
what still occurs elsewhere, or disappears; taken-down documents are never sampled, so
they are never shown nor counted as a source. OLMoTrace does this with a second "diff"
index; subtracting a scan is simpler and just as exact for lists of this size.

A takedown file has one entry per line: a global document id (`123`), or a JSON object
whose every key/value must equal the document's metadata (`{"url": "https://..."}`).
Blank lines and lines starting with `#` are ignored.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from corpustrace.errors import QueryError

if TYPE_CHECKING:
    from corpustrace.engine.protocol import SearchEngine as Engine


@dataclass(frozen=True)
class TakedownRules:
    """Parsed takedown file: document ids and metadata matches."""

    ids: frozenset[int] = frozenset()
    matches: tuple[dict[str, Any], ...] = ()


def parse_takedown(text: str, source: str = "takedown") -> TakedownRules:
    ids: set[int] = set()
    matches: list[dict[str, Any]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.isdigit():
            ids.add(int(line))
            continue
        try:
            value = json.loads(line)
        except ValueError:
            value = None
        if not isinstance(value, dict) or not value:
            raise QueryError(
                f"{source} line {number}: expected a document id or a JSON object of "
                f"metadata to match, got {line[:80]!r}"
            )
        matches.append(value)
    return TakedownRules(frozenset(ids), tuple(matches))


def meta_matches(meta: dict[str, Any], match: dict[str, Any]) -> bool:
    return all(key in meta and meta[key] == value for key, value in match.items())


@dataclass(frozen=True, eq=False)
class Takedown:
    """The global ids of the taken-down documents of one engine, and their tokens."""

    docs: frozenset[int]
    tokens: dict[int, np.ndarray] = field(default_factory=dict)
    version: int = 0  # changes whenever the list does (part of trace cache keys)

    @classmethod
    def resolve(cls, engine: Engine, rules: TakedownRules, version: int = 0) -> Takedown:
        """Ids that exist, plus every document whose metadata matches a rule (a scan of
        the metadata, done once per change of the file)."""
        total = engine.index.total_documents
        docs = {d for d in rules.ids if 0 <= d < total}
        if rules.matches:
            for doc in range(total):
                meta = engine.doc_meta(doc)
                if any(meta_matches(meta, m) for m in rules.matches):
                    docs.add(doc)
        tokens = {d: np.asarray(engine.document(d).tokens, dtype=np.int64) for d in docs}
        return cls(frozenset(docs), tokens, version)

    def __contains__(self, doc: object) -> bool:
        return doc in self.docs

    def __bool__(self) -> bool:
        return bool(self.docs)

    def occurrences(self, seqs: Sequence[np.ndarray]) -> np.ndarray:
        """Occurrences of each n-gram inside the taken-down documents (int64)."""
        out = np.zeros(len(seqs), dtype=np.int64)
        for j, seq in enumerate(seqs):
            m = len(seq)
            if m == 0:
                out[j] = sum(len(t) for t in self.tokens.values())
                continue
            for toks in self.tokens.values():
                if len(toks) >= m:
                    windows = np.lib.stride_tricks.sliding_window_view(toks, m)
                    out[j] += int((windows == np.asarray(seq)).all(axis=1).sum())
        return out

    def count_many(self, engine: Engine) -> Callable[[Sequence[np.ndarray]], np.ndarray]:
        """engine.count_many without the taken-down documents."""

        def count(seqs: Sequence[np.ndarray]) -> np.ndarray:
            counts: np.ndarray = engine.count_many(seqs) - self.occurrences(seqs)
            return counts

        return count

    def longest_prefixes(self, engine: Engine, ids: np.ndarray, longest: np.ndarray) -> np.ndarray:
        """At i, the longest prefix of ids[i:] that occurs outside the taken-down
        documents. Counts only shrink as a prefix grows, so where the corpus's longest
        prefix occurs only in them, a binary search over lengths finds the answer."""
        count = self.count_many(engine)
        out = np.array(longest, dtype=np.int64)
        full = count([ids[i : i + n] for i, n in enumerate(out)]) if len(out) else out
        todo = np.flatnonzero((full <= 0) & (out > 0))
        lo = np.zeros(len(todo), dtype=np.int64)  # occurs (length 0 always does)
        hi = out[todo] - 1  # the longest that may still occur
        while (lo < hi).any():
            mid = (lo + hi + 1) // 2
            active = lo < hi
            probe = [ids[i : i + n] for i, n in zip(todo[active], mid[active], strict=True)]
            ok = count(probe) > 0
            lo[active] = np.where(ok, mid[active], lo[active])
            hi[active] = np.where(ok, hi[active], mid[active] - 1)
        out[todo] = lo
        return out


class TakedownFile:
    """A takedown file that an operator edits: re-read whenever its mtime changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._current = Takedown(frozenset())

    def current(self, engine: Engine) -> Takedown:
        try:
            stat = self.path.stat()
        except OSError as exc:
            raise QueryError(f"takedown file {self.path}: {exc.strerror or exc}") from exc
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp != self._stamp:
                rules = parse_takedown(self.path.read_text(encoding="utf-8"), str(self.path))
                version = self._current.version + 1
                self._current = Takedown.resolve(engine, rules, version)
                self._stamp = stamp
            return self._current
