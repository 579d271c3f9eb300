"""The feature store: a directory of float16 memory maps [N, d] with the chunk table and a
manifest (docs/influence.md). Numpy only; opened read-only, memory does not grow with N.

    manifest.json        written last: its presence means the store is complete
    build.json           the build's parameters (a resumed build must match them)
    chunks.npy           int64 [N, 5]: shard, local document, global document, start, end
    correction.npz       per block, the row and column scales of 1/sqrt(V) (second_moment.py)
    hessian.npz          R_train and (R_train + damping)^(-1/2), float32 [d, d]
    shard-NNNNN/         features.f16 [n, d] and shard.json (rows, sha256), atomically
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import corpustrace
from corpustrace.index.format import sha256_file
from corpustrace.influence.errors import StoreFormatError

STORE_VERSION = 1
MANIFEST = "manifest.json"
BUILD_STATE = "build.json"
CHUNKS = "chunks.npy"
HESSIAN = "hessian.npz"
CORRECTION = "correction.npz"
FEATURES = "features.f16"
SHARD_INFO = "shard.json"
FEATURE_DTYPE = np.dtype("<f2")


def shard_name(i: int) -> str:
    return f"shard-{i:05d}"


def write_json(path: Path, data: Any) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2, sort_keys=True))
    partial.replace(path)


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StoreFormatError(f"{path}: unreadable ({exc})") from exc
    if not isinstance(data, dict):
        raise StoreFormatError(f"{path}: not a JSON object")
    return data


def save_array(path: Path, array: np.ndarray) -> None:
    partial = path.with_name(path.name + ".partial.npy")
    np.save(partial, array)
    partial.replace(path)


def save_hessian(path: Path, r_train: np.ndarray, inv_sqrt: np.ndarray, damping: float) -> None:
    partial = path.with_name("hessian.partial.npz")
    np.savez(
        partial,
        r_train=r_train.astype(np.float32),
        inv_sqrt=inv_sqrt.astype(np.float32),
        damping=np.float64(damping),
    )
    partial.replace(path)


def save_scales(path: Path, scales: dict[str, Any]) -> None:
    """Row/column scales per block name (numpy arrays or CPU tensors)."""
    arrays = {}
    for name, (r, c) in scales.items():
        arrays["r:" + name] = np.asarray(r, dtype=np.float32)
        arrays["c:" + name] = np.asarray(c, dtype=np.float32)
    partial = path.with_name("correction.partial.npz")
    np.savez(partial, **arrays)  # type: ignore[arg-type]
    partial.replace(path)


def load_scales(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if not path.is_file():
        return {}
    with np.load(path) as data:
        names = [k[2:] for k in data.files if k.startswith("r:")]
        return {n: (data["r:" + n], data["c:" + n]) for n in names}


def write_shard(root: Path, i: int, features: np.ndarray) -> dict[str, Any]:
    """Write one shard under a temporary name, then rename it into place."""
    final = root / shard_name(i)
    tmp = root / (shard_name(i) + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    data = np.ascontiguousarray(features, dtype=FEATURE_DTYPE)
    data.tofile(tmp / FEATURES)
    info = {
        "rows": int(data.shape[0]),
        "dim": int(data.shape[1]),
        "bytes": int(data.nbytes),
        "sha256": sha256_file(tmp / FEATURES),
    }
    write_json(tmp / SHARD_INFO, info)
    with open(tmp / SHARD_INFO) as f:
        os.fsync(f.fileno())
    tmp.replace(final)
    return info


def finished_shard(root: Path, i: int) -> dict[str, Any] | None:
    info = root / shard_name(i) / SHARD_INFO
    return read_json(info) if info.is_file() else None


@dataclass
class FeatureStore:
    """An opened, complete store."""

    path: Path
    manifest: dict[str, Any]
    chunks: np.ndarray
    shards: list[Any]  # read-only memmaps [n, d]
    r_train: np.ndarray
    inv_sqrt: np.ndarray
    damping: float

    @classmethod
    def open(cls, path: str | Path) -> FeatureStore:
        path = Path(path)
        if not (path / MANIFEST).is_file():
            raise StoreFormatError(
                f"{path}: not a finished influence store (no {MANIFEST}; "
                "run `corpustrace influence build` again to resume it)"
            )
        manifest = read_json(path / MANIFEST)
        if manifest.get("store_version") != STORE_VERSION:
            raise StoreFormatError(
                f"{path}: store version {manifest.get('store_version')} is not "
                f"{STORE_VERSION} (rebuild it with this corpustrace)"
            )
        dim = int(manifest["dim"])
        chunks = np.load(path / CHUNKS, mmap_mode="r")
        shards = []
        for entry in manifest["shards"]:
            file = path / entry["name"] / FEATURES
            if not file.is_file() or file.stat().st_size != entry["rows"] * dim * 2:
                raise StoreFormatError(f"{file}: missing or of the wrong size (run verify)")
            shards.append(
                np.memmap(file, dtype=FEATURE_DTYPE, mode="r", shape=(entry["rows"], dim))
            )
        if sum(len(s) for s in shards) != len(chunks):
            raise StoreFormatError(f"{path}: feature rows differ from the chunk table")
        with np.load(path / HESSIAN) as h:
            r_train, inv_sqrt, damping = h["r_train"], h["inv_sqrt"], float(h["damping"])
        return cls(path, manifest, chunks, shards, r_train, inv_sqrt, damping)

    @property
    def dim(self) -> int:
        return int(self.manifest["dim"])

    def __len__(self) -> int:
        return len(self.chunks)

    def describe(self) -> dict[str, Any]:
        m = self.manifest
        keys = ("dim", "seed", "chunk_tokens", "v_source", "v_floor", "damping", "examples")
        out = {k: m.get(k) for k in keys}
        out.update(path=str(self.path), model=m["model"].get("path"), layers=len(m["blocks"]))
        out["trained_on_index"] = bool(m["model"].get("trained_on_index"))
        return out


def verify_store(path: str | Path) -> list[str]:
    """Problems of a store (empty when intact): manifest, sizes and SHA-256 of each shard."""
    path = Path(path)
    try:
        store = FeatureStore.open(path)
    except StoreFormatError as exc:
        return [str(exc)]
    problems = []
    for entry in store.manifest["shards"]:
        file = path / entry["name"] / FEATURES
        if sha256_file(file) != entry["sha256"]:
            problems.append(f"{file}: SHA-256 differs from the manifest")
    return problems


def new_manifest(fields: dict[str, Any], shards: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "store_version": STORE_VERSION,
        "corpustrace_version": corpustrace.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **fields,
        "shards": shards,
    }
