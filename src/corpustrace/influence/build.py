"""`corpustrace influence build`: TrackStar features of every chunk of an index, for one
model, into a sharded, resumable feature store (store.py).

Order: optimizer correction V (second_moment.py), R_train from the features of a seeded
sample of chunks (hessian.py, saved once), then the shards: features of each chunk,
times (R_train + damping)^(-1/2), unit norm, float16. A killed build resumes at the first
missing shard; a resumed build must use the same parameters (build.json).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from corpustrace.index.reader import Index
from corpustrace.influence import hessian, second_moment
from corpustrace.influence import store as st
from corpustrace.influence.errors import InfluenceError
from corpustrace.influence.examples import batches, chunk_table, chunk_tokens_of
from corpustrace.influence.features import Projector, Scales
from corpustrace.influence.model_io import (
    LoadedModel,
    check_tokenizer,
    index_fingerprint,
    load_model,
)


@dataclass
class InfluenceBuildOptions:
    index: Path
    model: Path
    out: Path
    gguf_file: str | None = None
    dim: int = 4096
    seed: int = 0
    chunk_tokens: int | None = None  # default: the model's context, at most 256
    max_documents: int | None = None
    v_source: str = "auto"
    v_floor: float | str = "mean"
    damping: float = hessian.DEFAULT_DAMPING
    hessian_samples: int = 1000
    estimate_samples: int = 64
    batch_size: int = 8
    shard_examples: int = 8192
    threads: int | None = None
    quiet: bool = False


@dataclass
class InfluenceBuildResult:
    out: Path
    examples: int
    dim: int
    seconds: float
    computed: int  # examples whose features this run computed
    shards_resumed: int
    already_complete: bool = False
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.computed / self.seconds if self.seconds > 0 else 0.0


def build_store(opts: InfluenceBuildOptions) -> InfluenceBuildResult:
    started = time.monotonic()
    out = Path(opts.out)
    if (out / st.MANIFEST).is_file():
        manifest = st.read_json(out / st.MANIFEST)
        return InfluenceBuildResult(
            out, manifest["examples"], manifest["dim"], 0.0, 0, 0, True, manifest
        )
    torch.set_num_threads(opts.threads or os.cpu_count() or 1)
    index = Index.open(opts.index)
    loaded = load_model(opts.model, opts.gguf_file)
    check_tokenizer(index, loaded)
    chunk = opts.chunk_tokens or min(256, loaded.context)
    if chunk > loaded.context:
        raise InfluenceError(f"--chunk-tokens {chunk} exceeds the model's context {loaded.context}")
    table = chunk_table(index, chunk, opts.max_documents)
    if len(table) == 0:
        raise InfluenceError(f"{opts.index}: no chunk of two or more tokens to score")
    params = _parameters(opts, loaded, chunk)
    _start_or_resume(out, params, table)

    projector = Projector(loaded.model, opts.dim, opts.seed)
    source, scales = _correction(opts, loaded, projector, index, table)
    projector.scales.update(scales)
    st.save_scales(out / st.CORRECTION, scales)
    inv_sqrt, damp, samples = _hessian(out, opts, projector, index, table)

    n_shards = -(-len(table) // opts.shard_examples)
    done_rows = [st.finished_shard(out, i) for i in range(n_shards)]
    resumed = sum(1 for d in done_rows if d is not None)
    todo = len(table) - sum(d["rows"] for d in done_rows if d is not None)
    computed = 0
    with _progress(todo, opts.quiet) as bar:
        for i in range(n_shards):
            if done_rows[i] is not None:
                continue
            rows = table[i * opts.shard_examples : (i + 1) * opts.shard_examples]
            feats = np.concatenate(
                [
                    _transformed(projector, index, b, inv_sqrt, bar)
                    for b in batches(rows, opts.batch_size)
                ]
            )
            done_rows[i] = st.write_shard(out, i, feats)
            computed += len(rows)
    shards = [{"name": st.shard_name(i), **info} for i, info in enumerate(done_rows) if info]
    fields = {
        **params,
        "dim": projector.dim,
        "target_dim": opts.dim,
        "blocks": projector.describe(),
        "v_source": source,
        "lambda": 0.0,
        "damping": damp,
        "hessian_samples": samples,
        "examples": len(table),
    }
    manifest = st.new_manifest(fields, shards)
    st.write_json(out / st.MANIFEST, manifest)
    seconds = time.monotonic() - started
    return InfluenceBuildResult(
        out, len(table), projector.dim, seconds, computed, resumed, False, manifest
    )


def _parameters(opts: InfluenceBuildOptions, loaded: LoadedModel, chunk: int) -> dict[str, Any]:
    fingerprint = index_fingerprint(opts.index)
    trained_on = (loaded.train_state or {}).get("index_fingerprint") == fingerprint
    return {
        "index": {"path": str(Path(opts.index).resolve()), "fingerprint": fingerprint},
        "model": {
            "path": str(loaded.path.resolve()),
            "gguf_file": loaded.gguf_file,
            "hash": loaded.hash,
            "trained_on_index": trained_on,
        },
        "seed": opts.seed,
        "requested_dim": opts.dim,
        "chunk_tokens": chunk,
        "max_documents": opts.max_documents,
        "v_floor": opts.v_floor,
        "requested_v_source": opts.v_source,
        "delta": opts.damping,
        "shard_examples": opts.shard_examples,
        "hessian_sample_size": opts.hessian_samples,
    }


def _start_or_resume(out: Path, params: dict[str, Any], table: np.ndarray) -> None:
    state = out / st.BUILD_STATE
    if state.is_file():
        before = st.read_json(state)
        if before != params:
            changed = sorted(k for k in params if before.get(k) != params[k])
            raise InfluenceError(
                f"{out}: an unfinished build with other parameters is there ({', '.join(changed)}"
                " differ); remove the directory or build with the same options"
            )
        return
    if out.exists() and any(out.iterdir()):
        raise InfluenceError(f"{out}: exists and is not an influence store build")
    out.mkdir(parents=True, exist_ok=True)
    st.save_array(out / st.CHUNKS, table)
    st.write_json(state, params)


def _correction(
    opts: InfluenceBuildOptions,
    loaded: LoadedModel,
    projector: Projector,
    index: Index,
    table: np.ndarray,
) -> tuple[str, Scales]:
    if opts.v_source not in second_moment.SOURCES:
        raise InfluenceError(f"v_source must be one of {', '.join(second_moment.SOURCES)}")
    model, path = loaded.model, loaded.path
    found: dict[str, torch.Tensor] | None = None
    source = opts.v_source
    if opts.v_source in ("auto", "own"):
        found, source = second_moment.own_state(path, model), "own"
    if found is None and opts.v_source in ("auto", "hf"):
        found, source = second_moment.hf_state(path, model), "hf"
    if found is None and opts.v_source in ("auto", "estimate"):
        rng = np.random.default_rng(opts.seed)
        pick = rng.choice(len(table), min(opts.estimate_samples, len(table)), replace=False)
        seqs = [chunk_tokens_of(index, table[i]) for i in np.sort(pick)]
        found, source = second_moment.estimate(model, projector.blocks, seqs), "estimate"
    if found is None:
        if opts.v_source not in ("none",):
            raise InfluenceError(f"{path}: no optimizer state for --v-source {opts.v_source}")
        return "none", {}
    return source, second_moment.scales_from(found, projector.blocks, opts.v_floor)


def _hessian(
    out: Path, opts: InfluenceBuildOptions, projector: Projector, index: Index, table: np.ndarray
) -> tuple[np.ndarray, float, int]:
    path = out / st.HESSIAN
    n = min(opts.hessian_samples, len(table))
    if path.is_file():
        with np.load(path) as h:
            return h["inv_sqrt"].astype(np.float64), float(h["damping"]), n
    rng = np.random.default_rng(opts.seed + 1)
    rows = table[np.sort(rng.choice(len(table), n, replace=False))]
    parts = []
    with _progress(n, opts.quiet, "Hessian sample") as bar:
        for b in batches(rows, opts.batch_size):
            parts.append(_raw(projector, index, b))
            bar.update(len(b))
    raw = np.concatenate(parts)
    r_train = hessian.second_moment(raw)
    inv_sqrt, damp = hessian.inverse_sqrt(r_train, opts.damping)
    st.save_hessian(path, r_train, inv_sqrt, damp)
    return inv_sqrt, damp, n


def _raw(projector: Projector, index: Index, rows: np.ndarray) -> np.ndarray:
    return projector.features([chunk_tokens_of(index, r) for r in rows])


def _transformed(
    projector: Projector, index: Index, rows: np.ndarray, inv_sqrt: np.ndarray, bar: Any
) -> np.ndarray:
    feats = hessian.unit_rows(_raw(projector, index, rows) @ inv_sqrt)
    bar.update(len(rows))
    return feats


def _progress(total: int, quiet: bool, what: str = "influence features") -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="ex", desc=what, disable=quiet, smoothing=0.1)


def remove_store(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)


def options_dict(opts: InfluenceBuildOptions) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(opts).items()}
