"""`corpustrace build | info | verify` as a user runs them, including killed builds."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from corpustrace.cli import main
from corpustrace.errors import IndexFormatError
from corpustrace.index import format as fmt
from corpustrace.index.reader import Index

WORDS = ["river", "mill", "bread", "fish", "snow", "water", "bridge", "village", "baker"]
WORDS += ["winter", "ünïcode", "🌊"]


def make_corpus(path: Path, docs: int, words: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(docs):
            text = " ".join(rng.choice(WORDS) for _ in range(words))
            fh.write(
                json.dumps({"text": text, "id": f"doc-{i}", "n": i}, ensure_ascii=False) + "\n"
            )
    return path


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corpustrace.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def shard_hashes(index_dir: Path) -> dict[str, str]:
    manifest = fmt.Manifest.load(index_dir)
    return {f"{s.name}/{k}": v.sha256 for s in manifest.shards for k, v in s.files.items()}


def test_build_info_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_corpus(tmp_path / "c.jsonl", 50, 20)
    assert main(["build", str(src), "--out", str(tmp_path / "ix"), "-t", "bytes", "-q"]) == 0
    assert "50 documents" in capsys.readouterr().out
    assert main(["info", str(tmp_path / "ix"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["documents"] == 50 and info["token_width"] == 1 and info["shards"] == 1
    assert info["bytes_per_token"] > 0
    described = {fmt.MANIFEST, fmt.SHARD_INFO}  # the JSON that records the others
    on_disk = [f for f in (tmp_path / "ix").rglob("*") if f.is_file() and f.name not in described]
    assert info["bytes"] == sum(f.stat().st_size for f in on_disk)  # every file is recorded
    assert main(["info", str(tmp_path / "ix")]) == 0
    assert "token width  1 bytes" in capsys.readouterr().out
    assert main(["verify", str(tmp_path / "ix")]) == 0
    assert "intact" in capsys.readouterr().out


@pytest.mark.parametrize("victim", ["sa", "tokens", "meta", "unigram"])
def test_verify_names_a_corrupted_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], victim: str
) -> None:
    src = make_corpus(tmp_path / "c.jsonl", 40, 15)
    main(["build", str(src), "--out", str(tmp_path / "ix"), "-t", "bytes", "-q"])
    path = tmp_path / "ix" / (victim if victim == "unigram" else f"shard-00000/{victim}")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "ix")]) == 1
    err = capsys.readouterr().err
    assert str(path) in err and "SHA-256" in err


def test_verify_catches_misordered_suffix_array(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = make_corpus(tmp_path / "c.jsonl", 40, 15)
    main(["build", str(src), "--out", str(tmp_path / "ix"), "-t", "bytes", "-q"])
    sa = tmp_path / "ix" / "shard-00000" / "sa"
    width = fmt.Manifest.load(tmp_path / "ix").shards[0].sa_width
    raw = bytearray(sa.read_bytes())
    raw[0:width], raw[-width:] = raw[-width:], raw[0:width]  # swap ranks 0 and last
    sa.write_bytes(bytes(raw))
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "ix"), "--no-hashes"]) == 1
    assert "out of order" in capsys.readouterr().err


def test_missing_file_and_unknown_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = make_corpus(tmp_path / "c.jsonl", 10, 5)
    main(["build", str(src), "--out", str(tmp_path / "ix"), "-t", "bytes", "-q"])
    (tmp_path / "ix" / "shard-00000" / "docs").unlink()
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "ix")]) == 1
    assert "docs: missing" in capsys.readouterr().err
    manifest = json.loads((tmp_path / "ix" / fmt.MANIFEST).read_text())
    manifest["format_version"] = 99
    (tmp_path / "ix" / fmt.MANIFEST).write_text(json.dumps(manifest))
    assert main(["info", str(tmp_path / "ix")]) == 1
    assert "format version 99 is not supported" in capsys.readouterr().err


def test_bad_line_exit_code_and_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text('{"text": "a"}\n[1, 2\n')
    assert main(["build", str(src), "--out", str(tmp_path / "ix"), "-t", "bytes", "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "bad.jsonl:2" in err and err.count("\n") == 1
    args = [
        "build",
        str(src),
        "--out",
        str(tmp_path / "ok"),
        "-t",
        "bytes",
        "-q",
        "--skip-bad-lines",
    ]
    assert main(args) == 0
    assert "skipped 1 malformed lines" in capsys.readouterr().err


def wait_for(path: Path, proc: subprocess.Popen[str], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, "build ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.005)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_interrupted_build_resumes_to_the_same_index(tmp_path: Path, sig: signal.Signals) -> None:
    src = make_corpus(tmp_path / "c.jsonl", 3000, 120)
    args = [str(src), "--out", str(tmp_path / "ix"), "-t", "bytes", "--shard-tokens", "40000", "-q"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "corpustrace.cli", "build", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(tmp_path / "ix" / "shard-00002" / fmt.SHARD_INFO, proc)
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "resume" in err
    assert not (tmp_path / "ix" / fmt.MANIFEST).exists()
    with pytest.raises(IndexFormatError, match="resume"):
        Index.open(tmp_path / "ix")
    assert cli("info", str(tmp_path / "ix")).returncode == 1
    resumed = cli("build", *args)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed" in resumed.stdout
    clean = cli("build", *args[:1], "--out", str(tmp_path / "clean"), *args[3:])
    assert clean.returncode == 0
    assert shard_hashes(tmp_path / "ix") == shard_hashes(tmp_path / "clean")
    assert cli("verify", str(tmp_path / "ix")).returncode == 0
