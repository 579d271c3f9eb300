"""`corpustrace cluster plan`: groups balanced by bytes, replicas on distinct nodes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import clustertools
from corpustrace.cli import main
from corpustrace.index.format import Manifest


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clustertools.build(tmp_path_factory.mktemp("plan") / "index")


def test_plan_places_every_shard_on_distinct_nodes(
    index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cluster", "plan", str(index), "--nodes", "3", "--replicas", "2", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    manifest = Manifest.load(index)
    held = sorted(s for g in plan["groups"] for s in g["shards"])
    assert held == list(range(len(manifest.shards)))  # each shard in exactly one group
    for group in plan["groups"]:
        assert len(set(group["nodes"])) == 2
    sizes = [g["bytes"] for g in plan["groups"]]
    biggest = max(sum(f.bytes for f in s.files.values()) for s in manifest.shards)
    assert max(sizes) - min(sizes) <= biggest  # balanced to within one shard
    need = {n["name"]: n["disk_bytes"] for n in plan["nodes"]}
    assert set(need) == {"node-0", "node-1", "node-2"} and all(v > 0 for v in need.values())


def test_plan_text_and_bad_requests(index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cluster", "plan", str(index), "--nodes", "2"]) == 0
    out = capsys.readouterr().out
    assert "corpustrace_node_0" in out and "group 1" in out
    assert main(["cluster", "plan", str(index), "--nodes", "2", "--replicas", "3"]) == 1
    assert "3 replicas need as many nodes" in capsys.readouterr().err
    assert main(["cluster", "plan", str(index), "--nodes", "0"]) == 1
