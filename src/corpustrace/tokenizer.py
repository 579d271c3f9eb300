"""Text <-> token ids, with character offsets and an exact byte view of every token.

The index stores token ids only; everything that turns ids back into text goes
through `Tokenizer.decode_with_offsets`, which concatenates each token's bytes so
that character offsets of spans inside decoded documents are exact (piecewise
`decode` would drop SentencePiece's leading spaces and split UTF-8 characters).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
import tokenizers

from corpustrace.errors import QueryError, TokenizerError

TOKENIZER_FILE = "tokenizer.json"
_BYTE_FALLBACK = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def check_text(text: str, what: str = "text") -> None:
    """Refuse what cannot be encoded as UTF-8 (a lone surrogate, say "\\ud800", which JSON
    and Python strings can hold) or is no string at all, with the library's QueryError."""
    if not isinstance(text, str):
        raise QueryError(f"{what} must be a string, not {type(text).__name__}")
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise QueryError(
            f"{what} is not valid Unicode: a lone surrogate U+{ord(text[exc.start]):04X} "
            f"at character {exc.start}"
        ) from None


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters (Radford et al., 2019)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def token_width(vocab_size: int, utf8_bytes: bool = False) -> int:
    """Fewest whole bytes (1, 2 or 4) whose all-ones value is free to be the separator.

    Ids run 0..vocab_size-1, so the all-ones value of a width is free only when the
    vocabulary has fewer ids than that value: at most 255 ids for one byte, 65,535 for
    two. The UTF-8 bytes tokenizer (256 ids) is the exception: id 0xFF is a byte that
    never occurs in UTF-8 text, so one byte holds it and 0xFF stays the separator.
    """
    if vocab_size <= 255 or (utf8_bytes and vocab_size <= 256):
        return 1
    if vocab_size <= 65535:
        return 2
    if vocab_size <= 2**32 - 1:
        return 4
    raise TokenizerError(f"vocabulary of {vocab_size} tokens does not fit 4-byte token ids")


