"""`corpustrace cluster plan`, and the Ray side of `build --ray` (docs/scale.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from corpustrace.cli_common import SubParsers, print_json


def add_cluster_commands(sub: SubParsers) -> None:
    p = sub.add_parser("cluster", help="lay an index out over a Ray cluster")
    commands = p.add_subparsers(dest="cluster_command", required=True, metavar="COMMAND")
    plan = commands.add_parser("plan", help="which shards go to which node, and what each needs")
    plan.add_argument("index", type=Path)
    plan.add_argument("--nodes", type=int, required=True, help="Ray nodes that hold shards")
    plan.add_argument("--replicas", type=int, default=1, help="copies of each shard group")
    plan.add_argument("--groups", type=int, help="shard groups (default: one per node)")
    plan.add_argument("--json", action="store_true")
    plan.set_defaults(handler=run_plan)


def run_plan(args: argparse.Namespace) -> int:
    from corpustrace.cluster.errors import ClusterError
    from corpustrace.cluster.plan import node_names, plan_cluster
    from corpustrace.index.format import Manifest

    if args.nodes < 1:
        raise ClusterError("--nodes must be at least 1")
    layout = plan_cluster(
        Manifest.load(args.index), node_names(args.nodes), args.replicas, args.groups
    )
    if args.json:
        print_json(layout.to_dict())
    else:
        print(layout.text())
        print("start node n with: ray start ... --resources '{\"corpustrace_node_<n>\": 1}'")
    return 0


def ray_build(opts: Any, address: str) -> Any:
    """build_on_ray, with a clear error when the distributed extra is missing."""
    from corpustrace.cluster.errors import ClusterError

    try:
        from corpustrace.cluster.build import build_on_ray
    except ImportError as exc:
        raise ClusterError(
            f"--ray needs the distributed extra (pip install 'corpustrace[distributed]'): {exc}"
        ) from exc
    return build_on_ray(opts, address)
