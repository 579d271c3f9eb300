"""Suffix-array entry decoding at every width, against int.from_bytes on each entry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from corpustrace.index.mapping import map_file
from corpustrace.index.sa_entries import SaEntries


def slow_entries(raw: bytes, width: int) -> list[int]:
    return [int.from_bytes(raw[i : i + width], "little") for i in range(0, len(raw), width)]


def edge_values(width: int) -> list[int]:
    """Values whose bytes order differently read little- or big-endian, and the extremes."""
    top = min((1 << (8 * width)) - 1, (1 << 63) - 1)  # positions are int64
    return sorted(v for v in {0, 1, 255, 256, 65535, 65536, top - 1, top} if v <= top)


@pytest.mark.parametrize("width", range(1, 9))
@pytest.mark.parametrize("n", [1, 2, 3, 50])
def test_one_and_many_match_the_slow_decoding(width: int, n: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(width * 100 + n)
    values = [int(v) for v in rng.integers(0, 1 << 62, size=n)] + edge_values(width)
    values = [v & ((1 << min(8 * width, 63)) - 1) for v in values][-n:]  # the edges last
    raw = b"".join(v.to_bytes(width, "little") for v in values)
    path = tmp_path / "sa"
    path.write_bytes(raw)
    expected = slow_entries(raw, width)
    for array in (np.frombuffer(raw, dtype=np.uint8), map_file(path, "<u1")):
        entries = SaEntries(array, width)
        assert entries.n == n
        assert [entries.one(r) for r in range(n)] == expected
        assert entries.one(-1) == expected[-1]  # like a list
        every = np.arange(n)
        assert entries.many(every).tolist() == expected
        edges = np.array([n - 1, 0, n - 1, n // 2, max(n - 2, 0)])
        assert entries.many(edges).tolist() == [expected[i] for i in edges.tolist()]
        assert entries.many(np.array([-1])).tolist() == [expected[-1]]
        grid = rng.integers(0, n, size=(3, 4))
        assert entries.many(grid).tolist() == [[expected[i] for i in row] for row in grid.tolist()]
        assert entries.many(np.zeros(0, dtype=np.int64)).shape == (0,)
        for bad in (n, n + 5):
            with pytest.raises(IndexError):
                entries.one(bad)
            with pytest.raises(IndexError):
                entries.many(np.array([0, bad]))


@pytest.mark.parametrize("width", [3, 4, 5])
def test_a_trailing_partial_entry_is_ignored(width: int) -> None:
    raw = bytes(range(1, 2 * width + 2))  # two entries and one byte more
    entries = SaEntries(np.frombuffer(raw, dtype=np.uint8), width)
    assert entries.n == 2
    assert entries.many(np.arange(2)).tolist() == slow_entries(raw[: 2 * width], width)


def test_an_empty_array_and_a_bad_width() -> None:
    entries = SaEntries(np.zeros(0, dtype=np.uint8), 3)
    assert entries.n == 0 and entries.many(np.zeros(0, dtype=np.int64)).size == 0
    with pytest.raises(IndexError):
        entries.one(0)
    with pytest.raises(ValueError, match="width"):
        SaEntries(np.zeros(9, dtype=np.uint8), 9)
