"""Compact tables of a byte-level BPE tokenizer, written into an index beside tokenizer.json.

Parsing GPT-2's tokenizer.json with `tokenizers` takes 150-600 ms (50k vocabulary and
50k merges, in Rust, holding the GIL), which a library or CLI user would pay on the
first trace of every new process. The tables hold what encoding and decoding need:
the merges as id triples, the bytes of every id, the added tokens and the
pre-tokenizer's split patterns; they load in about a millisecond and `bpe.ByteLevelBPE`
encodes with them exactly as `tokenizers` does (tests compare the two on random and
real text). Only tokenizers the tables describe exactly get them: byte-level BPE
without dropout, unknown-token handling, subword prefixes or offset trimming; any other
tokenizer is used through `tokenizers` as before.

File layout (`bpe-tables.bin`): the magic line, an 8-byte little-endian header length,
a JSON header, then each array at an 8-byte aligned offset the header names.
Everything is written in a fixed order, so the same tokenizer gives the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from corpustrace.errors import TokenizerError

TABLES_FILE = "bpe-tables.bin"
MAGIC = b"corpustrace-bpe-tables 1\n"
# The file as written: this line, then the zstd frame of the layout above (MAGIC first):
# GPT-2's tables take 0.54 MB instead of 1.32 MB and decompress in ~2 ms. Files that
# start with MAGIC itself (uncompressed, as first written) are read as they are.
PACKED_MAGIC = b"corpustrace-bpe-tables 1 zstd\n"
ZSTD_LEVEL = 19
# The regular expression of GPT-2's byte-level pre-tokenizer (`use_regex`), as
# `tokenizers` applies it (Radford et al., 2019; tokenizers' pre_tokenizers/byte_level.rs).
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
ARRAYS = (("merges", "<i4"), ("piece_offsets", "<u8"), ("piece_bytes", "u1"))


@dataclass
class BpeTables:
    """What `ByteLevelBPE` needs, as plain arrays and a small JSON config."""

    merges: np.ndarray  # (M, 3) int32: left id, right id, merged id; the row is the rank
    piece_offsets: np.ndarray  # (V + 1,) uint64 into piece_bytes
    piece_bytes: np.ndarray  # uint8: the exact bytes of every id, concatenated
    config: dict[str, Any]  # splits, byte_ids, added, ignore_merges, nfc, vocab_size

    @property
    def vocab_size(self) -> int:
        return int(self.config["vocab_size"])

    def piece(self, token_id: int) -> bytes:
        a, b = int(self.piece_offsets[token_id]), int(self.piece_offsets[token_id + 1])
        return self.piece_bytes[a:b].tobytes()

    def save(self, path: Path) -> None:
        import zstandard

        packed = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(self.to_bytes())
        path.write_bytes(PACKED_MAGIC + packed)

    def to_bytes(self) -> bytes:
        header: dict[str, Any] = {"config": self.config, "arrays": {}}
        blobs = []
        offset = 0
        for name, dtype in ARRAYS:
            data = np.ascontiguousarray(getattr(self, name), dtype=dtype).tobytes()
            header["arrays"][name] = {"offset": offset, "bytes": len(data), "dtype": dtype}
            header["arrays"][name]["shape"] = list(getattr(self, name).shape)
            pad = -len(data) % 8
            blobs.append(data + b"\0" * pad)
            offset += len(data) + pad
        head = json.dumps(header, sort_keys=True, ensure_ascii=True).encode()
        head += b" " * (-(len(MAGIC) + 8 + len(head)) % 8)
        return b"".join([MAGIC, len(head).to_bytes(8, "little"), head, *blobs])

    @classmethod
    def load(cls, path: Path, vocab_size: int) -> BpeTables:
        """The tables of `path`, checked to describe `vocab_size` ids (TokenizerError)."""
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise TokenizerError(f"{path}: cannot read ({exc.strerror or exc})") from None
        import zstandard

        try:
            if raw.startswith(PACKED_MAGIC):
                raw = zstandard.ZstdDecompressor().decompress(raw[len(PACKED_MAGIC) :])
            return cls._parse(raw, vocab_size)
        except (ValueError, KeyError, TypeError, IndexError, zstandard.ZstdError) as exc:
            raise TokenizerError(f"{path}: damaged tokenizer tables ({exc})") from None

    @classmethod
    def _parse(cls, raw: bytes, vocab_size: int) -> BpeTables:
        if not raw.startswith(MAGIC):
            raise ValueError("not a corpustrace tokenizer table file")
        start = len(MAGIC) + 8
        size = int.from_bytes(raw[len(MAGIC) : start], "little")
        header = json.loads(raw[start : start + size])
        base = start + size
        arrays = {}
        for name, dtype in ARRAYS:
            spec = header["arrays"][name]
            if spec["dtype"] != dtype:
                raise ValueError(f"{name} has dtype {spec['dtype']}")
            lo = base + int(spec["offset"])
            if lo + int(spec["bytes"]) > len(raw):
                raise ValueError(f"{name} runs past the end of the file")
            count = int(spec["bytes"]) // np.dtype(dtype).itemsize
            flat = np.frombuffer(raw, dtype=dtype, count=count, offset=lo)
            arrays[name] = flat.reshape(spec["shape"])
        tables = cls(config=header["config"], **arrays)
        tables.check(vocab_size)
        return tables

    def check(self, vocab_size: int) -> None:
        """ValueError unless the arrays are consistent with each other and `vocab_size`."""
        if self.vocab_size != vocab_size:
            raise ValueError(f"{self.vocab_size} ids, the tokenizer has {vocab_size}")
        offsets, merges = self.piece_offsets, self.merges
        if offsets.shape != (vocab_size + 1,) or int(offsets[0]) != 0:
            raise ValueError("piece offsets do not cover the vocabulary")
        if bool(np.any(offsets[1:] < offsets[:-1])):
            raise ValueError("piece offsets go backwards")
        if int(offsets[-1]) != len(self.piece_bytes):
            raise ValueError("piece offsets do not match the piece bytes")
        if merges.ndim != 2 or merges.shape[1] != 3:
            raise ValueError("merges are not id triples")
        if merges.size and (int(merges.min()) < 0 or int(merges.max()) >= vocab_size):
            raise ValueError("a merge names an id outside the vocabulary")
        byte_ids = self.config["byte_ids"]
        if len(byte_ids) != 256 or not all(0 <= int(i) < vocab_size for i in byte_ids):
            raise ValueError("the byte alphabet is not 256 ids of the vocabulary")
        for token in self.config["added"]:
            if not 0 <= int(token["id"]) < vocab_size or not token["content"]:
                raise ValueError("an added token is outside the vocabulary or empty")
        for split in self.config["splits"]:
            if not isinstance(split, str):
                raise ValueError("a split pattern is not a string")


def tables_from_spec(spec: dict[str, Any], pieces: list[bytes]) -> BpeTables | None:
    """Tables for the tokenizer serialized as `spec` (tokenizer.json), whose ids have the
    bytes `pieces`; None when the tables cannot describe it exactly (see `why_not`)."""
    if why_not(spec) is not None:
        return None
    model = spec["model"]
    vocab: dict[str, int] = model["vocab"]
    alphabet = byte_alphabet()
    byte_ids = [vocab.get(alphabet[b]) for b in range(256)]
    if any(i is None for i in byte_ids):
        return None  # a byte without a token: `tokenizers` would drop it
    rows = []
    for merge in model.get("merges") or []:
        left, right = merge.split(" ", 1) if isinstance(merge, str) else merge
        merged = vocab.get(left + right)
        if left not in vocab or right not in vocab or merged is None:
            return None  # `tokenizers` refuses such a file; do not guess
        rows.append((vocab[left], vocab[right], merged))
    added = [
        {"id": int(t["id"]), "content": str(t["content"]), "normalized": bool(t["normalized"])}
        for t in spec.get("added_tokens") or []
        if t.get("content")
    ]
    splits = pre_tokenizer_splits(spec.get("pre_tokenizer"))
    assert splits is not None  # why_not checked it
    offsets = np.zeros(len(pieces) + 1, dtype="<u8")
    offsets[1:] = np.cumsum([len(p) for p in pieces])
    config = {
        "vocab_size": len(pieces),
        "splits": splits,
        "byte_ids": byte_ids,
        "added": added,
        "ignore_merges": bool(model.get("ignore_merges", False)),
        "nfc": (spec.get("normalizer") or {}).get("type") == "NFC",
    }
    return BpeTables(
        merges=np.asarray(rows, dtype="<i4").reshape(-1, 3),
        piece_offsets=offsets,
        piece_bytes=np.frombuffer(b"".join(pieces), dtype=np.uint8),
        config=config,
    )


def why_not(spec: dict[str, Any]) -> str | None:
    """Why the tables cannot encode exactly as this tokenizer.json does (None: they can)."""
    model = spec.get("model") or {}
    if model.get("type") != "BPE":
        return f"model {model.get('type')!r} is not BPE"
    for key in ("dropout", "continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(key):
            return f"BPE {key} is set"
    if model.get("byte_fallback"):
        return "BPE byte_fallback is set"
    if (spec.get("decoder") or {}).get("type") != "ByteLevel":
        return "the decoder is not ByteLevel"
    normalizer = spec.get("normalizer")
    if normalizer is not None and normalizer.get("type") != "NFC":
        return f"normalizer {normalizer.get('type')!r}"
    if pre_tokenizer_splits(spec.get("pre_tokenizer")) is None:
        return "the pre-tokenizer is not byte-level with regular-expression splits"
    if trims_offsets(spec.get("post_processor")):
        return "the post-processor trims offsets"
    for token in spec.get("added_tokens") or []:
        if any(token.get(k) for k in ("single_word", "lstrip", "rstrip")):
            return f"added token {token.get('content')!r} has single_word/lstrip/rstrip"
    return None


def pre_tokenizer_splits(pre: dict[str, Any] | None) -> list[str] | None:
    """The split patterns (each splitting every piece, matches kept as pieces) of a
    pre-tokenizer that ends in ByteLevel without a prefix space; None for any other."""
    if pre is None:
        return None
    steps = pre["pretokenizers"] if pre.get("type") == "Sequence" else [pre]
    if not steps or steps[-1].get("type") != "ByteLevel":
        return None
    splits: list[str] = []
    for step in steps[:-1]:
        kind = step.get("type")
        if kind == "Split" and step.get("behavior") == "Isolated" and not step.get("invert"):
            pattern = step.get("pattern") or {}
            if "Regex" in pattern:
                splits.append(str(pattern["Regex"]))
            elif pattern.get("String"):
                splits.append(escape_literal(str(pattern["String"])))
            else:
                return None
        elif kind == "Digits":
            splits.append(r"\p{N}" if step.get("individual_digits") else r"\p{N}+")
        else:
            return None
    last = steps[-1]
    if last.get("add_prefix_space"):
        return None
    if last.get("use_regex", True):
        splits.append(GPT2_PATTERN)
    return splits


def trims_offsets(post: dict[str, Any] | None) -> bool:
    if post is None:
        return False
    if post.get("type") == "Sequence":
        return any(trims_offsets(p) for p in post.get("processors") or [])
    trimming = ("ByteLevel", "RobertaProcessing")
    return post.get("type") in trimming and bool(post.get("trim_offsets"))


def escape_literal(text: str) -> str:
    import regex

    return str(regex.escape(text))


def byte_alphabet() -> dict[int, str]:
    from corpustrace.tokenizer import bytes_to_unicode

    return bytes_to_unicode()
