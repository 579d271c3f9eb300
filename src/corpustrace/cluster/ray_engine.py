"""`RayEngine`: the engine protocol over shard-holder actors on a Ray cluster.

Each node is started with its own custom resource (`corpustrace_node_<n>`: 1); the
plan (plan.py) puts each replica of a shard group on one node by asking for a sliver
of that resource. A call goes to one live replica of its group; a dead actor or node
(`RayActorError` and kin) or a call past `call_timeout_s` marks that replica down and
the call is sent to the next one, all within what is left of the request's deadline.
When no replica of a group is left the answer is `ShardsUnavailable` (503) naming its
shards: never a partial answer. Down replicas are tried again after `retry_after_s`
(Ray restarts a dead actor when its node comes back).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
import ray.exceptions as rex

from corpustrace.cluster.calls import Call, remaining_seconds
from corpustrace.cluster.errors import ClusterError, ShardsUnavailable
from corpustrace.cluster.fanout import FanoutEngine
from corpustrace.cluster.head import IndexHead
from corpustrace.cluster.holder import RemoteHolder
from corpustrace.cluster.plan import (
    NODE_RESOURCE,
    ClusterPlan,
    GroupPlan,
    plan_cluster,
    resource_of,
)
from corpustrace.errors import CorpusTraceError, DeadlineExceeded

# Failures that mean "this replica cannot answer", as opposed to an error of the query.
REPLICA_FAILURES: tuple[type[BaseException], ...] = tuple(
    getattr(rex, name)
    for name in (
        "RayActorError",
        "ActorUnavailableError",
        "WorkerCrashedError",
        "NodeDiedError",
        "ObjectLostError",
        "OwnerDiedError",
        "LocalRayletDiedError",
    )
    if hasattr(rex, name)
)
PING_TIMEOUT_S = 2.0


@dataclass
class Replica:
    group: int
    node: str
    actor: Any
    down_since: float | None = None

    def usable(self, now: float, retry_after_s: float) -> bool:
        return self.down_since is None or now - self.down_since >= retry_after_s


@dataclass
class RayCaller:
    """Sends call batches to replicas and fails over between them (thread-safe)."""

    plan: ClusterPlan
    replicas: list[list[Replica]]
    call_timeout_s: float
    retry_after_s: float = 30.0
    address: str = ""
    _turns: list[Any] = field(default_factory=list)  # one counter per group
    _lock: threading.Lock = field(default_factory=threading.Lock)
    ray_seconds: float = 0.0  # time spent in call batches (bench: share of a trace)
    seconds_by_call: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._turns = [itertools.count() for _ in self.replicas]

    def _candidates(self, group: int, tried: Sequence[Replica]) -> list[Replica]:
        now = time.monotonic()
        options = [r for r in self.replicas[group] if r not in tried]
        start = next(self._turns[group]) % max(1, len(options))  # each replica in turn
        options = options[start:] + options[:start]
        up = [r for r in options if r.down_since is None]
        return up + [r for r in options if r not in up and r.usable(now, self.retry_after_s)]

    def _mark(self, replica: Replica, up: bool) -> None:
        with self._lock:
            if up:
                replica.down_since = None
            elif replica.down_since is None:
                replica.down_since = time.monotonic()

    def call(self, calls: Sequence[Call]) -> list[Any]:
        began = time.perf_counter()
        seconds = remaining_seconds()
        sent: list[tuple[Replica, Any] | None] = []
        for c in calls:
            options = self._candidates(c.group, [])
            sent.append(self._send(options[0], c, seconds) if options else None)
        results: list[Any] = []
        missing: dict[int, str] = {}
        try:
            for c, first in zip(calls, sent, strict=True):
                try:
                    results.append(self._collect(c, first))
                except ShardsUnavailable as exc:
                    missing[c.group] = str(exc)
                    results.append(None)
        finally:
            spent = time.perf_counter() - began
            self.ray_seconds += spent
            if calls:
                name = calls[0].method
                self.seconds_by_call[name] = self.seconds_by_call.get(name, 0.0) + spent
        if missing:
            names = [n for g in sorted(missing) for n in self.plan.groups[g].names]
            groups = ", ".join(str(g) for g in sorted(missing))
            raise ShardsUnavailable(names, f"no live replica of shard group(s) {groups}")
        return results

    def _send(self, replica: Replica, c: Call, seconds: float | None) -> tuple[Replica, Any]:
        return replica, replica.actor.run.remote(c.method, c.args, seconds)

    def _collect(self, c: Call, first: tuple[Replica, Any] | None) -> Any:
        tried: list[Replica] = []
        current = first
        while current is not None:
            replica, ref = current
            tried.append(replica)
            left = remaining_seconds()  # DeadlineExceeded once the request's time is up
            wait = self.call_timeout_s if left is None else min(self.call_timeout_s, left)
            try:
                value = ray.get(ref, timeout=wait)
                if replica.down_since is not None:
                    self._mark(replica, up=True)
                return value
            except rex.RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                if isinstance(cause, CorpusTraceError):
                    raise cause from None  # the query's own error (bad input, deadline)
                raise
            except rex.GetTimeoutError:
                _cancel(ref)
                left = remaining_seconds()
                if left is not None and left <= 0:
                    raise DeadlineExceeded(
                        "the work was stopped: its time limit was reached"
                    ) from None
                self._mark(replica, up=False)
            except REPLICA_FAILURES:
                self._mark(replica, up=False)
            options = self._candidates(c.group, tried)
            current = self._send(options[0], c, remaining_seconds()) if options else None
        names = self.plan.groups[c.group].names
        raise ShardsUnavailable(names, f"no live replica of shard group {c.group}")

    def status(self) -> dict[str, Any]:
        """Groups, replicas alive (each pinged now), shards without a live replica."""
        pings = [
            (r, r.actor.run.remote("ping", (), PING_TIMEOUT_S)) for g in self.replicas for r in g
        ]
        deadline = time.monotonic() + PING_TIMEOUT_S
        alive: set[int] = set()
        for replica, ref in pings:
            try:
                ray.get(ref, timeout=max(0.01, deadline - time.monotonic()))
                alive.add(id(replica))
                self._mark(replica, up=True)
            except (rex.GetTimeoutError, rex.RayTaskError, *REPLICA_FAILURES):  # type: ignore[misc]
                self._mark(replica, up=False)
        groups = []
        missing: list[str] = []
        for plan, replicas in zip(self.plan.groups, self.replicas, strict=True):
            up = [r.node for r in replicas if id(r) in alive]
            if not up:
                missing.extend(plan.names)
            groups.append(
                {
                    "group": plan.number,
                    "shards": list(plan.names),
                    "nodes": list(plan.nodes),
                    "replicas": len(replicas),
                    "replicas_alive": len(up),
                    "alive_on": up,
                }
            )
        return {
            "kind": "ray",
            "nodes": [n.name for n in self.plan.nodes],
            "replication": self.plan.replicas,
            "groups": groups,
            "replicas_alive": sum(g["replicas_alive"] for g in groups),
            "shards_missing": missing,
        }

    def close(self) -> None:
        for replica in (r for g in self.replicas for r in g):
            with contextlib.suppress(Exception):  # already gone with its node
                ray.kill(replica.actor, no_restart=True)


def _cancel(ref: Any) -> None:
    with contextlib.suppress(Exception):  # finished, or not cancellable: its deadline stops it
        ray.cancel(ref)


def connect(address: str, wait_s: float = 30.0) -> None:
    """Join the Ray cluster at `address` as a driver (once per process; a head that is
    still starting is waited for up to `wait_s`)."""
    if ray.is_initialized():
        return
    end = time.monotonic() + wait_s
    while True:
        try:
            ray.init(
                address=address,
                logging_level=logging.WARNING,
                log_to_driver=False,
            )
            return
        except (ConnectionError, RuntimeError, ValueError) as exc:
            if time.monotonic() > end:
                raise ClusterError(
                    f"cannot connect to the Ray cluster at {address}: {exc}"
                ) from exc
            time.sleep(1.0)


def cluster_nodes() -> list[str]:
    """Alive nodes that carry a corpustrace node resource, as node-<n> names, in order."""
    names = []
    for node in ray.nodes():  # type: ignore[no-untyped-call]
        if not node.get("Alive"):
            continue
        for key in node.get("Resources", {}):
            if key.startswith(NODE_RESOURCE):
                names.append("node-" + key.removeprefix(NODE_RESOURCE))
    if len(set(names)) != len(names):
        raise ClusterError(f"two nodes carry the same corpustrace node resource: {sorted(names)}")
    return sorted(names, key=lambda n: (len(n), n))


class RayEngine(FanoutEngine):
    """The engine protocol over a Ray cluster (docs/scale.md)."""

    @classmethod
    def open(
        cls,
        path: str | Path,
        address: str,
        replicas: int = 1,
        actor_cpus: float = 1.0,
        call_timeout_s: float = 10.0,
        node_paths: Mapping[str, str] | None = None,
        start_timeout_s: float = 180.0,
        max_concurrency: int = 8,
    ) -> RayEngine:
        """Connect, place one actor per replica of each group, wait until all answer."""
        path = Path(path).absolute()
        head = IndexHead(path)
        connect(address)
        plan = plan_cluster(head.manifest, cluster_nodes(), replicas)
        threads = max(1, math.ceil(actor_cpus))
        replicas_of: list[list[Replica]] = []
        for group in plan.groups:
            replicas_of.append(
                [
                    Replica(
                        group.number,
                        node,
                        _start(group, node, path, node_paths, actor_cpus, threads, max_concurrency),
                    )
                    for node in group.nodes
                ]
            )
        caller = RayCaller(plan, replicas_of, call_timeout_s, address=address)
        _wait_started(caller, start_timeout_s)
        return cls(head, [g.shards for g in plan.groups], caller)


def _start(
    group: GroupPlan,
    node: str,
    path: Path,
    node_paths: Mapping[str, str] | None,
    cpus: float,
    threads: int,
    concurrency: int,
) -> Any:
    where = (node_paths or {}).get(node, str(path))
    return RemoteHolder.options(
        resources={resource_of(node): 0.001},
        num_cpus=cpus,
        max_concurrency=concurrency,
        max_restarts=-1,
        max_task_retries=0,
    ).remote(where, list(group.shards), threads)


def _wait_started(caller: RayCaller, timeout_s: float) -> None:
    """Every replica answers a ping, or ClusterError naming those that did not."""
    pings = [(r, r.actor.run.remote("ping", (), None)) for g in caller.replicas for r in g]
    end = time.monotonic() + timeout_s
    failed = []
    for replica, ref in pings:
        try:
            ray.get(ref, timeout=max(0.01, end - time.monotonic()))
        except rex.RayTaskError as exc:
            cause = getattr(exc, "cause", exc)
            failed.append(f"group {replica.group} on {replica.node}: {cause}")
        except (rex.GetTimeoutError, *REPLICA_FAILURES) as exc:  # type: ignore[misc]
            failed.append(f"group {replica.group} on {replica.node}: {type(exc).__name__}")
    if failed:
        caller.close()
        raise ClusterError("shard holders did not start: " + "; ".join(failed))
