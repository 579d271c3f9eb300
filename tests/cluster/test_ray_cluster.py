"""The Ray engine on a real two-node local cluster: the distributed build equals the
local build, answers equal the local engine's field for field, /api/health and
/api/info report the cluster, a killed node fails over to the replicas, and a shard
group without replicas gives 503 naming its shards. The tests run in order: the
last ones kill node 1."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

import clustertools
from corpustrace.cluster.build import build_on_ray
from corpustrace.cluster.errors import ShardsUnavailable
from corpustrace.cluster.local import LocalCluster
from corpustrace.cluster.ray_engine import RayEngine
from corpustrace.engine import Engine
from corpustrace.index.builder import BuildOptions, build
from corpustrace.server import Settings, create_app
from corpustrace.trace import TraceParams, trace

BODY = {"response": clustertools.RESPONSES[0], "prompt": "the prompt"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test corpus as four JSONL files (partitions of the distributed build)."""
    import json

    folder = tmp_path_factory.mktemp("ray-inputs")
    texts = clustertools.texts()
    for k in range(4):
        with (folder / f"part-{k}.jsonl").open("w") as fh:
            for i, text in enumerate(texts[k::4]):
                fh.write(json.dumps({"text": text, "id": f"{k}-{i}"}) + "\n")
    return folder


