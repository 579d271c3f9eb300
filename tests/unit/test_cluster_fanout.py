"""The fan-out of cluster/ (shard groups combined at the front end) against the local
engine over the same index, in one process: same answers, field for field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import clustertools
from corpustrace.cluster.calls import Call
from corpustrace.cluster.errors import ShardsUnavailable
from corpustrace.cluster.fanout import FanoutEngine
from corpustrace.cluster.head import IndexHead
from corpustrace.cluster.inprocess import InProcessCaller, open_in_process
from corpustrace.cluster.plan import balanced_groups
from corpustrace.deadline import Deadline
from corpustrace.engine import Engine
from corpustrace.engine.protocol import SearchEngine
from corpustrace.errors import DeadlineExceeded, NotFound, QueryError
from corpustrace.index.format import Manifest
from corpustrace.trace import TraceParams, trace

EXACT = TraceParams(span_density=1, delimiters=(), word_boundaries=False, min_span_length=1)


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clustertools.build(tmp_path_factory.mktemp("fanout") / "index")


@pytest.fixture(scope="module")
def local(index: Path) -> Iterator[Engine]:
    with Engine.open(index, threads=1) as engine:
        yield engine


@pytest.mark.parametrize("layout", ["one-group", "balanced", "scattered"])
def test_fanout_answers_like_the_local_engine(index: Path, local: Engine, layout: str) -> None:
    n = len(local.index.shards)
    assert n >= 5, "the corpus must span several shards"
    groups = {
        "one-group": [list(range(n))],
        "balanced": balanced_groups(Manifest.load(index), 3),
        "scattered": [list(range(n))[k::3] for k in (2, 0, 1)],  # not contiguous, reordered
    }[layout]
    other = open_in_process(index, groups)
    try:
        assert isinstance(other, SearchEngine)
        assert clustertools.compare(local, other, seed=len(layout)) > 150
        clustertools.compare_traces(local, other, TraceParams())
        clustertools.compare_traces(local, other, EXACT)
    finally:
        other.close()


def test_bad_input_and_missing_documents(index: Path, local: Engine) -> None:
    other = open_in_process(index, balanced_groups(Manifest.load(index), 2))
    try:
        for engine in (local, other):
            with pytest.raises(QueryError, match="not a token of this index"):
                engine.count([999])
            with pytest.raises(NotFound, match="does not exist"):
                engine.document(10**6)
            with pytest.raises(NotFound, match="shard 99 does not exist"):
                engine.window(99, 0, 1, 1, 1)
            with pytest.raises(QueryError, match="must not be negative"):
                engine.occurrences([65], -1)
            with pytest.raises(QueryError, match="max_support"):
                engine.ntd([65], 0)
    finally:
        other.close()


def test_a_passed_deadline_stops_the_fanout(index: Path) -> None:
    other = open_in_process(index, balanced_groups(Manifest.load(index), 2))
    try:
        gone = Deadline(10.0)
        gone.cancel()
        with pytest.raises(DeadlineExceeded):
            trace(other, clustertools.RESPONSES[0], deadline=gone)
    finally:
        other.close()


class GroupLost(InProcessCaller):
    """A caller whose group `lost` has no replica left, as the Ray caller reports it."""

    def __init__(self, caller: InProcessCaller, lost: int, names: list[str]) -> None:
        super().__init__(caller.groups)
        self.lost, self.names = lost, names

    def call(self, calls: list[Call]) -> list[object]:  # type: ignore[override]
        if any(c.group == self.lost for c in calls):
            raise ShardsUnavailable(self.names, f"no live replica of shard group {self.lost}")
        return super().call(calls)


def test_a_group_without_replicas_fails_the_whole_answer(index: Path) -> None:
    groups = balanced_groups(Manifest.load(index), 2)
    inner = open_in_process(index, groups)
    head = IndexHead(index)
    names = [head.shard_names[s] for s in groups[1]]
    assert isinstance(inner.caller, InProcessCaller)
    broken = FanoutEngine(head, groups, GroupLost(inner.caller, 1, names))
    try:
        with pytest.raises(ShardsUnavailable) as caught:
            trace(broken, clustertools.RESPONSES[0])
        assert caught.value.shards == sorted(names)
        assert all(name in str(caught.value) for name in names)
    finally:
        broken.close()


def test_a_shard_group_keeps_the_whole_index_numbering(index: Path, local: Engine) -> None:
    """A group of non-contiguous shards numbers documents as the whole index does (the
    engine's view of one index must not renumber them from 0)."""
    from corpustrace.cluster.group import GroupEngine

    n = len(local.index.shards)
    numbers = [n - 1, 1]
    group = GroupEngine(index, numbers, threads=1)
    try:
        for i, shard_no in enumerate(numbers):
            first = local.index.global_doc(shard_no, 0)
            assert group.engine.index.global_doc(i, 3) == first + 3
            view, expected = group.document(first + 1, 0, 4), local.document(first + 1, 0, 4)
            got, want = clustertools.plain(view), clustertools.plain(expected)
            assert got.pop("shard") == i and want.pop("shard") == shard_no  # the head maps it
            assert got == want
        with pytest.raises(NotFound):
            group.document(local.index.global_doc(0, 0), 0, 4)  # shard 0 is not in the group
    finally:
        group.close()
