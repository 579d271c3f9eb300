"""The influence tests' world, built once per test process: the fixture corpus indexed with
a small BPE, a tiny GPT-2 trained on that index (with its AdamW state), and a feature store.
Every test directory gets it through its own session fixture (`world(tmp_path_factory)`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

import servertools
from conftest import fixture_text, train_bpe
from corpustrace.tokenizer import Tokenizer

TRAIN = {"layers": 1, "width": 32, "heads": 2, "context": 32, "epochs": 6.0, "batch_size": 8}
BUILD = {"dim": 256, "hessian_samples": 200, "shard_examples": 16, "batch_size": 8}
_WORLD: dict[str, World] = {}


@dataclass(frozen=True)
class World:
    root: Path
    index: Path
    model: Path
    store: Path


def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    if "w" in _WORLD:
        return _WORLD["w"]
    from corpustrace.influence.build import InfluenceBuildOptions, build_store
    from corpustrace.influence.train import TrainOptions, train

    root = tmp_path_factory.mktemp("influence-world")
    tok = Tokenizer(train_bpe(fixture_text()), "test-bpe")
    index = servertools.build_index(root / "index", tok, servertools.corpus())
    train(TrainOptions(index=index, out=root / "model", lr=1e-2, quiet=True, **TRAIN))  # type: ignore[arg-type]
    store = root / "store"
    build_store(
        InfluenceBuildOptions(index=index, model=root / "model", out=store, quiet=True, **BUILD)
    )  # type: ignore[arg-type]
    _WORLD["w"] = World(root, index, root / "model", store)
    return _WORLD["w"]
