"""A real Ray cluster on this machine for the cluster tests: a head and one more node
process on 127.0.0.1 (one CPU each, a small object store, a corpustrace_node_<n>
resource each), started once for the module and stopped at its end."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

pytest.importorskip("ray")

from corpustrace.cluster.local import LocalCluster


@pytest.fixture(autouse=True)
def _no_env_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CORPUSTRACE_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    import ray

    from corpustrace.cluster.ray_engine import connect

    with LocalCluster(nodes=2, cpus=1, object_store_bytes=80 << 20) as local:
        connect(local.address, wait_s=120)
        local.wait_nodes()
        try:
            yield local
        finally:
            ray.shutdown()
