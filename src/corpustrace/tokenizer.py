"""Text <-> token ids, with character offsets and an exact byte view of every token.

The index stores token ids only; everything that turns ids back into text goes
through `Tokenizer.decode_with_offsets`, which concatenates each token's bytes so
that character offsets of spans inside decoded documents are exact (piecewise
`decode` would drop SentencePiece's leading spaces and split UTF-8 characters).
"""

from __future__ import annotations

import codecs
import ctypes
import functools
import json
import re
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import tokenizers

from corpustrace.bpe import ByteLevelBPE
from corpustrace.bpe_tables import TABLES_FILE, BpeTables, tables_from_spec
from corpustrace.errors import QueryError, TokenizerError
from corpustrace.tokenizer_files import TOKENIZER_FILE, parse, tokenizer_json_in, write_packed

DESCRIPTION_FILE = "corpustrace.json"
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


def release_freed_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc's malloc_trim; elsewhere a
    no-op), so transient allocations do not stay in the process's resident memory."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Any:
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


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

    def __init__(
        self,
        hf: tokenizers.Tokenizer | None,
        name: str,
        kind: str = "tokenizers",
        *,
        lazy_from: Path | None = None,
        vocab_size: int | None = None,
        tables_from: Path | None = None,
    ) -> None:
        """`hf`, or (`lazy_from`, `vocab_size`): a tokenizer.json loaded on first use and
        checked then to hold `vocab_size` ids (loading GPT-2's takes 150-600 ms).
        `tables_from`: the index's byte-level BPE tables, which encode and decode
        without loading tokenizer.json at all (see `bpe_tables`)."""
        self._hf = hf
        self._lazy_from = lazy_from
        self._tables_from = tables_from
        self._fast: ByteLevelBPE | None = None
        self._lock = threading.Lock()
        self.name = name
        self.kind = kind  # "bytes" uses a fast path for encoding
        if hf is not None:
            vocab_size = int(hf.get_vocab_size(with_added_tokens=True))
        if vocab_size is None or (hf is None and lazy_from is None):
            raise ValueError("a Tokenizer needs hf, or lazy_from and vocab_size")
        self.vocab_size = vocab_size
        self.width = token_width(self.vocab_size, utf8_bytes=kind == "bytes")
        self.separator = (1 << (8 * self.width)) - 1
        self.dtype = np.dtype({1: "<u1", 2: "<u2", 4: "<u4"}[self.width])

    @property
    def hf(self) -> tokenizers.Tokenizer:
        """The `tokenizers.Tokenizer`, loaded on first use when opened lazily."""
        hf = self._hf
        if hf is None:
            with self._lock:
                if self._hf is None:
                    self._hf = self._load()
                hf = self._hf
        return hf

    def _load(self) -> tokenizers.Tokenizer:
        path = self._lazy_from
        assert path is not None
        hf = parse(path)
        release_freed_memory()  # parsing a large tokenizer.json leaves ~15 MiB of free heap
        size = int(hf.get_vocab_size(with_added_tokens=True))
        if size != self.vocab_size:
            described = path.parent / DESCRIPTION_FILE
            raise TokenizerError(f"{path}: {size} tokens, but {described} says {self.vocab_size}")
        return hf

    @property
    def fast(self) -> ByteLevelBPE | None:
        """The encoder over the index's BPE tables (loaded on first use), if it has them."""
        if self._tables_from is None:
            return None
        fast = self._fast
        if fast is None:
            with self._lock:
                if self._fast is None:
                    tables = BpeTables.load(self._tables_from, self.vocab_size)
                    self._fast = ByteLevelBPE(tables)
                fast = self._fast
        return fast

    def warm(self) -> None:
        """Load the BPE tables and compile their patterns now (a server, before serving)."""
        fast = self.fast
        if fast is not None:
            fast.encode_with_offsets("warm up")

    # -- description and persistence -------------------------------------------------

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": self.kind,
            "vocab_size": self.vocab_size,
            "width": self.width,
        }

    def save(self, directory: Path) -> Path:
        """tokenizer.json.zst, corpustrace.json (with the JSON's SHA-256) and, for a
        byte-level BPE, the tables (tokenizer_files.py, bpe_tables.py)."""
        directory.mkdir(parents=True, exist_ok=True)
        path, sha256 = write_packed(self.hf, directory)
        description = {**self.describe(), "tokenizer_sha256": sha256}
        (directory / DESCRIPTION_FILE).write_text(json.dumps(description, indent=2))
        tables = None
        if self.kind != "bytes":
            tables = tables_from_spec(
                json.loads(self.hf.to_str()), TokenBytes(self.hf, self.vocab_size).all()
            )
        if tables is not None:
            tables.save(directory / TABLES_FILE)
        else:
            (directory / TABLES_FILE).unlink(missing_ok=True)
        return path

    @classmethod
    def from_index_dir(cls, directory: Path) -> Tokenizer:
        """The tokenizer of an index. Its tokenizer.json is parsed on first use when
        corpustrace.json records the vocabulary size (opening an index needs no more)."""
        found = tokenizer_json_in(directory)
        if found is None:
            raise TokenizerError(f"{directory / TOKENIZER_FILE}: tokenizer file missing")
        path = found
        info: dict[str, object] = {}
        meta = directory / DESCRIPTION_FILE
        if meta.is_file():
            try:
                info = json.loads(meta.read_text())
            except ValueError as exc:
                raise TokenizerError(f"{meta}: not JSON ({exc})") from None
            if not isinstance(info, dict):
                raise TokenizerError(f"{meta}: not a JSON object")
        name, kind = str(info.get("name", path)), str(info.get("kind", "tokenizers"))
        size = info.get("vocab_size")
        tables = directory / TABLES_FILE
        if isinstance(size, int) and not isinstance(size, bool) and size > 0:
            return cls(
                None,
                name,
                kind,
                lazy_from=path,
                vocab_size=size,
                tables_from=tables if tables.is_file() else None,
            )
        return cls(parse(path), name, kind)

    # -- encoding -------------------------------------------------------------------

    def encode(self, text: str) -> np.ndarray:
        """Token ids of `text`, no special tokens added (QueryError for invalid text)."""
        check_text(text)
        if self.kind == "bytes":
            return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(self.dtype)
        fast = self.fast
        if fast is not None and fast.can_encode(text):
            return np.asarray(fast.encode_with_offsets(text)[0], dtype=self.dtype)
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
        fast = self.fast
        if fast is not None and fast.can_encode(text):
            fast_ids, fast_offsets = fast.encode_with_offsets(text)
            return np.asarray(fast_ids, dtype=self.dtype), fast_offsets
        enc = self.hf.encode(text, add_special_tokens=False)
        return np.asarray(enc.ids, dtype=self.dtype), [(a, b) for a, b in enc.offsets]

    # -- decoding -------------------------------------------------------------------

    @cached_property
    def _bytes(self) -> TokenBytes | TablePieces:
        fast = self.fast
        if fast is not None:
            return TablePieces(fast.tables)
        return TokenBytes(self.hf, self.vocab_size)

    @property
    def token_bytes(self) -> list[bytes]:
        """The exact bytes of every token id (the whole vocabulary, made once)."""
        return self._bytes.all()

    def pieces(self, ids: Sequence[int] | np.ndarray) -> list[bytes]:
        """The exact bytes of each id, computed only for the ids not seen before."""
        return self._bytes.many(np.asarray(ids, dtype=np.int64).tolist())

    def _join(self, ids: Sequence[int] | np.ndarray) -> bytes:
        return self._bytes.join(np.asarray(ids, dtype=np.int64))[0]

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        return self._join(ids).decode("utf-8", errors="replace")

    def decode_with_offsets(self, ids: Sequence[int] | np.ndarray) -> tuple[str, list[int]]:
        """Decoded text and, for each token boundary 0..len(ids), its character offset.

        Fast path: the bytes are valid UTF-8, so the characters complete before a byte
        offset are the bytes before it that end a character (those followed by a byte
        that is not a 0b10xxxxxx continuation byte). A boundary inside a character maps
        to the start of that character, as an incremental decoder would.
        """
        raw, lengths = self._bytes.join(np.asarray(ids, dtype=np.int64))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return self._decode_with_offsets_slow(ids)
        arr = np.frombuffer(raw, dtype=np.uint8)
        ends_char = np.ones(len(arr), dtype=bool)
        ends_char[:-1] = (arr[1:] & 0xC0) != 0x80
        chars_before = np.zeros(len(arr) + 1, dtype=np.int64)
        np.cumsum(ends_char, out=chars_before[1:])
        bounds = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=bounds[1:])
        offsets: list[int] = chars_before[bounds].tolist()
        return text, offsets

    def _decode_with_offsets_slow(self, ids: Sequence[int] | np.ndarray) -> tuple[str, list[int]]:
        """Token by token through an incremental decoder (text cut inside a character)."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        parts: list[str] = []
        starts = [0]
        pos = 0
        for raw in self.pieces(ids):
            piece = decoder.decode(raw)
            parts.append(piece)
            pos += len(piece)
            starts.append(pos)
        tail = decoder.decode(b"", final=True)
        if tail:
            parts.append(tail)
            starts[-1] = pos + len(tail)
        return "".join(parts), starts

    def token_text(self, token_id: int) -> str:
        return self._bytes.many([int(token_id)])[0].decode("utf-8", errors="replace")


class PieceCache:
    """Exact bytes of token ids, each computed on first need by `_piece` and kept
    (thread-safe: a race only computes a piece twice)."""

    vocab_size: int
    cache: dict[int, bytes]
    _all: list[bytes] | None

    def many(self, ids: list[int]) -> list[bytes]:
        cache = self.cache
        try:
            return list(map(cache.__getitem__, ids))
        except KeyError:
            pass
        for i in set(ids) - cache.keys():
            if not 0 <= i < self.vocab_size:
                raise IndexError(f"token id {i} is outside the vocabulary")
            cache[i] = self._piece(i)
        return list(map(cache.__getitem__, ids))

    def join(self, ids: np.ndarray) -> tuple[bytes, np.ndarray]:
        """The bytes of `ids` (int64) end to end, and each one's length in bytes."""
        pieces = self.many(ids.tolist())
        return b"".join(pieces), np.fromiter(map(len, pieces), np.int64, len(pieces))

    def all(self) -> list[bytes]:
        if self._all is None:
            self._all = self.many(list(range(self.vocab_size)))
        return self._all

    def _piece(self, tid: int) -> bytes:
        raise NotImplementedError