class Tokenizer:
    """A `tokenizers.Tokenizer` plus what tracing needs: widths, byte tables, offsets."""

    def __init__(self, hf: tokenizers.Tokenizer, name: str, kind: str = "tokenizers") -> None:
        self.hf = hf
        self.name = name
        self.kind = kind  # "bytes" uses a fast path for encoding
        self.vocab_size = int(hf.get_vocab_size(with_added_tokens=True))
        self.width = token_width(self.vocab_size, utf8_bytes=kind == "bytes")
        self.separator = (1 << (8 * self.width)) - 1
        self.dtype = np.dtype({1: "<u1", 2: "<u2", 4: "<u4"}[self.width])

    # -- description and persistence -------------------------------------------------

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": self.kind,
            "vocab_size": self.vocab_size,
            "width": self.width,
        }

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / TOKENIZER_FILE
        self.hf.save(str(path))
        (directory / "corpustrace.json").write_text(json.dumps(self.describe(), indent=2))
        return path

    @classmethod
    def from_index_dir(cls, directory: Path) -> Tokenizer:
        path = directory / TOKENIZER_FILE
        if not path.is_file():
            raise TokenizerError(f"{path}: tokenizer file missing")
        info: dict[str, object] = {}
        meta = directory / "corpustrace.json"
        if meta.is_file():
            info = json.loads(meta.read_text())
        hf = tokenizers.Tokenizer.from_file(str(path))
        return cls(hf, str(info.get("name", path)), str(info.get("kind", "tokenizers")))

    # -- encoding -------------------------------------------------------------------

    def encode(self, text: str) -> np.ndarray:
        """Token ids of `text`, no special tokens added (QueryError for invalid text)."""
        check_text(text)
        if self.kind == "bytes":
            return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(self.dtype)
        return np.asarray(self.hf.encode(text, add_special_tokens=False).ids, dtype=self.dtype)

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Token ids of many texts; the Rust side spreads the batch over all cores."""
        if self.kind == "bytes":
            return [self.encode(t) for t in texts]
        fast = getattr(self.hf, "encode_batch_fast", None)
        encode = fast if fast is not None else self.hf.encode_batch
        encs = encode(list(texts), add_special_tokens=False)
        return [np.asarray(e.ids, dtype=self.dtype) for e in encs]

    def encode_with_offsets(self, text: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Token ids and the character span of each token in `text`."""
        check_text(text)
        if self.kind == "bytes":
            ids = self.encode(text)
            offsets: list[tuple[int, int]] = []
            for ci, ch in enumerate(text):
                offsets.extend((ci, ci + 1) for _ in ch.encode("utf-8"))
            return ids, offsets
        enc = self.hf.encode(text, add_special_tokens=False)
        return np.asarray(enc.ids, dtype=self.dtype), [(a, b) for a, b in enc.offsets]

    # -- decoding -------------------------------------------------------------------

    @cached_property
    def token_bytes(self) -> list[bytes]:
        """The exact bytes each token id stands for, built once from the vocabulary."""
        return _token_byte_table(self.hf, self.vocab_size)

    @cached_property
    def _token_lengths(self) -> np.ndarray:
        return np.fromiter((len(b) for b in self.token_bytes), dtype=np.int64)

    def _join(self, ids: Sequence[int] | np.ndarray) -> bytes:
        table = self.token_bytes
        return b"".join([table[i] for i in np.asarray(ids, dtype=np.int64).tolist()])

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        return self._join(ids).decode("utf-8", errors="replace")

    def decode_with_offsets(self, ids: Sequence[int] | np.ndarray) -> tuple[str, list[int]]:
        """Decoded text and, for each token boundary 0..len(ids), its character offset.

        Fast path: the bytes are valid UTF-8, so the characters complete before a byte
        offset are the bytes before it that end a character (those followed by a byte
        that is not a 0b10xxxxxx continuation byte). A boundary inside a character maps
        to the start of that character, as an incremental decoder would.
        """
        raw = self._join(ids)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return self._decode_with_offsets_slow(ids)
        arr = np.frombuffer(raw, dtype=np.uint8)
        ends_char = np.ones(len(arr), dtype=bool)
        ends_char[:-1] = (arr[1:] & 0xC0) != 0x80
        chars_before = np.zeros(len(arr) + 1, dtype=np.int64)
        np.cumsum(ends_char, out=chars_before[1:])
        bounds = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum(self._token_lengths[np.asarray(ids, dtype=np.int64)], out=bounds[1:])
        offsets: list[int] = chars_before[bounds].tolist()
        return text, offsets

    def _decode_with_offsets_slow(self, ids: Sequence[int] | np.ndarray) -> tuple[str, list[int]]:
        """Token by token through an incremental decoder (text cut inside a character)."""
        table = self.token_bytes
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        parts: list[str] = []
        starts = [0]
        pos = 0
        for i in np.asarray(ids, dtype=np.int64).tolist():
            piece = decoder.decode(table[i])
            parts.append(piece)
            pos += len(piece)
            starts.append(pos)
        tail = decoder.decode(b"", final=True)
        if tail:
            parts.append(tail)
            starts[-1] = pos + len(tail)
        return "".join(parts), starts

    def token_text(self, token_id: int) -> str:
        return self.token_bytes[token_id].decode("utf-8", errors="replace")


def _token_byte_table(hf: tokenizers.Tokenizer, vocab_size: int) -> list[bytes]:
    spec = json.loads(hf.to_str())
    decoder = json.dumps(spec.get("decoder") or {})
    byte_level = '"ByteLevel"' in decoder
    metaspace = '"Metaspace"' in decoder or "\\u2581" in decoder or "▁" in decoder
    special = {t["id"]: t["content"] for t in spec.get("added_tokens", [])}
    inverse = {c: b for b, c in bytes_to_unicode().items()}
    table: list[bytes] = []
    for tid in range(vocab_size):
        piece = hf.id_to_token(tid)
        if piece is None:
            table.append(b"")
        elif tid in special:
            table.append(special[tid].encode("utf-8"))
        elif byte_level and all(c in inverse for c in piece):
            table.append(bytes(inverse[c] for c in piece))
        elif metaspace:
            m = _BYTE_FALLBACK.match(piece)
            table.append(bytes([int(m.group(1), 16)]) if m else piece.replace("▁", " ").encode())
        else:
            table.append(hf.decode([tid], skip_special_tokens=False).encode("utf-8"))
    return table


def leading_space_variants(text: str) -> list[str]:
    """The text as typed, then with a leading space when it has none: most words of a
    corpus follow a space, and byte-level BPE vocabularies give " the" and "the"
    different ids, so "the river" and " the river" are different n-grams."""
    return [text] if not text or text[0].isspace() else [text, " " + text]
