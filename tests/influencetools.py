"""The influence tests' world, built once per test process: the fixture corpus indexed with
a small BPE, a tiny GPT-2 trained on that index (with its AdamW state), and a feature store.
Every test directory gets it through its own session fixture (`world(tmp_path_factory)`)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import pytest

import servertools
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


def bpe_tokenizer() -> Tokenizer:
    """The tests' small BPE (tests/conftest.py), loaded by path: `import conftest` would
    find the conftest of whichever test directory came first."""
    spec = importlib.util.spec_from_file_location(
        "_root_conftest", Path(__file__).parent / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Tokenizer(module.train_bpe(module.fixture_text()), "test-bpe")


def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    if "w" in _WORLD:
        return _WORLD["w"]
    from corpustrace.influence.build import InfluenceBuildOptions, build_store
    from corpustrace.influence.train import TrainOptions, train

    root = tmp_path_factory.mktemp("influence-world")
    tok = bpe_tokenizer()
    index = servertools.build_index(root / "index", tok, servertools.corpus())
    train(TrainOptions(index=index, out=root / "model", lr=1e-2, quiet=True, **TRAIN))  # type: ignore[arg-type]
    store = root / "store"
    build_store(
        InfluenceBuildOptions(index=index, model=root / "model", out=store, quiet=True, **BUILD)
    )  # type: ignore[arg-type]
    _WORLD["w"] = World(root, index, root / "model", store)
    return _WORLD["w"]