class TokenBytes(PieceCache):
    """Token bytes from a parsed `tokenizers.Tokenizer`.

    Byte-level BPE (GPT-2): a piece's characters map back to bytes through the inverse
    of `bytes_to_unicode`, one `str.translate` + latin-1 encode per piece. Metaspace
    (SentencePiece): "▁" is a space and <0xNN> a byte. Added tokens are their
    content. Anything else is decoded by the tokenizer itself, one id at a time.
    """

    def __init__(self, hf: tokenizers.Tokenizer, vocab_size: int) -> None:
        self.hf = hf
        self.vocab_size = vocab_size
        decoder = json.dumps(json.loads(hf.decoder.__getstate__())) if hf.decoder else "{}"
        self.byte_level = '"ByteLevel"' in decoder
        self.metaspace = '"Metaspace"' in decoder or "\\u2581" in decoder or "▁" in decoder
        self.special = {i: t.content for i, t in hf.get_added_tokens_decoder().items()}
        self.cache = {}
        self._all = None

    def _piece(self, tid: int) -> bytes:
        piece = self.hf.id_to_token(tid)
        if piece is None:
            return b""
        if tid in self.special:
            return self.special[tid].encode("utf-8")
        if self.byte_level:
            try:
                return piece.translate(_BYTE_LEVEL_INVERSE).encode("latin-1")
            except UnicodeEncodeError:
                pass  # a character outside the byte alphabet: not a byte-level piece
        if self.metaspace:
            m = _BYTE_FALLBACK.match(piece)
            return bytes([int(m.group(1), 16)]) if m else piece.replace("▁", " ").encode()
        return self.hf.decode([tid], skip_special_tokens=False).encode("utf-8")


