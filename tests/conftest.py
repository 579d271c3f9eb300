"""Shared fixtures: a tiny byte-level BPE trained on fixture text, so no test downloads."""

from __future__ import annotations

from pathlib import Path

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

DATA = Path(__file__).parent / "data"


def fixture_text() -> str:
    return (DATA / "sample.txt").read_text(encoding="utf-8")


def train_bpe(text: str, vocab_size: int = 400) -> Tokenizer:
    """A GPT-2 style byte-level BPE trained on `text` (all 256 bytes in the alphabet)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<|endoftext|>"],
        show_progress=False,
    )
    tok.train_from_iterator(text.splitlines(), trainer=trainer)
    return tok


@pytest.fixture(scope="session")
def sample_text() -> str:
    return fixture_text()


@pytest.fixture(scope="session")
def bpe_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a tokenizer.json for a small BPE trained on tests/data/sample.txt."""
    path = tmp_path_factory.mktemp("bpe") / "tokenizer.json"
    train_bpe(fixture_text()).save(str(path))
    return path
