"""POST /api/influence and /api/info with a feature store; the service without one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import influencetools
from corpustrace.server import Settings, create_app
from influencetools import World


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return influencetools.world(tmp_path_factory)


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    settings = Settings(index=world.index, influence=world.store, max_influence_k=5)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def test_influence_returns_proponents_and_opponents(client: TestClient) -> None:
    body = {"prompt": "Tell me about the mill", "response": "The mill was built by weavers.",
            "k": 3, "opponents": True}  # fmt: skip
    r = client.post("/api/influence", json=body)
    assert r.status_code == 200, r.text
    data = r.json()
    assert len(data["proponents"]) == 3 and len(data["opponents"]) == 3
    assert data["response"] == body["response"] and data["note"] is None
    for e in data["proponents"] + data["opponents"]:
        assert -1 <= e["score"] <= 1
        assert e["context"][e["char_start"] : e["char_end"]] == e["text"]
        doc = client.get(f"/api/documents/{e['doc']}").json()
        assert e["text"] in doc["text"]
    assert (
        client.post("/api/influence", json={"response": "river", "k": 2}).json()["opponents"] == []
    )


def test_influence_requests_are_bounded_and_validated(client: TestClient) -> None:
    r = client.post("/api/influence", json={"response": "mill", "k": 6})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    assert client.post("/api/influence", json={"response": ""}).status_code == 422
    assert client.post("/api/influence", json={"response": "x", "kk": 1}).status_code == 422
    assert client.post("/api/influence", json={"response": "x", "k": 0}).status_code == 422
    r = client.post("/api/influence", json={"response": "x" * 20_001})
    assert r.status_code == 413


def test_info_and_openapi_describe_influence(client: TestClient) -> None:
    info = client.get("/api/info").json()["influence"]
    assert info["examples"] > 0 and info["v_source"] == "own" and info["trained_on_index"]
    schema = client.get("/openapi.json").json()
    assert (
        "/api/influence" in schema["paths"]
        and "InfluenceResponse" in schema["components"]["schemas"]
    )


def test_without_a_store_influence_is_off(world: World) -> None:
    with TestClient(create_app(Settings(index=world.index)), raise_server_exceptions=False) as c:
        assert c.get("/api/info").json()["influence"] is None
        r = c.post("/api/influence", json={"response": "mill"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "influence_unavailable"
        assert c.get("/trace").status_code == 200


def test_a_store_of_another_index_stops_the_server(world: World, index_dir: Path) -> None:
    from corpustrace.influence.errors import StoreMismatch

    app = create_app(Settings(index=index_dir, influence=world.store))
    with pytest.raises(StoreMismatch), TestClient(app):
        pass
