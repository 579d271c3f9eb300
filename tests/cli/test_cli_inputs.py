"""The command line with awkward input: non-ASCII delimiters, text that is not Unicode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpustrace.cli import main


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-inputs")
    src = root / "c.jsonl"
    lines = [
        {"text": "川は山から始まる。水は冷たい。", "id": "ja"},
        {"text": "the river", "id": "en"},
    ]
    src.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), "utf-8")
    assert main(["build", str(src), "--out", str(root / "ix"), "-t", "bytes", "-q"]) == 0
    return root / "ix"


def test_non_ascii_delimiter_is_kept(index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    argv = ["trace", str(index), "--response", "川は山から始まる。水は冷たい。", "--json"]
    assert main([*argv, "--delimiters", "。", "\\n", "--span-density", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["params"]["delimiters"] == ["。", "\n"]
    # every span is cut after the first 。 it holds
    assert data["spans"] and all(s["text"].count("。") <= 1 for s in data["spans"])
    assert all(not s["text"].rstrip("。").count("。") for s in data["spans"])


@pytest.mark.parametrize("command", ["count", "ntd"])
def test_text_that_is_not_unicode_is_an_error(
    index: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    capsys.readouterr()
    # An argument holding invalid UTF-8 reaches Python as a lone surrogate (PEP 383).
    assert main([command, str(index), "river \udcff"]) == 1
    assert "lone surrogate" in capsys.readouterr().err


def test_trace_of_text_that_is_not_unicode_is_an_error(
    index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["trace", str(index), "--response", "the \udcff river"]) == 1
    assert "lone surrogate" in capsys.readouterr().err