class TablePieces(PieceCache):
    """Token bytes read from the index's BPE tables, which hold every id's bytes."""

    def __init__(self, tables: BpeTables) -> None:
        self.tables = tables
        self.vocab_size = tables.vocab_size
        self.cache = {}
        self._all = None

    def _piece(self, tid: int) -> bytes:
        return self.tables.piece(tid)

    def join(self, ids: np.ndarray) -> tuple[bytes, np.ndarray]:
        """As `PieceCache.join`, in numpy: one gather of the tables' bytes (a document
        window of a few thousand tokens in ~0.1 ms instead of a dict look-up per id)."""
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size):
            bad = ids[(ids < 0) | (ids >= self.vocab_size)][0]
            raise IndexError(f"token id {int(bad)} is outside the vocabulary")
        offsets = self.tables.piece_offsets
        starts = offsets[ids].astype(np.int64)
        lengths = offsets[ids + 1].astype(np.int64) - starts
        ends = np.cumsum(lengths)
        if not ids.size or not int(ends[-1]):
            return b"", lengths
        # Byte j of token k sits at starts[k] + (j - where token k begins in the output).
        at = np.repeat(starts - ends + lengths, lengths) + np.arange(int(ends[-1]))
        return self.tables.piece_bytes[at].tobytes(), lengths


def _byte_level_inverse() -> dict[int, str]:
    """str.translate table: each GPT-2 byte character to the latin-1 character of its byte,
    every other character below U+0100 to U+FFFF (which latin-1 cannot encode)."""
    table: dict[int, str] = {c: "\uffff" for c in range(256)}
    for b, c in bytes_to_unicode().items():
        table[ord(c)] = chr(b)
    return table


_BYTE_LEVEL_INVERSE = _byte_level_inverse()


def leading_space_variants(text: str) -> list[str]:
    """The text as typed, then with a leading space when it has none: most words of a
    corpus follow a space, and byte-level BPE vocabularies give " the" and "the"
    different ids, so "the river" and " the river" are different n-grams."""
    return [text] if not text or text[0].isspace() else [text, " " + text]
