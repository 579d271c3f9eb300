"""One new process of `scripts/bench compare`: import one system, open its index, answer
one request, then more; prints times (ms) and /proc/self/status memory (KiB) as JSON.

It imports nothing but the standard library and the system under test, so the memory
it reports is that system's.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

GPT2_DELIMS = [13, 198]  # "." and "\n": OLMoTrace's delimiters
MAX_FREQUENCY = 1_000_000


def status_kib() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Import, open, first request, then `traces - 1` more; times in ms, memory in KiB."""
    t0 = time.perf_counter()
    res: dict[str, Any] = {}
    if spec["system"] == "ours":
        from corpustrace.engine import Engine
        from corpustrace.trace import trace

        t1 = time.perf_counter()
        engine = Engine.open(spec["index"])
        t2 = time.perf_counter()
        # The index's BPE tables when it has them, else tokenizer.json (parsed on first use).
        res["bpe_tables"] = engine.tokenizer.fast is not None
        if spec.get("tokenizer_first"):  # apart: what the first trace spends on it
            engine.tokenizer.warm()
            if not res["bpe_tables"]:
                _ = engine.tokenizer.hf
            res["tokenizer_ms"] = (time.perf_counter() - t2) * 1e3
            t2 = time.perf_counter()

        def request(i: int) -> Any:
            return trace(engine, spec["responses"][i % len(spec["responses"])])
    else:
        from infini_gram.engine import InfiniGramEngine

        t1 = time.perf_counter()
        ig = InfiniGramEngine(
            index_dir=spec["index"],
            eos_token_id=50256,
            vocab_size=50257,
            version=4,
            token_dtype="u16",
            bow_ids_path=spec["bow"],
        )
        t2 = time.perf_counter()

        def request(i: int) -> Any:
            ids = spec["ids"][i % len(spec["ids"])]
            return ig.engine.attribute(
                input_ids=ids,
                delim_ids=GPT2_DELIMS,
                min_len=1,
                max_cnt=MAX_FREQUENCY,
                enforce_bow=True,
            )

    first = spec["first"]
    request(first)
    t3 = time.perf_counter()
    later = []
    for i in range(1, spec["traces"]):
        t4 = time.perf_counter()
        request(first + i)
        later.append((time.perf_counter() - t4) * 1e3)
    later.sort()
    res.update(
        later_p50_ms=later[len(later) // 2] if later else None,
        import_ms=(t1 - t0) * 1e3,
        open_ms=(t2 - t1) * 1e3,
        first_ms=(t3 - t2) * 1e3,
        memory_kib=status_kib(),
        traces=spec["traces"],
    )
    return res


if __name__ == "__main__":
    print(json.dumps(worker(json.loads(Path(sys.argv[1]).read_text()))))
