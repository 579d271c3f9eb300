"""The per-token byte table and the lazily loaded tokenizer of an index.

`TokenBytes` (one translate per piece, computed on demand) against a slow twin that
walks the tokenizer's JSON and maps every character through GPT-2's byte table one by
one, on byte-level BPE, a SentencePiece-style Metaspace vocabulary, a word-level one
decoded by the tokenizer itself, and added tokens.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import tokenizers
import zstandard
from tokenizers import decoders, models, pre_tokenizers

from corpustrace.bpe_tables import TABLES_FILE
from corpustrace.errors import TokenizerError
from corpustrace.tokenizer import Tokenizer, bytes_to_unicode
from corpustrace.tokenizer_load import load_tokenizer


def slow_token_bytes(hf: tokenizers.Tokenizer) -> list[bytes]:
    """Every id's bytes, read from the serialized tokenizer, character by character."""
    spec = json.loads(hf.to_str())
    kind = json.dumps(spec.get("decoder") or {})
    inverse = {c: b for b, c in bytes_to_unicode().items()}
    added = {t["id"]: t["content"] for t in spec.get("added_tokens", [])}
    size = hf.get_vocab_size(with_added_tokens=True)
    out = []
    for tid in range(size):
        piece = hf.id_to_token(tid)
        if piece is None:
            out.append(b"")
        elif tid in added:
            out.append(added[tid].encode())
        elif '"ByteLevel"' in kind and all(c in inverse for c in piece):
            out.append(bytes(inverse[c] for c in piece))
        elif '"Metaspace"' in kind:
            m = re.fullmatch(r"<0x([0-9A-Fa-f]{2})>", piece)
            out.append(bytes([int(m.group(1), 16)]) if m else piece.replace("\u2581", " ").encode())
        else:
            out.append(hf.decode([tid], skip_special_tokens=False).encode())
    return out


def metaspace_tokenizer() -> Tokenizer:
    pieces = ["<unk>", "\u2581the", "\u2581caf\u00e9", "<0x0A>", "<0xE2>", "\u2581", "x\u2581y"]
    hf = tokenizers.Tokenizer(models.WordLevel({p: i for i, p in enumerate(pieces)}, "<unk>"))
    hf.decoder = decoders.Metaspace()
    hf.add_special_tokens(["<s>"])
    return Tokenizer(hf, "metaspace")


def word_tokenizer() -> Tokenizer:
    hf = tokenizers.Tokenizer(models.WordLevel({"[UNK]": 0, "hello": 1, "w\u00f6rld": 2}, "[UNK]"))
    hf.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    hf.add_tokens(["<extra>", "Ġodd"])  # an added token that looks byte-level
    return Tokenizer(hf, "words")


def byte_level_with_strays() -> Tokenizer:
    """Byte-level BPE whose vocabulary also holds pieces outside the byte alphabet
    (a space, U+00AD, a CJK character): those are decoded by the tokenizer."""
    alphabet = {c: i for i, c in enumerate(bytes_to_unicode().values())}
    for extra in (" a", "\u00ad", "\u6771", "Ġhi"):
        alphabet[extra] = len(alphabet)
    hf = tokenizers.Tokenizer(models.BPE(vocab=alphabet, merges=[]))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    hf.add_special_tokens(["<|endoftext|>"])
    return Tokenizer(hf, "strays")


def tokenizers_under_test(bpe_path: Path) -> list[Tokenizer]:
    return [
        load_tokenizer("bytes"),
        load_tokenizer(bpe_path),
        metaspace_tokenizer(),
        word_tokenizer(),
        byte_level_with_strays(),
    ]


def test_token_bytes_equal_the_slow_twin(bpe_path: Path) -> None:
    for tok in tokenizers_under_test(bpe_path):
        expected = slow_token_bytes(tok.hf)
        assert tok.token_bytes == expected, tok.name
        fresh = Tokenizer(tok.hf, tok.name, tok.kind)  # on demand, in a scattered order
        ids = [*range(tok.vocab_size - 1, -1, -3), 0, tok.vocab_size - 1, 0]
        assert fresh.pieces(ids) == [expected[i] for i in ids]
        assert fresh.token_text(tok.vocab_size - 1) == expected[-1].decode(errors="replace")


