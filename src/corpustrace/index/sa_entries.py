"""Reading suffix-array entries of any width (1..8 bytes, little-endian) without copies.

Native widths (1, 2, 4, 8) are a plain uint view. Odd widths (3 bytes for shards of
65,537..16.7M positions, 5..7 beyond 4G) are read as one unaligned little-endian word
starting where the entry starts, masked to the entry's bytes: a strided view over the
file's bytes, so a gather of k entries is one numpy take, and a single entry is one
`item` call. The last entry's word would run past the file, so it is decoded apart.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

NATIVE_UINT = {1: "<u1", 2: "<u2", 4: "<u4", 8: "<u8"}


class SaEntries:
    """The `width`-byte entries of a suffix array held as raw bytes (`raw`, uint8)."""

    def __init__(self, raw: np.ndarray, width: int) -> None:
        if not 1 <= width <= 8:
            raise ValueError(f"suffix-array width {width} is not 1..8 bytes")
        raw = np.asarray(raw)  # a plain ndarray even over an np.memmap: no subclass cost
        self.width = width
        self.n = len(raw) // width
        raw = raw[: self.n * width]
        native = NATIVE_UINT.get(width)
        self.native: np.ndarray | None = raw.view(native) if native is not None else None
        self.mask = (1 << (8 * width)) - 1
        if native is None and self.n:
            word = np.dtype("<u4" if width < 4 else "<u8")
            self.words: np.ndarray = np.ndarray(
                (self.n - 1,), dtype=word, buffer=raw, strides=(width,)
            )
            self.last = int.from_bytes(raw[(self.n - 1) * width :].tobytes(), "little")
        else:
            self.words, self.last = np.empty(0, dtype="<u8"), 0
        self.one: Callable[[int], int] = self._one_reader()

    def _one_reader(self) -> Callable[[int], int]:
        """rank -> entry as one Python int (IndexError outside 0..n-1, like a list)."""
        if self.native is not None:
            item: Callable[[int], int] = self.native.item
            return item
        word, mask, last, n = self.words.item, self.mask, self.last, self.n

        def one(rank: int) -> int:
            if rank == n - 1 or rank == -1:
                return last
            return int(word(rank)) & mask

        return one

    def many(self, ranks: np.ndarray) -> np.ndarray:
        """Entries at the given ranks (any shape) as int64 (positions never reach 2**63)."""
        ranks = np.asarray(ranks, dtype=np.int64)
        if self.native is not None:
            out: np.ndarray = self.native[ranks].astype(np.int64)
            return out
        if ranks.size == 0:
            return np.zeros(ranks.shape, dtype=np.int64)
        top, bottom = int(ranks.max()), int(ranks.min())
        if top >= self.n or bottom < -self.n:
            raise IndexError(f"rank {top if top >= self.n else bottom} is outside the array")
        if self.n == 1:
            return np.full(ranks.shape, self.last, dtype=np.int64)
        ranks = np.where(ranks < 0, ranks + self.n, ranks)
        at_last = ranks == self.n - 1 if top >= self.n - 1 or bottom < 0 else None
        if at_last is not None:
            ranks = np.where(at_last, 0, ranks)
        out = (self.words[ranks] & self.mask).astype(np.int64)
        if at_last is not None:
            out[at_last] = self.last
        return out
