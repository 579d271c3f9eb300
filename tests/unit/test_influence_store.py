"""The feature store end to end on a tiny model trained here: self-retrieval, score range,
determinism, the manifest, verify, resume after a kill, and refused pairings."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

import influencetools
from corpustrace.influence import store as st
from corpustrace.influence.build import InfluenceBuildOptions, build_store
from corpustrace.influence.errors import InfluenceError, StoreMismatch
from corpustrace.influence.examples import chunk_tokens_of
from corpustrace.influence.query import InfluenceIndex
from influencetools import BUILD, World


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return influencetools.world(tmp_path_factory)


@pytest.fixture(scope="module")
def influence(world: World) -> InfluenceIndex:
    return InfluenceIndex(world.store)


def all_features(path: Path) -> np.ndarray:
    return np.concatenate(
        [np.asarray(s, dtype=np.float32) for s in st.FeatureStore.open(path).shards]
    )


def test_every_example_retrieves_itself_at_rank_one(influence: InfluenceIndex) -> None:
    chunks = influence.store.chunks
    seqs = [chunk_tokens_of(influence.index, row) for row in chunks]
    masks = [np.ones(len(s), dtype=np.int64) for s in seqs]
    results = influence.score_tokens(seqs, masks, k=3, opponents=True, mix_eval=False)
    assert [r.proponents[0].example for r in results] == list(range(len(chunks)))
    for r in results:
        scores = [e.score for e in r.proponents + r.opponents]
        assert all(-1.0 <= s <= 1.0 for s in scores)
        assert scores[:3] == sorted(scores[:3], reverse=True)
        assert r.opponents[0].score <= r.opponents[-1].score


def test_a_query_maps_back_to_documents_and_token_ranges(influence: InfluenceIndex) -> None:
    r = influence.query(
        "Tell me about the mill", "The mill was built by weavers.", k=4, opponents=True
    )
    assert len(r.proponents) == 4 and len(r.opponents) == 4
    assert r.note is None and r.hessian_lambda == 0.0 and r.damping > 0
    for e in r.proponents:
        shard = influence.index.shards[e.shard]
        start, _ = shard.doc_span(e.doc_local)
        ids = np.asarray(shard.tokens[start + e.token_start : start + e.token_end])
        assert e.text == influence.index.tokenizer.decode(ids)
        assert e.context[e.char_start : e.char_end] == e.text
        assert e.meta == shard.doc_meta(e.doc_local)
    again = influence.query("Tell me about the mill", "The mill was built by weavers.", k=4)
    assert [e.score for e in again.proponents] == [e.score for e in r.proponents]


def test_batch_mixes_its_own_hessian(influence: InfluenceIndex) -> None:
    pairs = [("", "The mill was built"), ("", "The river begins high"), ("q", "melt water")]
    results = influence.query_batch(pairs, k=3, opponents=True)
    lam = results[0].hessian_lambda
    assert 0.0 < lam < 1.0 and all(r.hessian_lambda == lam for r in results)
    assert all(-1 <= e.score <= 1 for r in results for e in r.proponents + r.opponents)
    assert [r.response for r in results] == [p[1] for p in pairs]


def test_long_queries_are_cut_to_the_context_and_say_so(influence: InfluenceIndex) -> None:
    r = influence.query("a long prompt " * 20, "the mill and the river " * 20, k=1)
    assert r.tokens == influence.context
    assert "only the first 32 tokens of the response" in (r.note or "")
    assert "the prompt was left out" in (r.note or "")
    r = influence.query("a long prompt " * 20, "mill", k=1)
    assert "only the last" in (r.note or "") and "response" not in (r.note or "")
    with pytest.raises(Exception, match="empty"):
        influence.query("x", "", k=1)


def test_manifest_names_everything_a_store_depends_on(world: World) -> None:
    m = json.loads((world.store / st.MANIFEST).read_text())
    assert m["store_version"] == st.STORE_VERSION and m["corpustrace_version"]
    assert m["v_source"] == "own" and m["v_floor"] == "mean" and m["lambda"] == 0.0
    assert m["damping"] > 0 and m["delta"] == 0.1 and m["seed"] == 0
    assert m["model"]["hash"] and m["model"]["trained_on_index"] is True
    assert m["dim"] <= 256 and len(m["blocks"]) >= 4
    assert sum(s["rows"] for s in m["shards"]) == m["examples"] > 16
    assert st.verify_store(world.store) == []


def test_same_seed_same_features_and_verify_finds_damage(world: World, tmp_path: Path) -> None:
    again = tmp_path / "again"
    r = build_store(InfluenceBuildOptions(world.index, world.model, again, quiet=True, **BUILD))  # type: ignore[arg-type]
    np.testing.assert_array_equal(all_features(again), all_features(world.store))
    assert build_store(
        InfluenceBuildOptions(world.index, world.model, again, quiet=True)
    ).already_complete
    assert r.rate > 0
    other = tmp_path / "other-seed"
    build_store(InfluenceBuildOptions(world.index, world.model, other, seed=5, quiet=True, **BUILD))  # type: ignore[arg-type]
    assert not np.allclose(all_features(other), all_features(world.store))
    file = again / "shard-00000" / st.FEATURES
    data = bytearray(file.read_bytes())
    data[10] ^= 0xFF
    file.write_bytes(bytes(data))
    assert any("SHA-256" in p for p in st.verify_store(again))
    (again / "shard-00001" / st.FEATURES).unlink()
    assert st.verify_store(again)


def test_a_killed_build_resumes(world: World, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    command = [
        sys.executable, "-m", "corpustrace.cli", "influence", "build", str(world.index),
        "--model", str(world.model), "--out", str(out), "--dim", "256",
        "--hessian-samples", "200", "--shard-examples", "4", "--batch-size", "2", "--quiet",
    ]  # fmt: skip
    proc = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while not (out / "shard-00001" / st.SHARD_INFO).is_file():
        assert proc.poll() is None, "the build ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / st.MANIFEST).is_file()
    opts = InfluenceBuildOptions(
        world.index, world.model, out, dim=256, hessian_samples=200, shard_examples=4,
        batch_size=2, quiet=True,
    )  # fmt: skip
    result = build_store(opts)
    assert result.shards_resumed >= 2 and result.computed < result.examples
    assert st.verify_store(out) == []
    np.testing.assert_allclose(all_features(out), all_features(world.store), atol=2e-3)
    with pytest.raises(InfluenceError, match="other parameters"):
        shutil.rmtree(out / "shard-00000")
        (out / st.MANIFEST).unlink()
        build_store(InfluenceBuildOptions(world.index, world.model, out, dim=128, quiet=True))


def test_refuses_another_model_index_or_tokenizer(world: World, tmp_path: Path) -> None:
    import servertools
    from corpustrace.tokenizer_load import load_tokenizer

    byte_index = servertools.build_index(
        tmp_path / "bytes", load_tokenizer("bytes"), servertools.corpus()
    )
    with pytest.raises(StoreMismatch, match="tokenizer differs"):
        build_store(InfluenceBuildOptions(byte_index, world.model, tmp_path / "s", quiet=True))
    with pytest.raises(StoreMismatch, match="another index"):
        InfluenceIndex(world.store, InfluenceIndex(world.store).index.__class__.open(byte_index))
    model = tmp_path / "model"
    shutil.copytree(world.model, model)
    store = tmp_path / "store"
    shutil.copytree(world.store, store)
    manifest = json.loads((store / st.MANIFEST).read_text())
    manifest["model"]["path"] = str(model)
    (store / st.MANIFEST).write_text(json.dumps(manifest))
    InfluenceIndex(store)  # the same weights elsewhere: fine
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "layer_norm_epsilon": 1e-4}))
    with pytest.raises(StoreMismatch, match="another model"):
        InfluenceIndex(store)
    with pytest.raises(InfluenceError, match="not a finished"):
        st.FeatureStore.open(tmp_path)
