"""Defects a review found in the library: invalid text, token widths, K, escapes, env."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models, pre_tokenizers

from corpustrace.cli_trace import unescape
from corpustrace.engine import Engine
from corpustrace.errors import BuildError, QueryError
from corpustrace.index.builder import BuildOptions, build, scoped_env
from corpustrace.index.reader import Index
from corpustrace.index.writer import build_from_tokens
from corpustrace.tokenizer import Tokenizer, token_width
from corpustrace.tokenizer_load import load_tokenizer
from corpustrace.trace import TraceParams, trace
from corpustrace.trace.filter import spans_to_keep


def word_tokenizer(vocab_size: int) -> Tokenizer:
    vocab = {f"w{i}": i for i in range(vocab_size)}
    hf = HFTokenizer(models.WordLevel(vocab=vocab, unk_token="w0"))
    hf.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return Tokenizer(hf, "words")


# -- lone surrogates are a QueryError at the tokenizer ------------------------------------


@pytest.mark.parametrize("text", ["\ud800", "ok \udfff", "日本\ud83d語"])
def test_lone_surrogate_is_a_query_error(text: str, bpe_path: Path) -> None:
    for tok in (load_tokenizer("bytes"), load_tokenizer(bpe_path)):
        with pytest.raises(QueryError, match="lone surrogate"):
            tok.encode(text)
        with pytest.raises(QueryError, match="lone surrogate"):
            tok.encode_with_offsets(text)
    assert load_tokenizer("bytes").encode("日本 🌊").tolist() == list("日本 🌊".encode())


def test_trace_with_a_lone_surrogate_is_a_query_error(tmp_path: Path) -> None:
    tok = load_tokenizer("bytes")
    build_from_tokens(tmp_path, tok, [(tok.encode("the river begins"), {})])
    with Engine.open(tmp_path) as engine:
        with pytest.raises(QueryError):
            trace(engine, "the river \ud800")
        with pytest.raises(QueryError):
            trace(engine, "the river", params=TraceParams(delimiters=("\udc00",)))


# -- token widths: the separator is never a real id ---------------------------------------


def test_widths_leave_the_separator_free() -> None:
    sizes = (2, 255, 256, 65535, 65536, 200_000)
    assert [token_width(n) for n in sizes] == [1, 1, 2, 2, 4, 4]
    assert token_width(256, utf8_bytes=True) == 1  # 0xFF never occurs in UTF-8
    tok = load_tokenizer("bytes")
    assert (tok.width, tok.separator, tok.vocab_size) == (1, 255, 256)


@pytest.mark.parametrize(("vocab_size", "width"), [(255, 1), (256, 2), (65535, 2), (65536, 4)])
def test_the_largest_id_of_each_vocabulary_is_indexed(
    tmp_path: Path, vocab_size: int, width: int
) -> None:
    tok = word_tokenizer(vocab_size)
    assert tok.width == width and tok.separator >= vocab_size
    top = vocab_size - 1
    docs = [[top, 0, top], [1, top]]
    build_from_tokens(tmp_path, tok, [(d, {}) for d in docs])
    with Engine.open(tmp_path) as engine:
        assert engine.index.manifest.token_width == width
        assert engine.count([top]) == 3
        assert engine.count([0, top]) == 1


def test_build_from_tokens_checks_ids_against_the_vocabulary(tmp_path: Path) -> None:
    tok = word_tokenizer(300)
    with pytest.raises(BuildError, match=r"token id 300 is not in the vocabulary.*0\.\.299"):
        build_from_tokens(tmp_path / "a", tok, [([1, 2], {}), ([5, 300], {})])
    with pytest.raises(BuildError, match="token id -1"):
        build_from_tokens(tmp_path / "b", tok, [([-1], {})])
    with pytest.raises(BuildError, match="flat sequence of integers"):
        build_from_tokens(tmp_path / "c", tok, [([1.5], {})])
    with pytest.raises(BuildError, match="collides with the separator 255"):
        build_from_tokens(tmp_path / "d", load_tokenizer("bytes"), [([255], {})])


# -- K = ceil(d L) is at least one for any positive density -------------------------------


@pytest.mark.parametrize(
    ("n", "density", "k"), [(10, 1e-300, 1), (1, 5e-324, 1), (60, 0.05, 3), (0, 1e-300, 0)]
)
def test_tiny_density_keeps_one_span(n: int, density: float, k: int) -> None:
    assert spans_to_keep(n, density) == k


def test_trace_with_tiny_density_keeps_a_span(tmp_path: Path) -> None:
    tok = load_tokenizer("bytes")
    build_from_tokens(tmp_path, tok, [(tok.encode("the river begins here"), {})])
    with Engine.open(tmp_path) as engine:
        result = trace(engine, "the river begins", params=TraceParams(span_density=1e-300))
    assert len(result.spans) == 1


# -- CLI escapes keep non-ASCII text ------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "meant"),
    [
        ("。", "。"),
        ("\\n", "\n"),
        ("\\t。", "\t。"),
        ("\\x01", "\x01"),
        ("\\u3002", "。"),
        ("\\U0001F30A", "🌊"),
        ("\\\\", "\\"),
        ("é\\n", "é\n"),
        ("\\q", "\\q"),
        ("\\U00110000", "\\U00110000"),
    ],
)
def test_unescape_keeps_non_ascii(given: str, meant: str) -> None:
    assert unescape(given) == meant


# -- the build leaves the process environment as it found it ------------------------------


def test_scoped_env_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CT_TEST_VAR", raising=False)
    with scoped_env("CT_TEST_VAR", "3"):
        assert os.environ["CT_TEST_VAR"] == "3"
    assert "CT_TEST_VAR" not in os.environ
    monkeypatch.setenv("CT_TEST_VAR", "7")
    with pytest.raises(RuntimeError), scoped_env("CT_TEST_VAR", "2"):
        raise RuntimeError
    assert os.environ["CT_TEST_VAR"] == "7"
    with scoped_env("CT_TEST_VAR", None):
        assert os.environ["CT_TEST_VAR"] == "7"


@pytest.mark.parametrize("before", [None, "5"])
def test_build_with_workers_keeps_rayon_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, before: str | None
) -> None:
    if before is None:
        monkeypatch.delenv("RAYON_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("RAYON_NUM_THREADS", before)
    src = tmp_path / "c.txt"
    src.write_text("some text to index\n")
    build(BuildOptions([str(src)], tmp_path / "ix", "bytes", workers=2, quiet=True))
    assert os.environ.get("RAYON_NUM_THREADS") == before
    index = Index.open(tmp_path / "ix")
    assert np.asarray(index.unigram).sum() == index.total_tokens
