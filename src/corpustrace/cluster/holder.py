"""The shard-holder actor: one `GroupEngine` per actor, on the node storing its shards."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ray

from corpustrace.cluster.group import GroupEngine


class ShardHolder:
    """Opens its shards read-only (memory maps of the node's own files) at creation;
    runs calls on up to `max_concurrency` threads (set when the actor is created)."""

    def __init__(self, path: str, numbers: Sequence[int], threads: int) -> None:
        self.group = GroupEngine(path, numbers, threads=threads)

    def run(self, method: str, args: tuple[Any, ...], seconds: float | None) -> Any:
        return self.group.run(method, args, seconds)

    def node_id(self) -> str:
        return str(ray.get_runtime_context().get_node_id())


RemoteHolder: Any = ray.remote(ShardHolder)
