"""Where V comes from (own state, a Trainer's optimizer.pt, an estimate, none), external
models, the demo's preparation, and a clear error without torch."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

import influencetools
from corpustrace.influence import require_torch
from corpustrace.influence import store as st
from corpustrace.influence.build import InfluenceBuildOptions, build_store
from corpustrace.influence.errors import InfluenceError, InfluenceUnavailable
from corpustrace.influence.query import InfluenceIndex
from corpustrace.influence.second_moment import TRAIN_STATE_FILE
from influencetools import World

SMALL = {"dim": 64, "hessian_samples": 30, "quiet": True}


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return influencetools.world(tmp_path_factory)


@pytest.mark.parametrize("source", ["estimate", "none"])
def test_estimate_and_none(world: World, tmp_path: Path, source: str) -> None:
    out = tmp_path / source
    r = build_store(InfluenceBuildOptions(world.index, world.model, out, v_source=source, **SMALL))  # type: ignore[arg-type]
    assert r.manifest["v_source"] == source
    assert (st.load_scales(out / st.CORRECTION) == {}) == (source == "none")
    assert InfluenceIndex(out).query("", "the mill", k=2).proponents


def test_a_trainer_checkpoint_is_an_external_model(world: World, tmp_path: Path) -> None:
    model = tmp_path / "checkpoint"
    shutil.copytree(world.model, model)
    (model / TRAIN_STATE_FILE).unlink()  # what a Hugging Face Trainer checkpoint holds
    out = tmp_path / "store"
    r = build_store(InfluenceBuildOptions(world.index, model, out, **SMALL))  # type: ignore[arg-type]
    assert r.manifest["v_source"] == "hf" and not r.manifest["model"]["trained_on_index"]
    answer = InfluenceIndex(out).query("", "the river", k=1)
    assert answer.note and "not trained" in answer.note
    with pytest.raises(InfluenceError, match="no optimizer state"):
        build_store(
            InfluenceBuildOptions(world.index, model, tmp_path / "x", v_source="own", **SMALL)
        )  # type: ignore[arg-type]
    with pytest.raises(InfluenceError, match="v_source"):
        build_store(
            InfluenceBuildOptions(world.index, model, tmp_path / "y", v_source="adam", **SMALL)
        )  # type: ignore[arg-type]


def test_bad_build_inputs(world: World, tmp_path: Path) -> None:
    with pytest.raises(InfluenceError, match="context"):
        build_store(
            InfluenceBuildOptions(
                world.index, world.model, tmp_path / "a", chunk_tokens=999, **SMALL
            )
        )  # type: ignore[arg-type]
    with pytest.raises(InfluenceError, match="no such model"):
        build_store(InfluenceBuildOptions(world.index, tmp_path / "none", tmp_path / "b", **SMALL))  # type: ignore[arg-type]
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "f").write_text("x")
    with pytest.raises(InfluenceError, match="not an influence store"):
        build_store(InfluenceBuildOptions(world.index, world.model, tmp_path / "c", **SMALL))  # type: ignore[arg-type]


def test_demo_preparation_trains_builds_and_reuses(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from corpustrace import demo_influence as di

    monkeypatch.setattr(di, "TRAIN", {**influencetools.TRAIN, "epochs": 1.0})
    monkeypatch.setattr(di, "BUILD", {"dim": 64, "hessian_samples": 20, "batch_size": 8})
    store = di.prepare_demo_influence(tmp_path, world.index)
    assert store is not None and (store / st.MANIFEST).is_file()
    manifest = json.loads((store / st.MANIFEST).read_text())
    assert manifest["model"]["trained_on_index"] and manifest["max_documents"] == di.DEMO_DOCUMENTS
    stamp = (store / st.MANIFEST).stat().st_mtime_ns
    assert di.prepare_demo_influence(tmp_path, world.index) == store
    assert (store / st.MANIFEST).stat().st_mtime_ns == stamp  # reused, not rebuilt


def test_without_torch_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(InfluenceUnavailable, match=r"corpustrace\[influence\]"):
        require_torch()
    from corpustrace.demo_influence import prepare_demo_influence

    assert prepare_demo_influence(Path("/nonexistent"), Path("/nonexistent")) is None
