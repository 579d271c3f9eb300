"""Byte-level BPE encoding from `bpe_tables.BpeTables`, the same ids and offsets as
`tokenizers` gives for the tokenizer the tables were made from.

The steps are those of `tokenizers` (Hugging Face, tokenizers/src/tokenizer/mod.rs):
added tokens are cut out of the text first (leftmost-longest; those matched before
normalization, then those matched after it), each remaining part is split by the
pre-tokenizer's patterns (matches and the text between them are pieces), every piece
becomes the ids of its UTF-8 bytes, and the merges are applied lowest rank first,
leftmost first among equal ranks (Sennrich et al., 2016; GPT-2's byte-level variant,
Radford et al., 2019). Offsets are characters of the input; a token holding only some
bytes of a character gets that whole character, as in `tokenizers`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import cached_property
from typing import Any

from corpustrace.bpe_tables import BpeTables

WORD_CACHE = 1 << 16  # distinct pieces whose merges are kept (as `tokenizers` caches)


class ByteLevelBPE:
    """Encode text with the tables of one tokenizer (thread-safe: the cache only grows)."""

    def __init__(self, tables: BpeTables) -> None:
        self.tables = tables
        config = tables.config
        self.byte_ids: list[int] = [int(i) for i in config["byte_ids"]]
        self.ignore_merges = bool(config["ignore_merges"])
        self.nfc = bool(config["nfc"])
        self.added = [
            (str(t["content"]), int(t["id"]), bool(t["normalized"])) for t in config["added"]
        ]
        self.cache: dict[str, list[tuple[int, int]]] = {}

    @cached_property
    def _ranks(self) -> tuple[dict[int, int], list[int]]:
        """(left << 32 | right) -> rank, and the merged id of each rank."""
        merges = self.tables.merges
        keys = ((merges[:, 0].astype("<i8") << 32) | merges[:, 1].astype("<i8")).tolist()
        return dict(zip(keys, range(len(keys)), strict=True)), merges[:, 2].tolist()

    @cached_property
    def _splits(self) -> list[Any]:
        import regex  # the patterns use Unicode classes (\p{L}) that `re` does not have

        return [regex.compile(p) for p in self.tables.config["splits"]]

    @cached_property
    def _added_patterns(self) -> list[re.Pattern[str] | None]:
        """Alternations of the added tokens matched before and after normalization,
        longest first, so the leftmost match is the longest one there."""
        out: list[re.Pattern[str] | None] = []
        for normalized in (False, True):
            contents = sorted(
                {c for c, _, n in self.added if n == normalized}, key=len, reverse=True
            )
            out.append(re.compile("|".join(map(re.escape, contents))) if contents else None)
        return out

    @cached_property
    def _added_ids(self) -> dict[tuple[str, bool], int]:
        return {(c, n): i for c, i, n in self.added}

    @cached_property
    def _vocab(self) -> dict[bytes, int]:
        """bytes -> id of every id (for `ignore_merges`); the first id wins a tie."""
        pieces = self.tables
        out: dict[bytes, int] = {}
        for i in range(pieces.vocab_size):
            out.setdefault(pieces.piece(i), i)
        return out

    def can_encode(self, text: str) -> bool:
        """False when the text would be changed by the tokenizer's normalizer (NFC), which
        the tables do not implement: the caller then uses `tokenizers`."""
        return not self.nfc or unicodedata.is_normalized("NFC", text)

    def encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        ids: list[int] = []
        offsets: list[tuple[int, int]] = []
        for start, end, added in self._cut_added(text):
            if added is not None:
                ids.append(added)
                offsets.append((start, end))
                continue
            for a, b in self._pieces(text, start, end):
                word = text[a:b]
                if word.isascii():
                    for tid, lo, hi in self._word(word):
                        ids.append(tid)
                        offsets.append((a + lo, a + hi))
                    continue
                chars = [ci for ci, ch in enumerate(word) for _ in range(len(ch.encode()))]
                for tid, lo, hi in self._word(word):
                    ids.append(tid)
                    offsets.append((a + chars[lo], a + chars[hi - 1] + 1))
        return ids, offsets

    def _cut_added(self, text: str) -> Iterator[tuple[int, int, int | None]]:
        """(start, end, id of an added token or None for text to pre-tokenize)."""
        parts: list[tuple[int, int, int | None]] = [(0, len(text), None)]
        for pattern, normalized in zip(self._added_patterns, (False, True), strict=True):
            if pattern is None:
                continue
            cut: list[tuple[int, int, int | None]] = []
            for start, end, added in parts:
                if added is not None:
                    cut.append((start, end, added))
                    continue
                at = start
                for m in pattern.finditer(text, start, end):
                    if m.start() > at:
                        cut.append((at, m.start(), None))
                    cut.append((m.start(), m.end(), self._added_ids[(m.group(), normalized)]))
                    at = m.end()
                if at < end:
                    cut.append((at, end, None))
            parts = cut
        return iter(parts)

    def _pieces(self, text: str, start: int, end: int) -> list[tuple[int, int]]:
        """The pre-tokenizer's pieces of text[start:end], as (start, end) in `text`."""
        pieces = [(start, end)]
        for pattern in self._splits:
            split: list[tuple[int, int]] = []
            for a, b in pieces:
                at = a
                for m in pattern.finditer(text, a, b):
                    if m.start() == m.end():
                        continue
                    if m.start() > at:
                        split.append((at, m.start()))
                    split.append((m.start(), m.end()))
                    at = m.end()
                if at < b:
                    split.append((at, b))
            pieces = split
        return pieces

    def _word(self, word: str) -> list[tuple[int, int, int]]:
        """(id, first byte, end byte) of each token of one piece."""
        cached = self.cache.get(word)
        if cached is not None:
            return [(t, a, b) for t, a, b in _with_bytes(cached)]
        data = word.encode("utf-8")
        tokens = None
        if self.ignore_merges:
            whole = self._vocab.get(data)
            tokens = [(whole, len(data))] if whole is not None else None
        if tokens is None:
            tokens = self._merge(data)
        if len(self.cache) < WORD_CACHE:
            self.cache[word] = tokens
        return list(_with_bytes(tokens))

    def _merge(self, data: bytes) -> list[tuple[int, int]]:
        """(id, byte length) of each token: merges applied lowest rank, leftmost first."""
        ranks, merged = self._ranks
        byte_ids = self.byte_ids
        ids = [byte_ids[b] for b in data]
        lens = [1] * len(ids)
        while len(ids) > 1:
            best, at = -1, -1
            for i in range(len(ids) - 1):
                rank = ranks.get(ids[i] << 32 | ids[i + 1])
                if rank is not None and (best < 0 or rank < best):
                    best, at = rank, i
            if at < 0:
                break
            ids[at : at + 2] = [merged[best]]
            lens[at : at + 2] = [lens[at] + lens[at + 1]]
        return list(zip(ids, lens, strict=True))


def _with_bytes(tokens: list[tuple[int, int]]) -> Iterator[tuple[int, int, int]]:
    at = 0
    for tid, n in tokens:
        yield tid, at, at + n
        at += n
