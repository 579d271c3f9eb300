"""`verify`: shard.json and the shard list are checked, and the suffix-array order check
costs a bounded number of token comparisons per sampled pair, whatever the text repeats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from brute import scratch_dir

from corpustrace.cli import main
from corpustrace.index import format as fmt
from corpustrace.index.reader import Index
from corpustrace.index.shard_counts import read_counts, write_counts
from corpustrace.index.verify import suffix_order, verify_index
from corpustrace.index.writer import build_from_tokens
from corpustrace.tokenizer_load import load_tokenizer


def naive_order(tokens: list[int], a: int, b: int, limit: int) -> bool | None:
    x, y = tokens[a : a + limit], tokens[b : b + limit]
    if x == y and len(x) == limit:
        return None
    return tokens[a:] <= tokens[b:]


def test_suffix_order_matches_a_naive_comparison() -> None:
    rng = np.random.default_rng(3)
    for trial in range(300):
        n = int(rng.integers(1, 400))
        if trial % 3 == 0:
            tokens = np.tile(rng.integers(0, 3, size=int(rng.integers(1, 4))), n)[:n]
        else:
            tokens = rng.integers(0, 3, size=n)
        tokens = tokens.astype(np.uint16)
        listed = tokens.tolist()
        for _ in range(10):
            a, b = (int(v) for v in rng.integers(0, n, size=2))
            limit = int(rng.choice([1, 5, 64, 65, 200, 10_000]))
            assert suffix_order(tokens, a, b, limit) == naive_order(listed, a, b, limit), (
                listed,
                a,
                b,
                limit,
            )


def test_highly_repetitive_text_verifies(tmp_path: Path) -> None:
    tok = load_tokenizer("bytes")
    text = "ab" * 200_000  # 400 KB; minutes with a Python loop per 64 tokens
    with scratch_dir() as root:
        build_from_tokens(root / "ix", tok, [(tok.encode(text), {}), (tok.encode("ab"), {})])
        report = verify_index(root / "ix", hashes=False)
    assert report.ok, report.problems
    assert report.pairs_checked > 1000 and report.pairs_undecided == 0


def test_pairs_past_the_bound_are_undecided_not_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    import corpustrace.index.verify as verify

    tok = load_tokenizer("bytes")
    monkeypatch.setattr(verify, "MAX_COMPARE", 100)
    with scratch_dir() as root:
        build_from_tokens(root / "ix", tok, [(tok.encode("ab" * 5000), {})])
        report = verify.verify_index(root / "ix", hashes=False)
    assert report.ok and report.pairs_undecided > 0


@pytest.fixture
def three(tmp_path: Path) -> Path:
    tok = load_tokenizer("bytes")
    docs = [(tok.encode(f"document number {i} of the corpus"), {"i": i}) for i in range(9)]
    build_from_tokens(tmp_path / "ix", tok, docs, shard_tokens=100)
    assert len(Index.open(tmp_path / "ix").shards) == 3
    return tmp_path / "ix"


def test_swapped_suffix_array_entries_are_out_of_order(three: Path) -> None:
    path = three / "shard-00001" / fmt.SA
    sa = np.fromfile(path, dtype="<u1")
    sa[[3, 40]] = sa[[40, 3]]
    sa.tofile(path)
    report = verify_index(three, hashes=False, samples=10_000)
    assert any("out of order" in p for p in report.problems), report.problems
    assert any("SHA-256" in p for p in verify_index(three).problems)


def test_moved_shard_unigram_count_is_reported(three: Path) -> None:
    """Counts moved between two tokens (the sum kept) would bound searches wrongly."""
    assert verify_index(three, hashes=False).ok
    counts = read_counts(three / "shard-00001").copy()
    a, b = np.flatnonzero(counts)[:2]
    counts[a] += 1
    counts[b] -= 1
    write_counts(three / "shard-00001" / fmt.SHARD_UNIGRAM, counts)
    report = verify_index(three, hashes=False)
    assert any("counts place token" in p for p in report.problems), report.problems


def test_edited_shard_json_is_reported(three: Path) -> None:
    path = three / "shard-00002" / fmt.SHARD_INFO
    info = json.loads(path.read_text())
    info["source_end"]["record"] += 1
    path.write_text(json.dumps(info))
    report = verify_index(three)
    assert any("shard-00002/shard.json" in p for p in report.problems), report.problems


@pytest.mark.parametrize("dropped", [0, 1, 2])
def test_shard_dropped_from_the_manifest_is_reported(
    three: Path, dropped: int, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = json.loads((three / fmt.MANIFEST).read_text())
    del manifest["shards"][dropped]
    (three / fmt.MANIFEST).write_text(json.dumps(manifest))
    assert not verify_index(three).ok
    capsys.readouterr()
    assert main(["verify", str(three)]) == 1
    assert fmt.MANIFEST in capsys.readouterr().err
