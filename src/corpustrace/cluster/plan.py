"""Which shards go where: shard groups balanced by bytes, replicas on distinct nodes.

A pure function of the manifest, so `corpustrace cluster plan` prints exactly the
layout `RayEngine` will create. Groups are filled largest shard first onto the
lightest group (the classic LPT rule: within 4/3 of the best balance, Graham 1969);
replica k of group g goes to node (g + k) mod N, so the copies of a group are on k
different nodes and every node holds about the same share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from corpustrace.cluster.errors import ClusterError
from corpustrace.index import format as fmt

NODE_RESOURCE = "corpustrace_node_"  # custom resource naming the node a group runs on
# Resident memory of one shard-group actor besides its shards' pages (Python, numpy,
# tokenizers, Ray's worker): measured at about 200 MB (docs/scale.md), rounded up.
ACTOR_OVERHEAD_BYTES = 300 << 20
# Shard files read while searching (tokens and the suffix array; docs and metadata
# offsets on every hit): what a node should keep in page cache for steady latency.
HOT_FILES = (fmt.TOKENS, fmt.SA, fmt.DOCS, fmt.META_OFFSETS)


@dataclass(frozen=True)
class GroupPlan:
    number: int
    shards: tuple[int, ...]
    names: tuple[str, ...]
    nodes: tuple[str, ...]  # one per replica
    bytes: int
    tokens: int


@dataclass(frozen=True)
class NodePlan:
    name: str
    resource: str  # the custom resource this node is started with
    groups: tuple[int, ...]
    disk_bytes: int  # its shards' files plus the index-level files
    memory_bytes: int  # hot files in page cache plus one actor per group


@dataclass(frozen=True)
class ClusterPlan:
    replicas: int
    groups: tuple[GroupPlan, ...]
    nodes: tuple[NodePlan, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        lines = [f"{len(self.groups)} shard groups, {self.replicas} replica(s) each"]
        for g in self.groups:
            lines.append(
                f"  group {g.number}: {len(g.shards)} shards ({', '.join(g.names)}), "
                f"{g.tokens:,} tokens, {g.bytes / 1e6:.1f} MB on {', '.join(g.nodes)}"
            )
        for n in self.nodes:
            lines.append(
                f"  {n.name} (resource {n.resource}): groups {list(n.groups)}, disk "
                f"{n.disk_bytes / 1e6:.1f} MB, memory {n.memory_bytes / 1e6:.1f} MB"
            )
        return "\n".join(lines)


def node_names(count: int) -> list[str]:
    return [f"node-{i}" for i in range(count)]


def resource_of(node: str) -> str:
    return NODE_RESOURCE + node.removeprefix("node-")


def shard_bytes(info: fmt.ShardInfo, files: Sequence[str] | None = None) -> int:
    return sum(f.bytes for name, f in info.files.items() if files is None or name in files)


def balanced_groups(manifest: fmt.Manifest, count: int) -> list[list[int]]:
    """`count` groups of shard numbers (each sorted), balanced by bytes (LPT)."""
    loads = [0] * count
    groups: list[list[int]] = [[] for _ in range(count)]
    order = sorted(range(len(manifest.shards)), key=lambda s: (-shard_bytes(manifest.shards[s]), s))
    for shard in order:
        g = min(range(count), key=lambda i: (loads[i], i))
        groups[g].append(shard)
        loads[g] += shard_bytes(manifest.shards[shard])
    return [sorted(g) for g in groups if g]


def plan_cluster(
    manifest: fmt.Manifest, nodes: Sequence[str], replicas: int = 1, groups: int | None = None
) -> ClusterPlan:
    """Groups (default: one per node, at most one per shard) and their placement."""
    if not nodes:
        raise ClusterError("no cluster nodes: start each with a corpustrace_node_<n> resource")
    if not manifest.shards:
        raise ClusterError("the index has no shards")
    if not 1 <= replicas <= len(nodes):
        raise ClusterError(f"{replicas} replicas need as many nodes; the cluster has {len(nodes)}")
    count = min(groups or len(nodes), len(manifest.shards))
    plans = []
    for g, numbers in enumerate(balanced_groups(manifest, count)):
        infos = [manifest.shards[s] for s in numbers]
        plans.append(
            GroupPlan(
                number=g,
                shards=tuple(numbers),
                names=tuple(i.name for i in infos),
                nodes=tuple(nodes[(g + k) % len(nodes)] for k in range(replicas)),
                bytes=sum(shard_bytes(i) for i in infos),
                tokens=sum(i.tokens - i.documents for i in infos),
            )
        )
    common = sum(f.bytes for f in manifest.files.values())
    node_plans = []
    for name in nodes:
        held = [p for p in plans if name in p.nodes]
        infos = [manifest.shards[s] for p in held for s in p.shards]
        node_plans.append(
            NodePlan(
                name=name,
                resource=resource_of(name),
                groups=tuple(p.number for p in held),
                disk_bytes=common + sum(shard_bytes(i) for i in infos),
                memory_bytes=sum(shard_bytes(i, HOT_FILES) for i in infos)
                + len(held) * ACTOR_OVERHEAD_BYTES,
            )
        )
    return ClusterPlan(replicas=replicas, groups=tuple(plans), nodes=tuple(node_plans))
