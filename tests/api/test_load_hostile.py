"""Issue 9, done-when: issue 9's hostile trace, 6 at once, next to ordinary traffic on a
real server process: every ordinary trace is answered, the hostile ones are refused (or,
at the server's own limits, stopped by the time limit), and memory stays bounded."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

import servertools
from corpustrace.tokenizer_load import load_tokenizer

ROOT = Path(__file__).parents[2]
RSS_GROWTH_LIMIT_MIB = 400


@pytest.fixture(scope="module")
def mixed_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("load-hostile") / "index"
    docs = servertools.corpus() + servertools.repeated_corpus()
    return servertools.build_index(out, load_tokenizer("bytes"), docs)


@contextmanager
def server_process(index: Path, **env: str) -> Iterator[tuple[str, int]]:
    sock = servertools.free_socket()
    port = sock.getsockname()[1]
    sock.close()
    environ = {**os.environ, **{f"CORPUSTRACE_{k.upper()}": v for k, v in env.items()}}
    cmd = [sys.executable, "-m", "corpustrace.cli", "serve", str(index), "--port", str(port)]
    proc = subprocess.Popen(cmd, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(15)


def run_load(url: str, pid: int, sizes: str = "huge", hostile: int = 6, ok: bool = True) -> str:
    cmd = [
        sys.executable,
        str(ROOT / "scripts" / "load_test.py"),
        "--url", url,
        "--concurrency", "8",
        "--count", "24",
        "--hostile", str(hostile),
        "--hostile-sizes", sizes,
        "--pid", str(pid),
    ]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    print(run.stdout, run.stderr[-2000:])
    if ok:
        assert run.returncode == 0, run.stdout + run.stderr
        assert "24/24 ok" in run.stdout
    return run.stdout


def rss_growth(report: str) -> float:
    found = re.search(r"before (\d+) MiB, peak (\d+) MiB, after (\d+) MiB", report)
    assert found, report
    before, peak, _ = (int(x) for x in found.groups())
    return peak - before


def test_hostile_traces_are_refused_next_to_ordinary_traffic(mixed_index: Path) -> None:
    with server_process(mixed_index) as (url, pid):
        report = run_load(url, pid, "huge")
    assert "6 answered [413]" in report
    assert rss_growth(report) < RSS_GROWTH_LIMIT_MIB


def test_hostile_traces_at_the_limits_are_stopped_by_the_time_limit(mixed_index: Path) -> None:
    """At the server's own size limits each hostile trace costs minutes of CPU (step 1 on
    20,000 characters of repeated text). Six distinct ones fill the four workers until
    the 4 s limit stops them, so ordinary traces queued behind may time out too; right
    after, the pool is free and every ordinary trace is answered, memory bounded."""
    with server_process(mixed_index, request_timeout_s="4", workers="4") as (url, pid):
        report = run_load(url, pid, "limits", ok=False)
        assert "6 answered [504]" in report
        assert rss_growth(report) < RSS_GROWTH_LIMIT_MIB
        after = run_load(url, pid, hostile=0)
    assert rss_growth(after) < RSS_GROWTH_LIMIT_MIB
