#!/usr/bin/env python3
"""Load-test a running corpustrace server: many concurrent POST /api/trace requests.

    .venv/bin/python scripts/load_test.py --url http://127.0.0.1:8000 --concurrency 100 --count 500

Sends `--count` traces with at most `--concurrency` in flight, while probing
/api/health every 50 ms; prints latency percentiles and exits 1 when any request
failed or was lost. Only loopback URLs unless --allow-remote (do not load-test
servers that are not yours).

`--hostile N` also sends, at the start, N at once of the hostile trace of issue 9
(20,000 characters of one repeated sentence, one span of the whole text, every size
parameter huge: the server must refuse it), or with `--hostile-sizes limits` the same
with every size at the server's own limits (read from /api/info: real work, stopped by
the request time limit). Their answers are reported, not counted as failures; the
ordinary traces must all still succeed. A 503 "overloaded" answer (the server's queue
was full; it carries Retry-After) counts as answered, not lost: it is reported apart.
`--pid` (the server's process, on this machine) reports its resident memory before,
at its peak during, and after the load.
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
SENTENCE = "The quick brown fox jumps over the lazy dog. "
HOSTILE_OPTIONS = {
    "span_density": 1,
    "delimiters": ["\u0001"],
    "word_boundaries": False,
    "max_documents_per_span": 1_000_000,
    "context_tokens": 10_000_000,
    "snippet_tokens": 10_000_000,
}
SIZE_LIMITS = ("max_documents_per_span", "context_tokens", "snippet_tokens")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:8000", help="server base URL")
    p.add_argument("--concurrency", type=int, default=100, help="requests in flight at once")
    p.add_argument("--count", type=int, default=100, help="requests in all")
    p.add_argument("--text", type=Path, default=SAMPLE, help="file whose lines become responses")
    p.add_argument("--token", help="API token (CORPUSTRACE_API_TOKEN of the server)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback URL")
    p.add_argument("--hostile", type=int, default=0, help="hostile traces sent at once")
    p.add_argument(
        "--hostile-sizes",
        choices=["huge", "limits"],
        default="huge",
        help="sizes of the hostile traces: the issue's, or the server's own limits",
    )
    p.add_argument("--pid", type=int, help="server process id: report its resident memory")
    args = p.parse_args(argv)
    if args.concurrency < 1 or args.count < 1 or args.hostile < 0:
        p.error("--concurrency and --count must be at least 1, --hostile at least 0")
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


def rss_mib(pid: int | None) -> float | None:
    """Resident memory of a process on this machine (Linux /proc), in MiB."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def hostile_body(http: httpx.AsyncClient, sizes: str) -> dict[str, object]:
    options: dict[str, object] = dict(HOSTILE_OPTIONS)
    if sizes == "limits":
        limits = (await http.get("/api/info")).json()["limits"]
        options.update({name: limits["max_" + name.removeprefix("max_")] for name in SIZE_LIMITS})
    return {"response": (SENTENCE * 500)[:20_000], **options}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def run(args: argparse.Namespace) -> int:
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    limits = httpx.Limits(max_connections=args.concurrency + 5)
    gate = asyncio.Semaphore(args.concurrency)
    latencies: list[float] = []
    failures: list[str] = []
    refused: list[str] = []  # 503 overloaded, with the Retry-After it sent
    health: list[float] = []
    hostile: list[tuple[int, float]] = []  # (status, seconds)
    rss = {"before": rss_mib(args.pid), "peak": rss_mib(args.pid)}
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
                if r.status_code == 503 and r.json().get("error", {}).get("code") == "overloaded":
                    refused.append(r.headers.get("retry-after", "?"))
                    return
                latencies.append(time.perf_counter() - start)
                if r.status_code != 200 or "spans" not in r.json():
                    failures.append(f"{r.status_code}: {r.text[:200]}")

        async def attack(body: dict[str, object]) -> None:
            start = time.perf_counter()
            try:
                r = await http.post("/api/trace", json=body)
                hostile.append((r.status_code, time.perf_counter() - start))
            except httpx.HTTPError:
                hostile.append((0, time.perf_counter() - start))

        async def watch() -> None:
            while not done.is_set():
                now = rss_mib(args.pid)
                if now is not None and (rss["peak"] or 0) < now:
                    rss["peak"] = now
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
        attackers = []
        if args.hostile:
            body = await hostile_body(http, args.hostile_sizes)
            # Distinct seeds: distinct requests, so the server cannot share one computation.
            attackers = [
                asyncio.create_task(attack({**body, "seed": i})) for i in range(args.hostile)
            ]
            await asyncio.sleep(0.05)  # they reach the server first
        started = time.perf_counter()
        await asyncio.gather(*(one(t) for t in texts(args.text, args.count)))
        elapsed = time.perf_counter() - started
        await asyncio.gather(*attackers)
        done.set()
        await watcher

    ok = len(latencies) - sum(1 for f in failures if not f.startswith("health"))
    print(
        f"{ok}/{args.count} ok in {elapsed:.1f}s ({args.count / elapsed:.1f} req/s), "
        f"concurrency {args.concurrency}"
    )
    if refused:
        print(f"{len(refused)} refused with 503 overloaded (Retry-After {sorted(set(refused))})")
    if latencies:
        print(
            f"trace latency: median {statistics.median(latencies) * 1000:.0f} ms, "
            f"p95 {percentile(latencies, 0.95) * 1000:.0f} ms, "
            f"max {max(latencies) * 1000:.0f} ms"
        )
    if health:
        print(
            f"/api/health during the load: {len(health)} probes, median "
            f"{statistics.median(health) * 1000:.0f} ms, max {max(health) * 1000:.0f} ms"
        )
    if hostile:
        statuses = sorted({status for status, _ in hostile})
        slowest = max(seconds for _, seconds in hostile)
        print(
            f"hostile traces ({args.hostile_sizes} sizes): {len(hostile)} answered "
            f"{statuses}, slowest {slowest * 1000:.0f} ms"
        )
    after = rss_mib(args.pid)
    if after is not None:
        print(
            f"server RSS: before {rss['before']:.0f} MiB, peak {rss['peak']:.0f} MiB, "
            f"after {after:.0f} MiB"
        )
    for failure in failures[:10]:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures or ok + len(refused) != args.count else 0


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
