"""Resolve a tokenizer spec (built-in name, file, directory, GGUF, cached name) offline."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import tokenizers
from tokenizers import decoders, models, pre_tokenizers

from corpustrace.errors import TokenizerError
from corpustrace.tokenizer import Tokenizer, bytes_to_unicode
from corpustrace.tokenizer_files import TOKENIZER_FILE, parse, tokenizer_json_in

BYTES = "bytes"


def load_tokenizer(spec: str | Path) -> Tokenizer:
    """Open a tokenizer without any network access.

    `spec` is `bytes` (UTF-8 bytes, ids 0..255), a `tokenizer.json` file (or an index's
    `tokenizer.json.zst`), a `.gguf` model file, a directory holding either of those
    (an index's `tokenizer/`), `vocab.json` + `merges.txt`
    or a SentencePiece model, or a model name already in the local Hugging Face cache.
    """
    text = str(spec)
    if text == BYTES:
        return Tokenizer(byte_tokenizer(), BYTES, kind="bytes")
    path = Path(text).expanduser()
    if path.is_file():
        if path.suffix == ".gguf":
            return Tokenizer(gguf_tokenizer(path), path.name)
        return Tokenizer(parse(path), str(path))  # tokenizer.json, or an index's .zst
    if path.is_dir():
        return Tokenizer(_from_directory(path), str(path))
    if path.suffix or (os.sep in text and not _looks_like_hub_name(text)):
        raise TokenizerError(f"{text}: no such tokenizer file or directory")
    return Tokenizer(_from_local_cache(text), text)


def byte_tokenizer() -> tokenizers.Tokenizer:
    """UTF-8 bytes as tokens (id = byte value), as a real `tokenizers` BPE with no merges."""
    vocab = {ch: b for b, ch in bytes_to_unicode().items()}
    hf = tokenizers.Tokenizer(models.BPE(vocab=vocab, merges=[]))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    hf.decoder = decoders.ByteLevel()
    return hf


def _from_directory(path: Path) -> tokenizers.Tokenizer:
    found = tokenizer_json_in(path)  # an index's tokenizer/ holds tokenizer.json.zst
    if found is not None:
        return parse(found)
    if (path / "vocab.json").is_file() and (path / "merges.txt").is_file():
        return gpt2_style_bpe(path / "vocab.json", path / "merges.txt")
    ggufs = sorted(path.glob("*.gguf"))
    if ggufs:
        return gguf_tokenizer(ggufs[0])
    return _via_transformers(str(path))


def gpt2_style_bpe(vocab_file: Path, merges_file: Path) -> tokenizers.Tokenizer:
    """GPT-2's byte-level BPE from its two classic files (vocab.json, merges.txt)."""
    try:
        bpe = models.BPE.from_file(str(vocab_file), str(merges_file))
    except Exception as exc:
        raise TokenizerError(f"{vocab_file.parent}: unreadable vocab/merges ({exc})") from exc
    hf = tokenizers.Tokenizer(bpe)
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    vocab = json.loads(vocab_file.read_text(encoding="utf-8"))
    if "<|endoftext|>" in vocab:
        hf.add_special_tokens([tokenizers.AddedToken("<|endoftext|>", special=True)])
    return hf


def gguf_tokenizer(path: Path) -> tokenizers.Tokenizer:
    """Rebuild a GGUF file's BPE tokenizer from its vocabulary and merges (no torch)."""
    try:
        import gguf
    except ImportError as exc:  # pragma: no cover - gguf is a core dependency
        raise TokenizerError("reading .gguf files needs the 'gguf' package") from exc
    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as exc:
        raise TokenizerError(f"{path}: not a readable GGUF file ({exc})") from exc
    fields = reader.fields

    def value(key: str) -> Any:
        field = fields.get(key)
        return None if field is None else field.contents()

    if value("tokenizer.ggml.model") != "gpt2":
        raise TokenizerError(
            f"{path}: GGUF tokenizer model {value('tokenizer.ggml.model')!r} is not supported "
            "(byte-level BPE 'gpt2' is); pass the model's tokenizer.json instead"
        )
    tokens: list[str] = value("tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in value("tokenizer.ggml.merges")]
    types: list[int] = value("tokenizer.ggml.token_type") or [1] * len(tokens)
    hf = tokenizers.Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if value("tokenizer.ggml.pre") in {"smollm", "starcoder", "qwen2", "llama-bpe"}:
        # These models split digits one by one before the byte-level regex.
        hf.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), byte_level]
        )
    else:
        hf.pre_tokenizer = byte_level
    hf.decoder = decoders.ByteLevel()
    control = [
        tokenizers.AddedToken(t, special=True)
        for t, kind in zip(tokens, types, strict=True)
        if kind == 3  # GGUF token type CONTROL
    ]
    hf.add_special_tokens(control)
    return hf


def _looks_like_hub_name(text: str) -> bool:
    return text.count("/") == 1 and not text.startswith((".", "/", "~"))


def _from_local_cache(name: str) -> tokenizers.Tokenizer:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return _via_transformers(name)
    cached = try_to_load_from_cache(name, TOKENIZER_FILE)
    if isinstance(cached, str):
        return parse(Path(cached))
    return _via_transformers(name)


def _via_transformers(name: str) -> tokenizers.Tokenizer:
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise TokenizerError(
            f"{name}: no tokenizer.json, vocab.json+merges.txt or .gguf found, and "
            "'transformers' is not installed to convert other formats"
        ) from exc
    try:
        tok = AutoTokenizer.from_pretrained(name, local_files_only=True, use_fast=True)
    except Exception as exc:
        raise TokenizerError(f"{name}: cannot load a tokenizer offline ({exc})") from exc
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is None:
        raise TokenizerError(f"{name}: only fast (Rust) tokenizers can be saved in an index")
    if not isinstance(backend, tokenizers.Tokenizer):
        raise TokenizerError(f"{name}: unexpected tokenizer backend {type(backend).__name__}")
    return backend
