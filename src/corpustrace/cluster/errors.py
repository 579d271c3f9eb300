"""Errors of the cluster engine (the server maps them through their base classes)."""

from __future__ import annotations

from collections.abc import Sequence

from corpustrace.errors import CorpusTraceError, IndexFormatError


class ClusterError(CorpusTraceError):
    """A cluster that cannot serve as configured (no Ray, no nodes, too few for the
    replicas asked, actors that never started)."""

    code = "bad_cluster"


class ShardsUnavailable(IndexFormatError):
    """No live replica holds these shards: the answer would be partial, so none is given
    (503, naming them)."""

    code = "shards_unavailable"

    def __init__(self, shards: Sequence[str], why: str) -> None:
        self.shards = sorted(shards)
        super().__init__(f"shards unavailable: {', '.join(self.shards)} ({why})")
