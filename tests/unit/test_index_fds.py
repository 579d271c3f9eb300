"""Open files and maps: an index of many shards opens under a low open-files limit,
and closing the engine releases every map."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from brute import Brute, scratch_dir

from corpustrace.engine import Engine
from corpustrace.index.mapping import advise_random, map_file, prefetch
from corpustrace.index.writer import build_from_tokens
from corpustrace.tokenizer_load import load_tokenizer

PROC = Path("/proc/self")
needs_proc = pytest.mark.skipif(not (PROC / "maps").is_file(), reason="needs /proc (Linux)")

CHILD = """
import os, resource, sys
from corpustrace.engine import Engine
resource.setrlimit(resource.RLIMIT_NOFILE, (128, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
before = len(os.listdir("/proc/self/fd"))
with Engine.open(sys.argv[1], threads=1) as engine:
    during = len(os.listdir("/proc/self/fd"))
    print(len(engine.shards), engine.count([int(t) for t in sys.argv[2:]]), during - before)
"""


def mapped(path: Path) -> int:
    """Lines of this process's memory maps that are files under `path`."""
    return sum(str(path) in line for line in (PROC / "maps").read_text().splitlines())


@needs_proc
def test_many_shards_open_under_a_low_file_limit() -> None:
    rng = np.random.default_rng(5)
    docs = [rng.integers(97, 100, size=3).tolist() for _ in range(300)]
    with scratch_dir() as root:
        build_from_tokens(root / "ix", load_tokenizer("bytes"), [(d, {}) for d in docs], 4)
        query = [97, 98]
        run = subprocess.run(
            [sys.executable, "-c", CHILD, str(root / "ix"), *map(str, query)],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert run.returncode == 0, run.stderr
    shards, count, extra_fds = map(int, run.stdout.split())
    assert shards == 300 and count == Brute(docs).count(query)
    assert extra_fds < 20  # not five per shard


@needs_proc
def test_close_releases_every_map(tmp_path: Path) -> None:
    tok = load_tokenizer("bytes")
    docs = [tok.encode(t) for t in ["the river begins", "a mill on the river", "the end"]]
    build_from_tokens(tmp_path, tok, [(d, {"n": i}) for i, d in enumerate(docs)], 20)
    engine = Engine.open(tmp_path)
    assert engine.count(tok.encode("the")) == 3
    assert mapped(tmp_path) >= 5 * len(engine.shards)
    engine.close()
    gc.collect()
    assert mapped(tmp_path) == 0


@needs_proc
def test_a_map_outlives_its_file_descriptor_and_ends_with_its_arrays(tmp_path: Path) -> None:
    path = tmp_path / "data"
    np.arange(1000, dtype="<u4").tofile(path)
    fds = len(list((PROC / "fd").iterdir()))
    array = map_file(path, "<u4")
    assert len(list((PROC / "fd").iterdir())) == fds
    view = array[10:20]
    del array
    gc.collect()
    assert view.tolist() == list(range(10, 20)) and mapped(path) == 1
    assert not view.flags.writeable
    del view
    gc.collect()
    assert mapped(path) == 0


def smaps_flags(path: Path) -> list[str]:
    """The VmFlags of every map of `path` in this process (`rr`: MADV_RANDOM given)."""
    flags, current = [], False
    for line in (PROC / "smaps").read_text().splitlines():
        if line[:1].isalnum() and "-" in line.split()[0]:
            current = line.endswith(str(path))
        elif current and line.startswith("VmFlags:"):
            flags.append(line)
    return flags


@needs_proc
def test_advice_marks_only_the_map_it_names_and_reads_stay_exact(tmp_path: Path) -> None:
    path = tmp_path / "data"
    values = np.random.default_rng(0).integers(0, 2**32, size=300_000, dtype=np.uint64)
    values.astype("<u4").tofile(path)
    array = map_file(path, "<u4")
    other = map_file(path, "<u4")
    assert advise_random(array[1:])  # an unaligned start is rounded down to its page
    flags = smaps_flags(path)
    assert len(flags) == 2 and sum(" rr" in f for f in flags) == 1, flags
    picked = np.array([-5, 0, 7, 150_000, 299_999, 300_000, 10**9])
    prefetch(array, picked)  # out-of-range indices are skipped, not an error
    assert array[[0, 7, 150_000, 299_999]].tolist() == values[[0, 7, 150_000, 299_999]].tolist()
    assert np.array_equal(other, values.astype("<u4"))
    assert not advise_random(np.empty(0, dtype="<u4"))


@needs_proc
def test_the_engine_advises_random_reads_of_the_suffix_array_only(tmp_path: Path) -> None:
    tok = load_tokenizer("bytes")
    build_from_tokens(tmp_path / "index", tok, [(list(b"abcabc" * 2000), {})])
    with Engine.open(tmp_path / "index") as engine:
        shard = tmp_path / "index" / "shard-00000"
        assert any(" rr" in f for f in smaps_flags(shard / "sa"))
        assert not any(" rr" in f for f in smaps_flags(shard / "tokens"))
        assert engine.count(list(b"abc")) == 4000