def test_pieces_refuse_ids_outside_the_vocabulary(bpe_path: Path) -> None:
    tok = load_tokenizer(bpe_path)
    for bad in (tok.vocab_size, -1):
        with pytest.raises(IndexError):
            tok.pieces([0, bad])


def test_an_index_tokenizer_is_parsed_on_first_use(tmp_path: Path, bpe_path: Path) -> None:
    tok = load_tokenizer(bpe_path)
    tok.save(tmp_path)
    lazy = Tokenizer.from_index_dir(tmp_path)
    assert lazy._hf is None and lazy.vocab_size == tok.vocab_size and lazy.width == tok.width
    assert lazy.encode("The river").tolist() == tok.encode("The river").tolist()
    assert lazy.token_bytes == tok.token_bytes
    assert lazy._hf is None  # the BPE tables beside it encode and decode
    (tmp_path / TABLES_FILE).unlink()  # an index without them (an older build)
    lazy = Tokenizer.from_index_dir(tmp_path)
    assert lazy.encode("The river").tolist() == tok.encode("The river").tolist()
    assert lazy._hf is not None and lazy.token_bytes == tok.token_bytes


def test_a_damaged_index_tokenizer_fails_on_first_use(tmp_path: Path, bpe_path: Path) -> None:
    load_tokenizer(bpe_path).save(tmp_path)
    info = json.loads((tmp_path / "corpustrace.json").read_text())
    (tmp_path / "corpustrace.json").write_text(json.dumps({**info, "vocab_size": 7}))
    with pytest.raises(TokenizerError, match="7"):
        Tokenizer.from_index_dir(tmp_path).encode("x")
    (tmp_path / TABLES_FILE).unlink()  # tokenizer.json itself (test_bpe_tables: the tables)
    with pytest.raises(TokenizerError, match="7"):
        Tokenizer.from_index_dir(tmp_path).encode("x")
    (tmp_path / "corpustrace.json").write_text(json.dumps(info))
    packed = tmp_path / "tokenizer.json.zst"
    for damage in (b"not zstd", zstandard.ZstdCompressor().compress(b"{not json")):
        packed.write_bytes(damage)
        with pytest.raises(TokenizerError, match=r"tokenizer\.json\.zst"):
            Tokenizer.from_index_dir(tmp_path).decode([1])
    (tmp_path / "corpustrace.json").write_text("[1]")
    with pytest.raises(TokenizerError, match="JSON object"):
        Tokenizer.from_index_dir(tmp_path)
    (tmp_path / "corpustrace.json").unlink()  # no description: parsed at once
    with pytest.raises(TokenizerError, match=r"tokenizer\.json"):
        Tokenizer.from_index_dir(tmp_path)


def test_saved_tokenizer_is_compact_and_the_same(tmp_path: Path, bpe_path: Path) -> None:
    """Saved compact and compressed, with the SHA-256 of the JSON; an index written
    before (a plain tokenizer.json) still loads, by itself and as a tokenizer spec."""
    tok = load_tokenizer(bpe_path)
    tok.save(tmp_path)
    assert not (tmp_path / "tokenizer.json").exists()
    saved = zstandard.ZstdDecompressor().decompress((tmp_path / "tokenizer.json.zst").read_bytes())
    assert b"\n" not in saved and len(saved) < len(tok.hf.to_str(pretty=True))
    info = json.loads((tmp_path / "corpustrace.json").read_text())
    assert info["tokenizer_sha256"] == hashlib.sha256(saved).hexdigest()
    assert Tokenizer.from_index_dir(tmp_path).hf.to_str() == tok.hf.to_str()
    for spec in (tmp_path, tmp_path / "tokenizer.json.zst"):
        assert load_tokenizer(spec).encode("The river").tolist() == tok.encode("The river").tolist()
    (tmp_path / "tokenizer.json").write_bytes(saved)
    (tmp_path / "tokenizer.json.zst").unlink()
    assert Tokenizer.from_index_dir(tmp_path).hf.to_str() == tok.hf.to_str()
    tok.save(tmp_path)  # saving again leaves one copy, the compressed one
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("tokenizer")) == [
        "tokenizer.json.zst"
    ]
