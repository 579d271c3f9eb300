"""A Ray cluster of several node processes on this machine, for tests and benchmarks.

Each node is one `ray start --block` (the head first) in its own session, with one CPU,
a small object store and its own `corpustrace_node_<n>` resource, on 127.0.0.1 with
ports of its own. Killing a node's process group takes its raylet and workers down as a
machine failure would. Only the processes started here are ever signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from corpustrace.cluster.errors import ClusterError
from corpustrace.cluster.plan import resource_of

# Faster node-death detection than Ray's defaults (tens of seconds) so that a killed
# node's actors are reported dead within a few seconds.
FAST_HEALTH_CHECKS = {
    "RAY_health_check_initial_delay_ms": "1000",
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}


MARK = "CORPUSTRACE_LOCAL_RAY_NODE"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def ray_executable() -> str:
    found = Path(sys.executable).with_name("ray")
    if not found.exists():
        raise ClusterError(f"{found}: no ray command (install corpustrace[distributed])")
    return str(found)


class LocalCluster:
    """`with LocalCluster(2) as cluster:` ... `cluster.address`, `cluster.kill_node(1)`."""

    def __init__(
        self,
        nodes: int = 2,
        cpus: int = 1,
        object_store_bytes: int = 80 << 20,
        start_timeout_s: float = 120.0,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.count, self.cpus, self.store = nodes, cpus, object_store_bytes
        self.start_timeout_s = start_timeout_s
        self.env = {**os.environ, **FAST_HEALTH_CHECKS, **(extra_env or {})}
        self.env["RAY_USAGE_STATS_ENABLED"] = "0"
        self.dir = Path(tempfile.mkdtemp(prefix="ct-ray-", dir="/tmp"))  # short: socket paths
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def __enter__(self) -> LocalCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _command(self, node: int) -> list[str]:
        ports = {
            "--node-manager-port": free_port(),
            "--object-manager-port": free_port(),
            "--dashboard-agent-listen-port": free_port(),
            "--dashboard-agent-grpc-port": free_port(),
            "--runtime-env-agent-port": free_port(),
            "--metrics-export-port": free_port(),
        }
        cmd = [ray_executable(), "start", "--block", "--node-ip-address=127.0.0.1"]
        if node == 0:
            cmd += [
                "--head",
                f"--port={self.port}",
                "--include-dashboard=false",
                f"--dashboard-port={free_port()}",
                f"--temp-dir={self.dir}",
            ]
        else:
            cmd += [f"--address={self.address}"]
        cmd += [f"{k}={v}" for k, v in ports.items()]
        cmd += [
            f"--num-cpus={self.cpus}",
            f"--object-store-memory={self.store}",
            "--resources=" + json.dumps({resource_of(f"node-{node}"): 1}),
            "--disable-usage-stats",
        ]
        return cmd

    def start_node(self, node: int) -> None:
        log = (self.dir / f"node-{node}.log").open("ab")
        env = {**self.env, MARK: self._mark(node)}  # inherited by the node's workers
        self.procs[node] = subprocess.Popen(
            self._command(node),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )

    def start(self) -> None:
        self.start_node(0)
        self._wait_port()
        for node in range(1, self.count):
            self.start_node(node)

    def _wait_port(self) -> None:
        end = time.monotonic() + self.start_timeout_s
        while time.monotonic() < end:
            if self.procs[0].poll() is not None:
                raise ClusterError(f"the Ray head exited: see {self.dir / 'node-0.log'}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.3)
        raise ClusterError(f"the Ray head did not listen within {self.start_timeout_s:g} s")

    def wait_nodes(self, count: int | None = None) -> None:
        """Until `count` (default: all) corpustrace nodes are alive (needs ray.init)."""
        import ray

        want = self.count if count is None else count
        end = time.monotonic() + self.start_timeout_s
        while time.monotonic() < end:
            alive = [
                n
                for n in ray.nodes()  # type: ignore[no-untyped-call]
                if n.get("Alive") and any(k.startswith("corpustrace_node_") for k in n["Resources"])
            ]
            if len(alive) >= want:
                return
            time.sleep(0.5)
        raise ClusterError(f"fewer than {want} Ray nodes came up in {self.start_timeout_s:g} s")

    def _mark(self, node: int) -> str:
        return f"{self.dir}:{node}"

    def kill_node(self, node: int) -> None:
        """SIGKILL every process of one node: its raylet and agents (its process group)
        and its workers and actors (which Ray puts in sessions of their own, found by the
        variable this node was started with)."""
        proc = self.procs.pop(node)
        _killpg(proc, signal.SIGKILL)
        _kill_marked(MARK, self._mark(node))

    def stop(self) -> None:
        """Stop the worker nodes, then the head: every process started here."""
        for node in sorted(self.procs, reverse=True):
            _killpg(self.procs[node], signal.SIGTERM)
        end = time.monotonic() + 10
        for node in sorted(self.procs, reverse=True):
            proc = self.procs.pop(node)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, end - time.monotonic()))
            _killpg(proc, signal.SIGKILL)
        for node in range(self.count):
            _kill_marked(MARK, self._mark(node))
        shutil.rmtree(self.dir, ignore_errors=True)


def _kill_marked(name: str, value: str) -> None:
    """SIGKILL the processes whose environment has name=value (our own, by construction)."""
    want = f"{name}={value}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if want in (entry / "environ").read_bytes().split(b"\0"):
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue


def _killpg(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)  # the session leader's pid is its process group id
    if sig == signal.SIGKILL:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
