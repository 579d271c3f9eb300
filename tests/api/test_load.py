"""100 concurrent traces against a real uvicorn server: every one answered correctly,
none lost, and /api/health keeps answering promptly while they run."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

import servertools
from corpustrace.engine.engine import Engine
from corpustrace.server import Settings, create_app
from corpustrace.trace import trace

REQUESTS = 100
TIME_LIMIT_S = 120
HEALTH_LIMIT_S = 2.0
ROOT = Path(__file__).parents[2]


def responses() -> list[str]:
    """100 different texts made of corpus sentences and new words (some repeated)."""
    sentences = [
        s.strip() + "."
        for text, _ in servertools.corpus()
        for s in text.split(". ")
        if len(s.strip()) > 20
    ]
    texts = []
    for i in range(REQUESTS):
        a, b = sentences[i % len(sentences)], sentences[(i * 7 + 3) % len(sentences)]
        texts.append(f"{a} Then, number {i % 90}, {b}")
    return texts


def comparable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in {"timings_ms", "cached"}}


async def load(url: str, texts: list[str]) -> tuple[list[httpx.Response], list[float]]:
    limits = httpx.Limits(max_connections=REQUESTS + 10, max_keepalive_connections=REQUESTS)
    health_latencies: list[float] = []
    async with (
        httpx.AsyncClient(base_url=url, timeout=TIME_LIMIT_S, limits=limits) as http,
        httpx.AsyncClient(base_url=url, timeout=TIME_LIMIT_S) as probe,
    ):
        done = asyncio.Event()

        async def watch_health() -> None:
            while not done.is_set():
                start = time.perf_counter()
                r = await probe.get("/api/health")
                assert r.status_code == 200
                health_latencies.append(time.perf_counter() - start)
                await asyncio.sleep(0.02)

        async def one(text: str) -> httpx.Response:
            return await http.post("/api/trace", json={"prompt": "about", "response": text})

        watcher = asyncio.create_task(watch_health())
        await asyncio.sleep(0.05)
        try:
            results = await asyncio.gather(*(one(t) for t in texts))
        finally:
            done.set()
            await watcher
    return list(results), health_latencies


def test_100_concurrent_traces(index_dir: Path) -> None:
    texts = responses()
    with Engine.open(index_dir) as engine:
        expected = {t: comparable(trace(engine, t, "about").to_dict()) for t in set(texts)}
    app = create_app(Settings(index=index_dir, workers=4))
    with servertools.live_server(app) as url:
        results, health = asyncio.run(asyncio.wait_for(load(url, texts), TIME_LIMIT_S))
    assert len(results) == REQUESTS
    for text, r in zip(texts, results, strict=True):
        assert r.status_code == 200, r.text
        assert comparable(r.json()) == expected[text]
    assert len(health) >= 3, "health was not probed during the load"
    assert max(health) < HEALTH_LIMIT_S, f"/api/health stalled: {max(health):.2f}s"
    print(f"{len(health)} health probes during the load, slowest {max(health) * 1000:.0f} ms")


def test_load_script(index_dir: Path) -> None:
    app = create_app(Settings(index=index_dir))
    with servertools.live_server(app) as url:
        run = subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "load_test.py"),
                "--url",
                url,
                "--concurrency",
                "8",
                "--count",
                "24",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "24/24 ok" in run.stdout
    refused = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "load_test.py"), "--url", "http://example.org"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "loopback" in refused.stderr
