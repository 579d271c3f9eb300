"""Two-sided Gaussian projection of weight gradients (TrackStar, arXiv 2410.17413, sec. 3,
after Pruthi et al. 2020): a block W (m x n) maps to P0^T grad_W P1 with P0 (m x k0) and
P1 (n x k1) of entries N(0, 1/k), drawn from a generator seeded by (seed, parameter name),
so the same model, seed and dimension always give the same features.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import torch

LINEAR, CONV1D, EMBEDDING = "linear", "conv1d", "embedding"


@dataclass
class Block:
    """One projected weight: its parameter name, stored shape (m, n), projection sizes,
    and the modules that use it (a tied embedding is used by the embedding and lm_head)."""

    name: str
    rows: int
    cols: int
    k0: int
    k1: int
    uses: list[tuple[str, str]]  # (module name, kind)

    @property
    def dim(self) -> int:
        return self.k0 * self.k1

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": [self.rows, self.cols],
            "k": [self.k0, self.k1],
            "uses": [{"module": m, "kind": k} for m, k in self.uses],
        }


def module_kind(module: torch.nn.Module) -> str | None:
    """linear (weight out x in), conv1d (HF GPT-2's Conv1D, weight in x out), embedding."""
    if isinstance(module, torch.nn.Linear):
        return LINEAR
    if isinstance(module, torch.nn.Embedding):
        return EMBEDDING
    if type(module).__name__ == "Conv1D" and getattr(module, "weight", None) is not None:
        return CONV1D
    return None


def find_blocks(model: torch.nn.Module, dim: int) -> list[Block]:
    """Every Linear / Conv1D weight and every embedding of `model`, tied weights once,
    in module order; each gets k = floor(sqrt(dim / blocks)) per side (capped by its
    shape), so the total dimension is at most `dim`."""
    names = {id(p): n for n, p in model.named_parameters()}
    found: dict[int, Block] = {}
    for module_name, module in model.named_modules():
        kind = module_kind(module)
        if kind is None:
            continue
        weight = module.weight
        key = id(weight)
        if key not in found:
            rows, cols = int(weight.shape[0]), int(weight.shape[1])
            found[key] = Block(names.get(key, module_name + ".weight"), rows, cols, 0, 0, [])
        found[key].uses.append((module_name, kind))
    blocks = list(found.values())
    if not blocks:
        raise ValueError("the model has no Linear, Conv1D or Embedding weight to project")
    k = max(1, math.isqrt(max(1, dim // len(blocks))))
    for block in blocks:
        block.k0, block.k1 = min(k, block.rows), min(k, block.cols)
    return blocks


def block_seed(seed: int, name: str, side: int) -> int:
    """A 63-bit generator seed from (global seed, parameter name, side 0 or 1)."""
    digest = hashlib.sha256(f"{seed}\x00{name}\x00{side}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def gaussian(rows: int, k: int, seed: int) -> torch.Tensor:
    """A rows x k float32 matrix of N(0, 1/k) entries from a generator seeded by `seed`."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(rows, k, generator=generator) / math.sqrt(k)


def block_projections(block: Block, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(P0, P1) of one block."""
    p0 = gaussian(block.rows, block.k0, block_seed(seed, block.name, 0))
    p1 = gaussian(block.cols, block.k1, block_seed(seed, block.name, 1))
    return p0, p1
