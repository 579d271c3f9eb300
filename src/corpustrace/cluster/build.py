"""`corpustrace build ... --ray ADDRESS`: the index built as Ray tasks, one per partition.

The inputs (files, in the order the local build reads them) are split into contiguous
partitions of about equal bytes. Each partition is one Ray task that tokenizes its
documents, sorts and writes its shards (the local build's writer) into its own
directory, reserving the memory the local build would need for one shard
(`shard_tokens_for`, inverted), so a node never runs more tasks than fit. A task resumes
after its last complete shard, so a retried or re-run task never rebuilds a finished
shard; a finished partition is skipped. At the end the driver renumbers the shards in
partition order (so documents keep the local build's order and global numbers) and
writes the unigram table, the tokenizer and the manifest once. The directory `out` must
be one every node can write (a shared file system).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import ray

from corpustrace.cluster.errors import ClusterError
from corpustrace.cluster.ray_engine import connect
from corpustrace.corpus import ReadStats, Source, expand_inputs, iter_documents
from corpustrace.errors import BuildError, CorpusTraceError
from corpustrace.index import format as fmt
from corpustrace.index.builder import (
    BYTES_PER_POSITION,
    FIXED_OVERHEAD,
    BuildOptions,
    BuildResult,
    _match_params,
    _refuse_output_inside_inputs,
    _resolve_tokenizer,
    _tokenized,
    shard_tokens_for,
)
from corpustrace.index.progress import Progress
from corpustrace.index.writer import complete_shards, finish_index, write_shards
from corpustrace.tokenizer_load import load_tokenizer

PARTS = ".ray-parts"  # partitions being built, inside the output directory
DONE = "done.json"


def partitions_of(sources: Sequence[Source], count: int) -> list[list[int]]:
    """Contiguous runs of source indices, about equal in bytes, at most `count` of them."""
    sizes = [max(1, s.path.stat().st_size) for s in sources]
    total, count = sum(sizes), max(1, min(count, len(sources)))
    parts: list[list[int]] = [[]]
    acc = 0
    for i, size in enumerate(sizes):
        if parts[-1] and acc >= total * len(parts) / count and len(parts) < count:
            parts.append([])
        parts[-1].append(i)
        acc += size
    return parts


def build_partition(
    part: str,
    sources: list[Source],
    tokenizer_spec: str,
    text_field: str,
    skip_bad_lines: bool,
    per_shard: int,
) -> dict[str, Any]:
    """Build (or finish) one partition's shards in `part`; returns its done record."""
    out = Path(part)
    if (out / DONE).is_file():
        done: dict[str, Any] = orjson.loads((out / DONE).read_bytes())
        return done
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer(tokenizer_spec)
    finished = complete_shards(out, 0)  # half-written shards are removed here
    start = (0, 0)
    if finished:
        start = (int(finished[-1].source_end["source"]), int(finished[-1].source_end["record"]))
    stats = ReadStats()
    docs = iter_documents(
        sources, text_field=text_field, skip_bad_lines=skip_bad_lines, stats=stats, start=start
    )
    write_shards(
        _tokenized(docs, tokenizer),
        tokenizer,
        out,
        len(finished),
        per_shard,
        Progress(quiet=True),
        {},
    )
    record = {
        "shards": [s.name for s in complete_shards(out, 0)],
        "stats": {
            "bad_lines": stats.bad_lines,
            "bad_line_examples": stats.bad_line_examples[:5],
            "binary_files": stats.binary_files,
        },
    }
    fmt.write_json_atomic(out / DONE, record)
    return record


