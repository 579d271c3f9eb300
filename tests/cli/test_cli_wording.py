"""CLI details of issue 10, point 8: singular wording, stdin on a terminal, empty
responses, help text for every `serve` option."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

import servertools
from corpustrace.cli import main
from corpustrace.cli_common import plural
from corpustrace.tokenizer_load import load_tokenizer


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wording") / "index"
    docs = [("Only one line here about a quiet orchard.", {"id": "one", "title": "Orchard"})]
    return servertools.build_index(out, load_tokenizer("bytes"), docs)


def test_plural() -> None:
    assert [plural(n, "span") for n in (0, 1, 2, 1000)] == [
        "0 spans",
        "1 span",
        "2 spans",
        "1,000 spans",
    ]


def test_one_span_and_one_time_are_singular(
    index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    response = "a quiet orchard"
    assert main(["trace", str(index), "--response", response, "--color", "never"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^1 span, 1 document, ", out, re.M), out
    assert main(["ntd", str(index), "quiet orchar"]) == 0
    out = capsys.readouterr().out
    assert "1 spans" not in out and "1 times" not in out
    assert re.search(r"prompt occurs 1 time, last 12 tokens used", out), out


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_trace_on_a_terminal_says_it_reads_stdin(
    index: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", FakeTerminal("a quiet orchard"))
    assert main(["trace", str(index), "--color", "never"]) == 0
    captured = capsys.readouterr()
    assert "reading the response from standard input" in captured.err
    assert "orchard" in captured.out


@pytest.mark.parametrize("response", ["", "   \n"])
def test_empty_response_is_an_error(
    index: Path, response: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trace", str(index), "--response", response]) != 0
    err = capsys.readouterr().err
    assert "the response to trace is empty" in err


def test_every_serve_option_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = capsys.readouterr().out
    options = re.findall(r"^  (-{1,2}[\w-]+)(.*)$", text, re.M)
    assert len(options) >= 14
    for name, rest in options:
        assert rest.strip() or name == "-h", f"serve {name} has no help text"
    assert "--takedown" in text and "several" in text
