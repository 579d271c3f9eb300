"""An evaluation corpus as an index: a BPE trained on its text, the suffix arrays and the
lexical part, built in a directory of the caller's (nothing is downloaded)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpustrace.index.writer import build_from_tokens
from corpustrace.lexical import build_lexical
from corpustrace.tokenizer_load import load_tokenizer

VOCAB_SIZE = 4000


@dataclass(frozen=True)
class Doc:
    text: str
    meta: dict[str, Any]


def train_tokenizer(texts: Sequence[str], path: Path, vocab_size: int = VOCAB_SIZE) -> Path:
    """A GPT-2 style byte-level BPE trained on `texts`, saved as tokenizer.json."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<|endoftext|>"],
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(path))
    return path


def build_eval_index(docs: Sequence[Doc], directory: Path, lexical: bool = True) -> Path:
    """Index `docs` (document i is global index i) under `directory/index`."""
    texts = [d.text for d in docs]
    tokenizer = load_tokenizer(str(train_tokenizer(texts, directory / "tokenizer.json")))
    out = directory / "index"
    encoded = ((tokenizer.encode(d.text), {**d.meta, "text_chars": len(d.text)}) for d in docs)
    build_from_tokens(out, tokenizer, encoded, shard_tokens=1 << 26)
    if lexical:
        build_lexical(out)
    return out


def read_jsonl_corpus(path: Path, limit: int, seed: int = 0) -> list[Doc]:
    """Up to `limit` documents of a JSONL corpus (`text`, other fields as metadata), a
    seeded sample when it holds more."""
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            data = json.loads(line)
            text = data.pop("text", "")
            if isinstance(text, str) and text.strip():
                rows.append(Doc(text, data))
    if len(rows) > limit:
        rows = random.Random(seed).sample(rows, limit)
    return rows


def generated_corpus(count: int, seed: int) -> list[Doc]:
    """Encyclopedia-like documents of invented facts, for tests and when no real corpus is
    available: each a few sentences about a pseudo-named place or person."""
    from corpustrace.eval.synth import pseudo_word

    rng = random.Random(seed)
    kinds = ["village", "river", "painter", "composer", "mountain", "island", "physicist"]
    docs = []
    for i in range(count):
        name = f"{pseudo_word(rng, 2)} {pseudo_word(rng, 2)}"
        kind = rng.choice(kinds)
        sentences = list(_about(rng, name, kind))
        docs.append(Doc(" ".join(sentences), {"id": f"gen-{i}", "title": name}))
    return docs


def _about(rng: random.Random, name: str, kind: str) -> Iterator[str]:
    from corpustrace.eval.synth import pseudo_word

    place = pseudo_word(rng, 3)
    year = rng.randint(1200, 2020)
    yield f"{name} is a {kind} in the region of {place}."
    yield f"It was first recorded in {year} by the historian {pseudo_word(rng, 3)}."
    yield f"The {kind} is known for its {rng.choice(['bridges', 'songs', 'winters', 'markets'])}."
    if rng.random() < 0.7:
        yield f"In {year + rng.randint(1, 90)}, {name} was visited by {pseudo_word(rng, 2)}."
    if rng.random() < 0.5:
        yield f"Today about {rng.randint(100, 90000)} people live near {place}."
