"""`corpustrace train` and `corpustrace influence build | query | verify` from the shell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

import influencetools
from corpustrace.cli import main
from influencetools import World


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return influencetools.world(tmp_path_factory)


def test_train_build_query_verify(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, store = tmp_path / "model", tmp_path / "store"
    args = ["train", str(world.index), "--out", str(model), "--layers", "1", "--width", "16",
            "--heads", "2", "--context", "24", "--epochs", "1", "--quiet"]  # fmt: skip
    assert main(args) == 0
    assert "parameters" in capsys.readouterr().out
    assert (model / "optimizer.pt").is_file() and (model / "tokenizer.json").is_file()
    build = ["influence", "build", str(world.index), "--model", str(model), "--out", str(store),
             "--dim", "64", "--hessian-samples", "50", "--quiet"]  # fmt: skip
    assert main(build) == 0
    out = capsys.readouterr().out
    assert "examples/s" in out and "V from own" in out
    assert main(build) == 0 and "already complete" in capsys.readouterr().out
    assert main(["influence", "verify", str(store)]) == 0
    assert "intact" in capsys.readouterr().out

    query = ["influence", "query", str(store), "--prompt", "About the mill",
             "--response", "The mill was built by weavers.", "-k", "2", "--opponents"]  # fmt: skip
    assert main(query) == 0
    text = capsys.readouterr().out
    assert "proponents:" in text and "opponents:" in text and "tokens" in text
    assert main([*query, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    first = data["proponents"][0]
    assert {"doc", "shard", "doc_local", "token_start", "token_end", "meta", "score"} <= set(first)
    assert first["meta"]["id"].startswith(("sample-", "markup"))
    assert -1 <= first["score"] <= 1 and len(data["opponents"]) == 2


def test_batch_query_mixes_the_hessian(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = tmp_path / "queries.jsonl"
    lines = [{"prompt": "", "response": "The mill was built"}, {"response": "The river begins"}]
    batch.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    assert (
        main(["influence", "query", str(world.store), "--batch", str(batch), "--json", "-k", "1"])
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert len(data) == 2 and 0 < data[0]["hessian_lambda"] < 1


def test_errors_are_exit_codes(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["influence", "query", str(tmp_path), "--response", "x"]) == 1
    assert "not a finished influence store" in capsys.readouterr().err
    assert main(["influence", "query", str(world.store)]) == 1
    assert "--response" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "no response"}\n')
    assert main(["influence", "query", str(world.store), "--batch", str(bad)]) == 1
    assert main(["influence", "query", str(world.store), "--response", "x", "-k", "0"]) == 1
    assert main(["influence", "verify", str(tmp_path)]) == 1
    args = ["influence", "build", str(world.index), "--model", str(world.model), "--out",
            str(tmp_path / "s"), "--v-floor", "lots"]  # fmt: skip
    assert main(args) == 1
    assert "--v-floor" in capsys.readouterr().err
