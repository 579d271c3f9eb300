"""Load a local causal LM for influence, hash it, and check that it reads the index's token
ids: chunks come from the index's token stream, so model and index must share the
vocabulary (same tokens, same ids). Nothing is fetched from a hub."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from corpustrace.index import format as fmt
from corpustrace.index.reader import Index
from corpustrace.influence import require_torch
from corpustrace.influence.errors import InfluenceError, StoreMismatch
from corpustrace.influence.second_moment import TRAIN_STATE_FILE

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")


@dataclass
class LoadedModel:
    model: torch.nn.Module
    path: Path
    gguf_file: str | None
    hash: str
    vocab: dict[str, int] | None
    train_state: dict[str, Any] | None  # corpustrace-train.json when trained by us

    @property
    def context(self) -> int:
        config: Any = self.model.config
        return int(getattr(config, "n_positions", None) or config.max_position_embeddings)


def model_hash(path: Path, gguf_file: str | None = None) -> str:
    """SHA-256 over the config and weight files of a model directory (or its GGUF file)."""
    digest = hashlib.sha256()
    if gguf_file:
        files = [path / gguf_file]
    else:
        files = sorted(
            f for f in path.iterdir() if f.name == "config.json" or f.suffix in WEIGHT_SUFFIXES
        )
        files = [f for f in files if f.name != "optimizer.pt"]
    for f in files:
        digest.update(f.name.encode() + b"\0" + fmt.sha256_file(f).encode())
    return digest.hexdigest()


def index_fingerprint(index_path: Path) -> str:
    """SHA-256 of the index's manifest.json: it names every file's hash."""
    return fmt.sha256_file(Path(index_path) / fmt.MANIFEST)


def load_model(path: str | Path, gguf_file: str | None = None) -> LoadedModel:
    _, transformers = require_torch()
    path = Path(path).expanduser()
    if gguf_file is None and path.suffix == ".gguf":
        path, gguf_file = path.parent, path.name
    if not path.is_dir():
        raise InfluenceError(f"{path}: no such model directory")
    kwargs: dict[str, Any] = {"local_files_only": True}
    if gguf_file:
        kwargs["gguf_file"] = gguf_file
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
    except Exception as exc:  # transformers raises many types for a bad model
        raise InfluenceError(
            f"{path}: cannot load the model ({type(exc).__name__}: {exc})"
        ) from exc
    model.float().eval()
    state_file = path / TRAIN_STATE_FILE
    train_state = json.loads(state_file.read_text()) if state_file.is_file() else None
    return LoadedModel(
        model,
        path,
        gguf_file,
        model_hash(path, gguf_file),
        model_vocab(path, gguf_file),
        train_state,
    )


def model_vocab(path: Path, gguf_file: str | None) -> dict[str, int] | None:
    """The model's token -> id map, from its tokenizer.json or (GGUF) transformers."""
    if (path / "tokenizer.json").is_file() and not gguf_file:
        import tokenizers

        vocab: dict[str, int] = tokenizers.Tokenizer.from_file(
            str(path / "tokenizer.json")
        ).get_vocab()
        return vocab
    try:
        _, transformers = require_torch()
        kwargs: dict[str, Any] = {"local_files_only": True}
        if gguf_file:
            kwargs["gguf_file"] = gguf_file
        tok = transformers.AutoTokenizer.from_pretrained(str(path), **kwargs)
        got: dict[str, int] = dict(tok.get_vocab())
        return got
    except Exception:  # no tokenizer in the directory: only the size check is possible
        return None


def check_tokenizer(index: Index, loaded: LoadedModel) -> None:
    """Refuse a model whose vocabulary differs from the index's (a clear error)."""
    index_vocab = index.tokenizer.hf.get_vocab()
    model: Any = loaded.model
    rows = int(model.get_input_embeddings().weight.shape[0])
    if rows < index.tokenizer.vocab_size:
        raise StoreMismatch(
            f"model {loaded.path} has {rows} token embeddings, the index's tokenizer "
            f"{index.tokenizer.vocab_size} tokens: the model does not read this index's ids"
        )
    if loaded.vocab is not None and loaded.vocab != index_vocab:
        differ = sum(1 for t, i in index_vocab.items() if loaded.vocab.get(t) != i)
        raise StoreMismatch(
            f"model {loaded.path}: its tokenizer differs from the index's ({differ} of "
            f"{len(index_vocab)} tokens have another id or are missing); influence reads "
            "chunks as the index's token ids, so the model must use the index's tokenizer"
        )
