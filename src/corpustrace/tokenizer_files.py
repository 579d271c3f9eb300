"""The tokenizer.json that an index carries, stored zstd-compressed.

An index holds its tokenizer so that it opens offline and its ids always mean the same
text. Since the index's BPE tables (bpe_tables.py) encode and decode, tokenizer.json is
parsed only to build, append, verify, train and by the server at start-up (a damaged
one stops it there): it is kept compressed, as
`tokenizer/tokenizer.json.zst` (GPT-2's: 1.56 MB as JSON, 0.48 MB compressed), and
read back in ~3 ms. Indexes written before keep a plain `tokenizer/tokenizer.json`,
which every reader here still accepts. `zstd -d tokenizer.json.zst` gives the file that
Hugging Face `tokenizers` loads.

The SHA-256 of the uncompressed JSON goes into `corpustrace.json` beside it: what says
that two indexes share a tokenizer, whatever zstd version compressed each.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import tokenizers

from corpustrace.errors import TokenizerError

TOKENIZER_FILE = "tokenizer.json"
PACKED_FILE = TOKENIZER_FILE + ".zst"
ZSTD_LEVEL = 19  # ~0.6 s once per build for GPT-2's; decompression costs the same at any level


def tokenizer_json_in(directory: Path) -> Path | None:
    """The tokenizer.json of a directory, compressed (preferred) or plain; None if neither."""
    for name in (PACKED_FILE, TOKENIZER_FILE):
        if (directory / name).is_file():
            return directory / name
    return None


def read_json_text(path: Path) -> str:
    """The JSON text of a tokenizer.json or tokenizer.json.zst (TokenizerError if unreadable)."""
    import zstandard

    try:
        raw = path.read_bytes()
        if path.name.endswith(".zst"):
            raw = zstandard.ZstdDecompressor().decompress(raw)
        return raw.decode("utf-8")
    except (OSError, zstandard.ZstdError, UnicodeDecodeError) as exc:
        raise TokenizerError(f"{path}: not a readable tokenizer.json ({exc})") from None


def parse(path: Path) -> tokenizers.Tokenizer:
    """A `tokenizers.Tokenizer` from a tokenizer.json or tokenizer.json.zst."""
    text = read_json_text(path)
    try:
        return tokenizers.Tokenizer.from_str(text)
    except Exception as exc:  # tokenizers raises plain Exception subclasses
        raise TokenizerError(f"{path}: not a tokenizer.json file ({exc})") from exc


def write_packed(hf: tokenizers.Tokenizer, directory: Path) -> tuple[Path, str]:
    """Write `hf` as tokenizer.json.zst in `directory` (a plain tokenizer.json there is
    removed); returns the path and the SHA-256 of the uncompressed JSON."""
    import zstandard

    text = hf.to_str(pretty=False).encode("utf-8")  # compact: half the bytes of indented
    path = directory / PACKED_FILE
    path.write_bytes(zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(text))
    (directory / TOKENIZER_FILE).unlink(missing_ok=True)
    return path, hashlib.sha256(text).hexdigest()


def index_tokenizer_json(index: Path) -> str:
    """The JSON text of an index's tokenizer (what a model trained on it saves beside it)."""
    found = tokenizer_json_in(index / "tokenizer")
    if found is None:
        raise TokenizerError(f"{index / 'tokenizer' / TOKENIZER_FILE}: tokenizer file missing")
    return read_json_text(found)
