"""Shard groups in this process: the fan-out without Ray (tests, one-machine layouts).

Each group is a `GroupEngine`; a call batch runs one call after another. Results are
what the Ray caller returns for the same groups, so tests can compare the fan-out with
the local engine on many queries cheaply, and the Ray tests need only check transport.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from corpustrace.cluster.calls import Call, remaining_seconds
from corpustrace.cluster.fanout import FanoutEngine
from corpustrace.cluster.group import GroupEngine
from corpustrace.cluster.head import IndexHead


class InProcessCaller:
    def __init__(self, groups: Sequence[GroupEngine]) -> None:
        self.groups = list(groups)

    def call(self, calls: Sequence[Call]) -> list[Any]:
        seconds = remaining_seconds()
        return [self.groups[c.group].run(c.method, c.args, seconds) for c in calls]

    def status(self) -> dict[str, Any]:
        return {"kind": "in-process", "groups": [g.names for g in self.groups]}

    def close(self) -> None:
        for group in self.groups:
            group.close()


def open_in_process(path: str | Path, groups: Sequence[Sequence[int]]) -> FanoutEngine:
    """A FanoutEngine over `groups` (global shard numbers of each) of the index at `path`."""
    path = Path(path)
    engines = [GroupEngine(path, numbers, threads=1) for numbers in groups]
    return FanoutEngine(IndexHead(path), groups, InProcessCaller(engines))
