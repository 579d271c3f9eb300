"""Tokenizer loading, widths, and exact decoding with character offsets."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from corpustrace.errors import TokenizerError
from corpustrace.tokenizer import Tokenizer, token_width
from corpustrace.tokenizer_load import load_tokenizer

TEXTS = [
    "",
    "a",
    "The river begins.",
    "héllo wörld",
    "日本語の文章",
    "🌊🐟 emoji",
    "tab\tand\nnewline",
]


def test_widths() -> None:
    assert [token_width(n) for n in (2, 255, 256, 65535, 65536, 200_000)] == [1, 1, 2, 2, 4, 4]
    tok = load_tokenizer("bytes")
    assert (tok.width, tok.separator, tok.vocab_size) == (1, 255, 256)


@pytest.mark.parametrize("text", TEXTS)
def test_bytes_round_trip_and_offsets(text: str) -> None:
    tok = load_tokenizer("bytes")
    ids, offsets = tok.encode_with_offsets(text)
    assert bytes(ids.tolist()) == text.encode()
    assert tok.hf.encode(text).ids == ids.tolist()  # the saved tokenizer.json agrees
    assert tok.decode(ids) == text
    assert len(offsets) == len(ids)


@pytest.mark.parametrize("text", TEXTS)
def test_bpe_round_trip(bpe_path: Path, text: str) -> None:
    tok = load_tokenizer(bpe_path)
    ids, offsets = tok.encode_with_offsets(text)
    decoded, bounds = tok.decode_with_offsets(ids)
    assert decoded == text
    assert bounds[0] == 0 and bounds[-1] == len(text)
    for (a, b), lo, hi in zip(offsets, bounds, bounds[1:], strict=False):
        assert text[a:b] == decoded[lo:hi] or lo == hi or a == b


def test_fast_offsets_equal_incremental_decoder(bpe_path: Path, sample_text: str) -> None:
    rng = random.Random(0)
    for tok in (load_tokenizer("bytes"), load_tokenizer(bpe_path)):
        ids = tok.encode(sample_text)
        for _ in range(300):
            a = rng.randrange(len(ids))
            window = ids[a : a + rng.randrange(60)]  # may start or end inside a character
            assert tok.decode_with_offsets(window) == tok._decode_with_offsets_slow(window)


def test_vocab_merges_directory_and_errors(tmp_path: Path, bpe_path: Path) -> None:
    spec = json.loads(bpe_path.read_text())
    (tmp_path / "vocab.json").write_text(json.dumps(spec["model"]["vocab"]))
    merges = spec["model"]["merges"]
    lines = [m if isinstance(m, str) else " ".join(m) for m in merges]
    (tmp_path / "merges.txt").write_text("#version: 0.2\n" + "\n".join(lines) + "\n")
    from_dir = load_tokenizer(tmp_path)
    from_file = load_tokenizer(bpe_path)
    text = "The mill was built in the eighteenth century."
    assert from_dir.encode(text).tolist() == from_file.encode(text).tolist()
    with pytest.raises(TokenizerError, match="no such tokenizer"):
        load_tokenizer(tmp_path / "missing" / "tokenizer.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(TokenizerError, match=r"not a tokenizer\.json"):
        load_tokenizer(tmp_path / "bad.json")


def test_saved_tokenizer_reloads(tmp_path: Path, bpe_path: Path) -> None:
    tok = load_tokenizer(bpe_path)
    tok.save(tmp_path)
    again = Tokenizer.from_index_dir(tmp_path)
    assert again.describe() == tok.describe()
    assert again.token_bytes == tok.token_bytes


def write_gguf(path: Path, bpe_path: Path, model: str = "gpt2", pre: str = "gpt2") -> Path:
    """A GGUF file holding only the fixture BPE's vocabulary and merges (no tensors)."""
    import gguf

    spec = json.loads(bpe_path.read_text())
    vocab = sorted(spec["model"]["vocab"].items(), key=lambda kv: kv[1])
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
    specials = {t["content"] for t in spec["added_tokens"]}
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tokenizer_model(model)
    writer.add_tokenizer_pre(pre)
    writer.add_token_list([t for t, _ in vocab])
    writer.add_token_types([3 if t in specials else 1 for t, _ in vocab])
    writer.add_token_merges(merges)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_gguf_vocabulary_loads_without_torch(tmp_path: Path, bpe_path: Path) -> None:
    from_gguf = load_tokenizer(write_gguf(tmp_path / "m.gguf", bpe_path))
    reference = load_tokenizer(bpe_path)
    text = "The river begins as a thin line of melt water. Café « river » 🌊<|endoftext|>"
    assert from_gguf.encode(text).tolist() == reference.encode(text).tolist()
    assert from_gguf.decode(from_gguf.encode(text)) == text
    assert load_tokenizer(tmp_path).vocab_size == reference.vocab_size  # a directory with it
    digits = load_tokenizer(write_gguf(tmp_path / "d.gguf", bpe_path, pre="smollm"))
    assert len(digits.encode("2024")) == 4  # smollm splits digits one by one
    with pytest.raises(TokenizerError, match="not supported"):
        load_tokenizer(write_gguf(tmp_path / "spm.gguf", bpe_path, model="llama"))
    (tmp_path / "junk.gguf").write_bytes(b"not a gguf file")
    with pytest.raises(TokenizerError, match="not a readable GGUF"):
        load_tokenizer(tmp_path / "junk.gguf")
