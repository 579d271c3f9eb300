"""`corpustrace eval` end to end on a bounded generated corpus: every number is computed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpustrace.cli import main
from corpustrace.eval.methods import METHODS, FactQuery, register_method


def test_eval_writes_results_and_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, md = tmp_path / "q.json", tmp_path / "q.md"
    args = ["eval", "--cases", "30", "--seeds", "2", "--per-frequency", "2", "--fillers", "30"]
    args += [
        "--corpus-docs",
        "120",
        "-o",
        str(out),
        "--markdown",
        str(md),
        "--workdir",
        str(tmp_path),
    ]
    assert main(args) == 0
    results = json.loads(out.read_text())
    prov = results["provenance"]["rankings"]
    assert set(prov) == {"coverage", "bm25", "olmotrace"}
    # The default's levels agree with the ground truth better than OLMoTrace's rerank.
    assert prov["coverage"]["level_accuracy"] > prov["olmotrace"]["level_accuracy"]
    assert 0 < prov["coverage"]["span_precision"] <= 1 and prov["coverage"]["mrr"] > 0.5
    facts = results["facts"]["methods"]
    assert set(METHODS) <= set(facts)
    assert facts["bm25_prompt_answer"]["all"]["mrr"][0] > facts["random"]["all"]["mrr"][0]
    assert set(facts["random"]) == {"1", "2", "4", "8", "16", "32", "all"}
    timing = results["provenance"]["lexical_timing"]
    assert timing["build_s"] > 0 and timing["query_ms"] > 0
    table = md.read_text()
    assert "| coverage |" in table and "f=32" in table and "rank_bm25" in table
    assert "| coverage |" in capsys.readouterr().out


def test_a_registered_method_is_benchmarked(tmp_path: Path) -> None:
    def last_documents(ctx):  # type: ignore[no-untyped-def]
        return lambda q: list(range(len(ctx.docs)))[::-1]

    register_method("reversed", last_documents)
    try:
        out = tmp_path / "q.json"
        args = ["eval", "--cases", "5", "--seeds", "1", "--per-frequency", "1", "--fillers", "5"]
        assert main([*args, "--corpus-docs", "30", "-o", str(out)]) == 0
        assert "reversed" in json.loads(out.read_text())["facts"]["methods"]
    finally:
        METHODS.pop("reversed")
    assert FactQuery("p", "a", "r").answer == "a"


def test_eval_refuses_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--seeds", "0"]) == 1
    assert "--seeds" in capsys.readouterr().err
    assert main(["eval", "--corpus", str(tmp_path / "missing.jsonl")]) == 1
