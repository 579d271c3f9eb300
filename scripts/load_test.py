#!/usr/bin/env python3
"""Load-test a running corpustrace server: many concurrent POST /api/trace requests.

    .venv/bin/python scripts/load_test.py --url http://127.0.0.1:8000 --concurrency 100 --count 500

Sends `--count` traces with at most `--concurrency` in flight, while probing
/api/health every 50 ms; prints latency percentiles and exits 1 when any request
failed or was lost. Only loopback URLs unless --allow-remote (do not load-test
servers that are not yours).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

SAMPLE = Path(__file__).resolve().parents[1] / "tests" / "data" / "sample.txt"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:8000", help="server base URL")
    p.add_argument("--concurrency", type=int, default=100, help="requests in flight at once")
    p.add_argument("--count", type=int, default=100, help="requests in all")
    p.add_argument("--text", type=Path, default=SAMPLE, help="file whose lines become responses")
    p.add_argument("--token", help="API token (CORPUSTRACE_API_TOKEN of the server)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback URL")
    args = p.parse_args(argv)
    if args.concurrency < 1 or args.count < 1:
        p.error("--concurrency and --count must be at least 1")
    return args


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def texts(path: Path, count: int) -> list[str]:
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line] or ["The river begins in the mountains."]
    # Vary every request so that the server's cache does not answer them all.
    return [f"{lines[i % len(lines)][:600]} ({i})" for i in range(count)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def run(args: argparse.Namespace) -> int:
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    limits = httpx.Limits(max_connections=args.concurrency + 5)
    gate = asyncio.Semaphore(args.concurrency)
    latencies: list[float] = []
    failures: list[str] = []
    health: list[float] = []
    done = asyncio.Event()

    async with (
        httpx.AsyncClient(
            base_url=args.url, headers=headers, timeout=args.timeout, limits=limits
        ) as http,
        httpx.AsyncClient(base_url=args.url, timeout=args.timeout) as probe,
    ):

        async def one(text: str) -> None:
            async with gate:
                start = time.perf_counter()
                try:
                    r = await http.post("/api/trace", json={"response": text})
                except httpx.HTTPError as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")
                    return
                latencies.append(time.perf_counter() - start)
                if r.status_code != 200 or "spans" not in r.json():
                    failures.append(f"{r.status_code}: {r.text[:200]}")

        async def watch() -> None:
            while not done.is_set():
                start = time.perf_counter()
                try:
                    r = await probe.get("/api/health")
                    if r.status_code != 200:
                        failures.append(f"health {r.status_code}")
                except httpx.HTTPError as exc:
                    failures.append(f"health: {exc}")
                health.append(time.perf_counter() - start)
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch())
        started = time.perf_counter()
        await asyncio.gather(*(one(t) for t in texts(args.text, args.count)))
        elapsed = time.perf_counter() - started
        done.set()
        await watcher

    ok = len(latencies) - sum(1 for f in failures if not f.startswith("health"))
    print(
        f"{ok}/{args.count} ok in {elapsed:.1f}s ({args.count / elapsed:.1f} req/s), "
        f"concurrency {args.concurrency}"
    )
    if latencies:
        print(
            f"trace latency: median {statistics.median(latencies) * 1000:.0f} ms, "
            f"p95 {percentile(latencies, 0.95) * 1000:.0f} ms, "
            f"max {max(latencies) * 1000:.0f} ms"
        )
    if health:
        print(f"/api/health during the load: {len(health)} probes, max {max(health) * 1000:.0f} ms")
    for failure in failures[:10]:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures or ok != args.count else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.allow_remote and not is_loopback(args.url):
        print(
            f"{args.url}: not a loopback address; pass --allow-remote to load-test it",
            file=sys.stderr,
        )
        return 2
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