@pytest.fixture(scope="module")
def ray_index(
    cluster: LocalCluster, inputs: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("ray-built") / "index"
    opts = BuildOptions([str(inputs)], out, tokenizer="bytes", shard_tokens=5000, quiet=True)
    result = build_on_ray(opts, cluster.address, partitions=3, task_cpus=0.5)
    assert result.shards_written >= 3
    return out


@pytest.fixture(scope="module")
def local_index(inputs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("local-built") / "index"
    build(BuildOptions([str(inputs)], out, tokenizer="bytes", shard_tokens=5000, quiet=True))
    return out


@pytest.fixture(scope="module")
def local(ray_index: Path) -> Iterator[Engine]:
    """The local engine over the index the cluster serves (the same shards)."""
    with Engine.open(ray_index, threads=1) as engine:
        yield engine


def settings(index: Path, cluster: LocalCluster, replicas: int) -> Settings:
    return Settings(
        index=index,
        ray_address=cluster.address,
        ray_replicas=replicas,
        ray_actor_cpus=0.2,
        ray_call_timeout_s=5.0,
        cache_size=0,
    )


@pytest.fixture(scope="module")
def app2(ray_index: Path, cluster: LocalCluster) -> Iterator[TestClient]:
    """The app served over Ray with every shard group on both nodes."""
    with TestClient(create_app(settings(ray_index, cluster, 2))) as client:
        yield client


@pytest.fixture(scope="module")
def app1(ray_index: Path, cluster: LocalCluster, app2: TestClient) -> Iterator[TestClient]:
    """The same with one replica per group: group 1 lives on node 1 only."""
    with TestClient(create_app(settings(ray_index, cluster, 1))) as client:
        yield client


def ray_engine(client: TestClient) -> RayEngine:
    engine = client.app.state.corpustrace.engine  # type: ignore[attr-defined]
    assert isinstance(engine, RayEngine)
    return engine


def test_distributed_build_equals_the_local_build(
    ray_index: Path, local_index: Path, cluster: LocalCluster, inputs: Path
) -> None:
    """Same documents in the same order, same counts and spans (shard cuts may differ)."""
    spans_only = TraceParams(max_documents_per_span=0)
    with Engine.open(ray_index, threads=1) as built, Engine.open(local_index) as local:
        assert built.index.total_tokens == local.index.total_tokens
        assert built.index.total_documents == local.index.total_documents
        assert np.array_equal(built.index.unigram, local.index.unigram)
        for doc in range(0, local.index.total_documents, 7):
            a, b = local.document(doc), built.document(doc)
            assert a.tokens.tolist() == b.tokens.tolist() and a.meta == b.meta
        grams = clustertools.ngrams(local, random.Random(3), 60)
        assert local.count_many(grams).tolist() == built.count_many(grams).tolist()
        for response in clustertools.RESPONSES:
            a_spans = trace(local, response, params=spans_only).to_dict()["spans"]
            assert a_spans == trace(built, response, params=spans_only).to_dict()["spans"]
    # Run again: finished, nothing rebuilt.
    opts = BuildOptions([str(inputs)], ray_index, tokenizer="bytes", shard_tokens=5000)
    assert build_on_ray(opts, cluster.address, partitions=3).already_complete


def test_ray_engine_answers_like_the_local_engine(app2: TestClient, local: Engine) -> None:
    engine = ray_engine(app2)
    assert clustertools.compare(local, engine, seed=11, count=16) > 100
    clustertools.compare_traces(local, engine, TraceParams())


def test_api_over_ray_equals_the_local_api(app2: TestClient, ray_index: Path) -> None:
    with TestClient(create_app(Settings(index=ray_index, cache_size=0))) as plain:
        a = plain.post("/api/trace", json=BODY).json()
        for path in ("/api/count", "/api/ntd"):
            body = {"query": "the mill"} if path.endswith("count") else {"prompt": "the mi"}
            assert app2.post(path, json=body).json() == plain.post(path, json=body).json()
    b = app2.post("/api/trace", json=BODY).json()
    for result in (a, b):
        result.pop("timings_ms")
    assert a == b


def test_health_and_info_report_the_cluster(app2: TestClient, app1: TestClient) -> None:
    health = app2.get("/api/health").json()["cluster"]
    assert health["kind"] == "ray" and health["shards_missing"] == []
    assert [g["replicas_alive"] for g in health["groups"]] == [2, 2]
    info = app1.get("/api/info").json()
    assert info["cluster"]["replication"] == 1
    assert sorted(n for g in info["cluster"]["groups"] for n in g["shards"]) == [
        s["name"] for s in info["shards"]
    ]


def test_killing_a_node_fails_over_to_the_replicas(
    app2: TestClient, app1: TestClient, local: Engine, cluster: LocalCluster
) -> None:
    engine1 = ray_engine(app1)  # opened before the kill
    expected = app2.post("/api/trace", json=BODY).json()
    expected.pop("timings_ms")
    cluster.kill_node(1)
    # Calls go to the replicas in turn: within a few traces each group has sent one to
    # its replica on node 1, found it dead and answered from node 0.
    seconds = []
    for _ in range(4):
        began = time.monotonic()
        after = app2.post("/api/trace", json=BODY)
        seconds.append(time.monotonic() - began)
        assert after.status_code == 200, after.text
        got = after.json()
        got.pop("timings_ms")
        assert got == expected
    caller = ray_engine(app2).caller
    down = [r.node for g in caller.replicas for r in g if r.down_since is not None]  # type: ignore[attr-defined]
    assert down and set(down) == {"node-1"}, "no call failed over"
    print(f"failover: traces after killing node 1 took {', '.join(f'{s:.2f}' for s in seconds)} s")
    clustertools.compare_traces(local, ray_engine(app2), TraceParams())
    health = app2.get("/api/health").json()["cluster"]
    assert health["shards_missing"] == []
    assert [g["replicas_alive"] for g in health["groups"]] == [1, 1]
    assert engine1 is ray_engine(app1)


def test_no_replica_left_is_a_503_naming_the_shards(app1: TestClient) -> None:
    group1 = ray_engine(app1).caller.status()["groups"][1]  # type: ignore[attr-defined]
    lost = group1["shards"]
    assert group1["nodes"] == ["node-1"] and group1["replicas_alive"] == 0
    response = app1.post("/api/trace", json=BODY)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "shards_unavailable"
    assert all(name in error["message"] for name in lost)
    with pytest.raises(ShardsUnavailable) as caught:
        ray_engine(app1).count([ord("t"), ord("h")])
    assert caught.value.shards == sorted(lost)
    assert app1.get("/api/health").json()["cluster"]["shards_missing"] == lost
    # A document of a group still served answers; one of the lost group does not.
    assert app1.get("/api/documents/0").status_code in (200, 503)
