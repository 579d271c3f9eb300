"""`corpustrace count | ntd | prob | search | doc | trace` against the library and brute force."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpustrace.cli import main
from corpustrace.engine import Engine

DOCS = [
    "The river begins as a thin line of melt water. The mill was built by weavers.",
    "Every autumn the village holds a market beside the river.",
    "The river begins as a thin line of melt water high in the mountains.",
    "<script>alert('x')</script> and ünïcode 🌊 text.",
    "",
]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, bpe_path: Path) -> Path:
    root = tmp_path_factory.mktemp("cliq")
    src = root / "c.jsonl"
    src.write_text(
        "".join(
            json.dumps({"text": t, "id": f"d{i}", "title": f"Doc {i}"}) + "\n"
            for i, t in enumerate(DOCS)
        ),
        encoding="utf-8",
    )
    assert main(["build", str(src), "--out", str(root / "ix"), "-t", str(bpe_path), "-q"]) == 0
    return root / "ix"


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def brute_text_count(text: str) -> int:
    return sum(d.count(text) for d in DOCS)


def test_count_json(index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    engine = Engine.open(index)
    for text in ["The river begins", "river", "melt water", "absent phrase xyz", "🌊"]:
        data = run_json(capsys, "count", str(index), text, "--json")
        assert isinstance(data, dict)
        assert data["tokens"] == engine.tokenizer.encode(text).tolist()
        assert data["count"] == engine.count(data["tokens"])
    data = run_json(capsys, "count", str(index), "The river begins as a thin line", "--json")
    assert isinstance(data, dict) and data["count"] == brute_text_count(
        "The river begins as a thin line"
    )


def test_ntd_prob_search_doc(index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ntd = run_json(capsys, "ntd", str(index), "The river", "--json")
    assert isinstance(ntd, dict) and ntd["prompt_count"] >= 2
    assert abs(sum(e["prob"] for e in ntd["entries"]) - 1) < 1e-9
    prob = run_json(capsys, "prob", str(index), "The river", " begins", "--json")
    assert isinstance(prob, dict) and prob["count"] == 2
    inf = run_json(capsys, "prob", str(index), "zzqx The river", " begins", "--infgram", "--json")
    assert isinstance(inf, dict) and inf["suffix_len"] >= 1 and inf["prob"] is not None
    hits = run_json(capsys, "search", str(index), " melt water", "--json")
    assert isinstance(hits, dict) and hits["count"] == 2
    for hit in hits["hits"]:
        assert hit["text"][hit["match_char_start"] : hit["match_char_end"]] == " melt water"
    doc = run_json(capsys, "doc", str(index), "3", "--json")
    assert isinstance(doc, dict) and doc["text"] == DOCS[3] and doc["meta"]["id"] == "d3"
    capsys.readouterr()
    assert main(["doc", str(index), "99"]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_trace_json_and_exact_maximal_spans(
    index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    response = "The river begins as a thin line of melt water in the mountains."
    data = run_json(capsys, "trace", str(index), "--response", response, "--json")
    assert isinstance(data, dict)
    assert set(data) >= {"tokens", "spans", "highlights", "documents", "timings_ms"}
    assert data["spans"] and all(
        response[s["char_start"] : s["char_end"]] == s["text"] for s in data["spans"]
    )
    raw = run_json(
        capsys,
        "trace",
        str(index),
        "--response",
        response,
        "--json",
        "--span-density",
        "1",
        "--delimiters",
        "",
        "--no-word-boundaries",
        "--no-leading-space",
    )
    assert isinstance(raw, dict)
    assert raw["params"]["delimiters"] == [] and raw["params"]["word_boundaries"] is False
    engine = Engine.open(index)
    ids = engine.tokenizer.encode(response).tolist()
    lengths = engine.longest_prefixes(ids).tolist()
    intervals = {(i, i + n) for i, n in enumerate(lengths) if n > 0}
    maximal = {
        a for a in intervals if not any(b != a and b[0] <= a[0] and a[1] <= b[1] for b in intervals)
    }
    assert {(s["start"], s["end"]) for s in raw["spans"]} == maximal


def test_trace_terminal_view_and_stdin(
    index: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("Every autumn the village holds a market."))
    capsys.readouterr()
    assert main(["trace", str(index), "--color", "never"]) == 0
    out = capsys.readouterr().out
    assert "[[" in out and "Doc 1" in out


def test_trace_batch(index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = tmp_path / "eval.jsonl"
    batch.write_text(
        json.dumps({"id": "a", "response": "The mill was built by weavers."})
        + "\n\n"
        + json.dumps({"response": "Nothing here matches at all, qqq.", "prompt": "hi"})
        + "\n"
    )
    out = tmp_path / "out.jsonl"
    assert main(["trace", str(index), "--batch", str(batch), "-o", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r.get("id") for r in rows] == ["a", None] and [r["line"] for r in rows] == [1, 3]
    assert rows[0]["spans"] and rows[1]["prompt"] == "hi"
    assert "traced 2 responses" in capsys.readouterr().err
    batch.write_text('{"response": "ok"}\n{"prompt": "no response"}\n')
    assert main(["trace", str(index), "--batch", str(batch)]) == 1
    assert "eval.jsonl:2" in capsys.readouterr().err


def test_bad_parameter_is_an_error(index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["trace", str(index), "--response", "x", "--span-density", "2"]) == 1
    assert "span_density" in capsys.readouterr().err