def build_on_ray(
    opts: BuildOptions, address: str, partitions: int | None = None, task_cpus: float = 1.0
) -> BuildResult:
    """Build the index `opts` describes on the Ray cluster at `address` (new indexes only)."""
    started = time.monotonic()
    if opts.append:
        raise BuildError("--append is not supported with --ray: build the new part locally")
    out = Path(opts.out).absolute()
    sources = expand_inputs(opts.inputs)
    _refuse_output_inside_inputs(out, sources)
    tokenizer = _resolve_tokenizer(opts, None)
    match = _match_params(sources, tokenizer, opts)
    if (out / fmt.MANIFEST).is_file():
        base = fmt.Manifest.load(out)
        runs = base.build.get("runs") or []
        if len(runs) == 1 and runs[0].get("match") == match:
            return BuildResult(
                out,
                0,
                len(base.shards),
                base.total_documents,
                base.total_tokens,
                0.0,
                already_complete=True,
            )
        raise BuildError(f"{out} already holds an index")
    connect(address)
    max_memory = opts.max_memory or (8 << 30)
    per_shard = opts.shard_tokens or shard_tokens_for(max_memory, tokenizer.width)
    parts_dir = out / PARTS
    plan = _load_or_make_plan(parts_dir, match, sources, partitions, per_shard)
    spec = str(opts.tokenizer)
    if Path(spec).expanduser().exists():
        spec = str(Path(spec).expanduser().absolute())
    memory = FIXED_OVERHEAD + BYTES_PER_POSITION * tokenizer.width * plan["per_shard"]
    task = ray.remote(build_partition).options(
        num_cpus=task_cpus, memory=memory, max_retries=3, retry_exceptions=False
    )
    refs = [
        task.remote(
            str(parts_dir / f"part-{p:05d}"),
            [sources[i] for i in indices],
            spec,
            opts.text_field,
            opts.skip_bad_lines,
            plan["per_shard"],
        )
        for p, indices in enumerate(plan["partitions"])
    ]
    try:
        records = ray.get(refs)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, CorpusTraceError):
            raise cause from None
        raise ClusterError(f"a build task failed: {exc}") from exc
    infos = _merge(out, parts_dir, records)
    if not any(s.documents for s in infos):
        raise BuildError("no documents found in the input")
    stats = {
        "bad_lines": sum(r["stats"]["bad_lines"] for r in records),
        "bad_line_examples": [e for r in records for e in r["stats"]["bad_line_examples"]][:5],
        "binary_files": sum(r["stats"]["binary_files"] for r in records),
    }
    run = {
        "match": match,
        "append": False,
        "shards": [s.name for s in infos],
        "max_memory": max_memory,
        "shard_tokens": plan["per_shard"],
        "stats": stats,
        "ray": {"partitions": len(plan["partitions"])},
    }
    manifest = finish_index(out, tokenizer, infos, None, run)
    shutil.rmtree(parts_dir, ignore_errors=True)
    return BuildResult(
        out,
        len(infos),
        0,
        manifest.total_documents,
        manifest.total_tokens,
        time.monotonic() - started,
        stats,
    )


def _load_or_make_plan(
    parts_dir: Path,
    match: dict[str, Any],
    sources: Sequence[Source],
    count: int | None,
    per_shard: int,
) -> dict[str, Any]:
    """The partitioning, fixed by the first run so that a resumed run continues it."""
    path = parts_dir / "plan.json"
    if path.is_file():
        plan: dict[str, Any] = orjson.loads(path.read_bytes())
        if plan.get("match") != match:
            raise BuildError(
                f"{parts_dir.parent} holds an unfinished Ray build of other inputs: rerun that "
                "command to resume it, or remove the directory"
            )
        return plan
    parts_dir.mkdir(parents=True, exist_ok=True)
    cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
    plan = {
        "match": match,
        "per_shard": per_shard,
        "partitions": partitions_of(sources, count or 2 * max(1, cpus)),
    }
    fmt.write_json_atomic(path, plan)
    return plan


def _merge(out: Path, parts_dir: Path, records: list[dict[str, Any]]) -> list[fmt.ShardInfo]:
    """Move every partition's shards to out/shard-NNNNN in order (safe to repeat)."""
    infos = []
    number = 0
    for p, record in enumerate(records):
        for name in record["shards"]:
            source = parts_dir / f"part-{p:05d}" / name
            target = out / fmt.shard_name(number)
            if source.is_dir():
                os.replace(source, target)
            info = fmt.ShardInfo.from_json(orjson.loads((target / fmt.SHARD_INFO).read_bytes()))
            if info.name != target.name:
                info.name = target.name
                fmt.write_json_atomic(target / fmt.SHARD_INFO, info.to_json())
            infos.append(info)
            number += 1
    return infos
