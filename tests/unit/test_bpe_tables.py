"""Byte-level BPE from the index's compact tables against `tokenizers` itself.

`tokenizers` (Rust) is the twin: for tokenizers of every shape the tables describe
(GPT-2's pre-tokenizer, a Llama-3-style split sequence with `ignore_merges`, NFC,
digit splits, literal splits, added tokens matched before and after normalization),
ids and character offsets must be identical on real text and on random text full of
multi-byte characters, odd white space and added-token contents. Tokenizers the
tables cannot describe exactly get none and are used through `tokenizers`.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import tokenizers
import zstandard
from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers

from corpustrace.bpe_tables import (
    PACKED_MAGIC,
    TABLES_FILE,
    BpeTables,
    tables_from_spec,
    why_not,
)
from corpustrace.errors import TokenizerError
from corpustrace.tokenizer import TablePieces, TokenBytes, Tokenizer

DATA = Path(__file__).parents[1] / "data"


def fixture_text() -> str:
    return (DATA / "sample.txt").read_text(encoding="utf-8")


LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
ODD = [
    "\u00e9",
    "e\u0301",
    "\u00f1",
    "\u4e2d",
    "\u6587",
    "\U0001f600",
    "\U0001f680",
    "\u0300",
    "\u00a0",
    "\u2028",
    "\u3000",
    "\u0085",
    "\x1c",
    "\u200b",
    "\ufeff",
    "\r\n",
    "\t",
    "\n\n",
    "  ",
    "'s",
    "'LL",
    "123456",
    "3.14",
    "\u0661\u0662",
    "\u00bd",
    "\u2167",
    "<|",
    "|>",
    "<|endoftext|>",
    "<tool>",
    "[x]",
    "\U0010ffff",
    "\ue000",
    "--",
    "...",
    "\u00df",
]


def training_text() -> list[str]:
    rng = random.Random(7)
    lines = fixture_text().splitlines()
    lines += ["".join(rng.choice(ODD) + rng.choice(" ab") for _ in range(30)) for _ in range(40)]
    return lines


def trained(
    pre: pre_tokenizers.PreTokenizer, normalizer: normalizers.Normalizer | None = None
) -> tokenizers.Tokenizer:
    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<|endoftext|>"],
        show_progress=False,
    )
    tok.train_from_iterator(training_text(), trainer=trainer)
    return tok


def edited(tok: tokenizers.Tokenizer, **model: object) -> tokenizers.Tokenizer:
    spec = json.loads(tok.to_str())
    spec["model"].update(model)
    return tokenizers.Tokenizer.from_str(json.dumps(spec))


def gpt2_style() -> tokenizers.Tokenizer:
    return trained(pre_tokenizers.ByteLevel(add_prefix_space=False))


def llama3_style() -> tokenizers.Tokenizer:
    split = pre_tokenizers.Split(tokenizers.Regex(LLAMA3_SPLIT), behavior="isolated")
    pre = pre_tokenizers.Sequence(
        [split, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    )
    tok = edited(trained(pre), ignore_merges=True)
    tok.add_tokens(
        [
            tokenizers.AddedToken("<tool>", normalized=False),
            tokenizers.AddedToken("[x]", normalized=True),
        ]
    )
    tok.add_special_tokens(["<|eot|>"])
    return tok


def nfc_style() -> tokenizers.Tokenizer:
    tok = trained(pre_tokenizers.ByteLevel(add_prefix_space=False), normalizers.NFC())
    tok.add_tokens([tokenizers.AddedToken("caf\u00e9", normalized=True)])
    return tok


def digits_style() -> tokenizers.Tokenizer:
    pre = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    return trained(pre)


def literal_split_style() -> tokenizers.Tokenizer:
    split = pre_tokenizers.Split("--", behavior="isolated")
    return trained(
        pre_tokenizers.Sequence([split, pre_tokenizers.ByteLevel(add_prefix_space=False)])
    )


STYLES = {
    "gpt2": gpt2_style,
    "llama3": llama3_style,
    "nfc": nfc_style,
    "digits": digits_style,
    "literal-split": literal_split_style,
}


def random_texts(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    words = fixture_text().split()
    out = [
        "",
        " ",
        "\n",
        "<|endoftext|>",
        "a<|endoftext|>b",
        "<tool><tool>",
        "[x]y",
        "caf\u00e9 cafe\u0301",
    ]
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 25)):
            kind = rng.random()
            if kind < 0.5:
                parts.append(rng.choice(words))
            elif kind < 0.85:
                parts.append(rng.choice(ODD))
            else:
                parts.append(chr(rng.randint(0x20, 0x2FFF)))
            parts.append(rng.choice(["", " ", " ", "  ", "\n", "\t"]))
        out.append("".join(parts))
    return out


def tables_of(hf: tokenizers.Tokenizer) -> BpeTables:
    spec = json.loads(hf.to_str())
    tables = tables_from_spec(spec, TokenBytes(hf, hf.get_vocab_size(with_added_tokens=True)).all())
    assert tables is not None, why_not(spec)
    return tables


def index_tokenizer(hf: tokenizers.Tokenizer, directory: Path) -> Tokenizer:
    Tokenizer(hf, "test").save(directory)
    return Tokenizer.from_index_dir(directory)


@pytest.mark.parametrize("style", sorted(STYLES))
def test_ids_and_offsets_equal_tokenizers(style: str, tmp_path: Path) -> None:
    hf = STYLES[style]()
    ours = index_tokenizer(hf, tmp_path)
    assert (tmp_path / TABLES_FILE).is_file()
    seed = sorted(STYLES).index(style)
    texts = [*random_texts(seed, 300), fixture_text(), Path(__file__).read_text()]
    for text in texts:
        want = hf.encode(text, add_special_tokens=False)
        ids, offsets = ours.encode_with_offsets(text)
        assert ids.tolist() == want.ids, text
        assert [tuple(o) for o in offsets] == [tuple(o) for o in want.offsets], text
        assert ours.encode(text).tolist() == want.ids
    if style != "nfc":  # NFC input that is not normalized goes through tokenizers
        assert ours._hf is None, "tokenizer.json was parsed"


def test_token_bytes_from_tables_equal_the_tokenizer(tmp_path: Path) -> None:
    hf = llama3_style()
    ours = index_tokenizer(hf, tmp_path)
    size = hf.get_vocab_size(with_added_tokens=True)
    assert ours.token_bytes == TokenBytes(hf, size).all()
    ids = hf.encode(fixture_text(), add_special_tokens=False).ids
    assert ours.decode(ids) == fixture_text()
    assert ours._hf is None


def test_joined_bytes_of_ids_equal_piece_by_piece(tmp_path: Path) -> None:
    """TablePieces.join (one numpy gather) against b"".join of each id's piece, and the
    dict-backed join of TokenBytes, on random ids, repeats, one id and none."""
    hf = llama3_style()
    size = hf.get_vocab_size(with_added_tokens=True)
    tables = TablePieces(tables_of(hf))
    slow = TokenBytes(hf, size)
    rng = random.Random(5)
    cases = [[], [0], [size - 1], [7] * 50]
    cases += [[rng.randrange(size) for _ in range(rng.randrange(1, 400))] for _ in range(40)]
    for ids in cases:
        want = [tables.tables.piece(i) for i in ids]
        for pieces in (tables, slow):
            raw, lengths = pieces.join(np.asarray(ids, dtype=np.int64))
            assert raw == b"".join(want)
            assert lengths.tolist() == [len(p) for p in want]
    for bad in ([size], [-1], [3, size + 5]):
        with pytest.raises(IndexError, match="outside the vocabulary"):
            tables.join(np.asarray(bad, dtype=np.int64))


def test_tables_are_written_the_same_every_time(tmp_path: Path) -> None:
    tables = tables_of(gpt2_style())
    tables.save(tmp_path / "a")
    tables_of(gpt2_style()).save(tmp_path / "b")
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()
    again = BpeTables.load(tmp_path / "a", tables.vocab_size)
    assert again.config == tables.config
    assert again.merges.tolist() == tables.merges.tolist()
    assert again.piece_bytes.tobytes() == tables.piece_bytes.tobytes()


def test_damaged_tables_are_refused(tmp_path: Path) -> None:
    tables = tables_of(gpt2_style())
    path = tmp_path / TABLES_FILE
    tables.save(path)
    raw = path.read_bytes()
    with pytest.raises(TokenizerError, match="ids, the tokenizer has"):
        BpeTables.load(path, tables.vocab_size + 1)
    assert raw.startswith(PACKED_MAGIC)  # compressed: zstd after the first line
    body = tables.to_bytes()  # the layout inside, which files first written hold as is
    for damaged in (raw[: len(raw) // 2], b"x" + raw[1:], raw[:40], body[:40], b"x" + body):
        path.write_bytes(damaged)
        with pytest.raises(TokenizerError, match="damaged tokenizer tables"):
            BpeTables.load(path, tables.vocab_size)
    path.write_bytes(body)
    assert BpeTables.load(path, tables.vocab_size).to_bytes() == body
    path.write_bytes(PACKED_MAGIC + zstandard.ZstdCompressor().compress(body[:-9]))
    with pytest.raises(TokenizerError, match="damaged tokenizer tables"):
        BpeTables.load(path, tables.vocab_size)
    merges = tables.merges.copy()
    merges[3, 2] = tables.vocab_size
    BpeTables(merges, tables.piece_offsets, tables.piece_bytes, tables.config).save(path)
    with pytest.raises(TokenizerError, match="outside the vocabulary"):
        BpeTables.load(path, tables.vocab_size)
    offsets = tables.piece_offsets.copy()
    offsets[5] = offsets[7]
    BpeTables(tables.merges, offsets, tables.piece_bytes, tables.config).save(path)
    with pytest.raises(TokenizerError, match="backwards"):
        BpeTables.load(path, tables.vocab_size)
    path.unlink()
    with pytest.raises(TokenizerError, match="cannot read"):
        BpeTables.load(path, tables.vocab_size)


def test_a_damaged_table_file_in_an_index_fails_the_first_encode(tmp_path: Path) -> None:
    ours = index_tokenizer(gpt2_style(), tmp_path)
    path = tmp_path / TABLES_FILE
    path.write_bytes(b"\0" * path.stat().st_size)
    with pytest.raises(TokenizerError, match="damaged tokenizer tables"):
        ours.encode("the river")


def metaspace() -> tokenizers.Tokenizer:
    tok = tokenizers.Tokenizer(
        models.BPE(vocab={"\u2581a": 0, "a": 1, "\u2581": 2}, merges=[("\u2581", "a")])
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    return tok


def with_pre(tok: tokenizers.Tokenizer, pre: pre_tokenizers.PreTokenizer) -> tokenizers.Tokenizer:
    tok.pre_tokenizer = pre
    return tok


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (metaspace, "decoder is not ByteLevel"),
        (lambda: edited(gpt2_style(), dropout=0.1), "dropout"),
        (lambda: edited(gpt2_style(), byte_fallback=True), "byte_fallback"),
        (
            lambda: with_pre(gpt2_style(), pre_tokenizers.ByteLevel(add_prefix_space=True)),
            "pre-tokenizer",
        ),
        (lambda: with_pre(gpt2_style(), pre_tokenizers.Whitespace()), "pre-tokenizer"),
        (lambda: with_lowercase(gpt2_style()), "normalizer"),
        (lambda: with_trimming(gpt2_style()), "trims offsets"),
        (lambda: with_lstrip(gpt2_style()), "lstrip"),
    ],
)
def test_tokenizers_the_tables_cannot_describe_get_none(
    make: object, reason: str, tmp_path: Path
) -> None:
    hf = make()  # type: ignore[operator]
    spec = json.loads(hf.to_str())
    assert reason in (why_not(spec) or "")
    assert (
        tables_from_spec(spec, TokenBytes(hf, hf.get_vocab_size(with_added_tokens=True)).all())
        is None
    )
    ours = index_tokenizer(hf, tmp_path)
    assert not (tmp_path / TABLES_FILE).exists()
    text = "a aa " + fixture_text()[:200]
    if reason != "dropout":  # dropout samples: no two encodings need agree
        assert ours.encode(text).tolist() == hf.encode(text, add_special_tokens=False).ids


def with_lowercase(tok: tokenizers.Tokenizer) -> tokenizers.Tokenizer:
    tok.normalizer = normalizers.Lowercase()
    return tok


def with_trimming(tok: tokenizers.Tokenizer) -> tokenizers.Tokenizer:
    from tokenizers import processors

    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    return tok


def with_lstrip(tok: tokenizers.Tokenizer) -> tokenizers.Tokenizer:
    tok.add_tokens([tokenizers.AddedToken("<pad>", lstrip=True)])
    return tok
