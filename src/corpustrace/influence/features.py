"""Projected, corrected per-example loss gradients, computed with hooks (TrackStar,
arXiv 2410.17413): for a block W used as y = x W^T (Linear), the example's gradient is
grad_W = sum_t dy_t^T x_t, so P0^T (grad_W / S) P1 = sum_t (dy_t r P0)^T (x_t c P1) when
1/S = r c^T (the factored optimizer correction, see second_moment.py). grad_W itself is
never formed: a block costs two thin matmuls and one k0 x k1 outer sum per token.

Parameters are frozen during extraction; the embedding outputs are made to require grad,
so one backward pass reaches every hooked output and computes no weight gradient at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from corpustrace.influence.projection import (
    CONV1D,
    EMBEDDING,
    LINEAR,
    Block,
    block_projections,
    find_blocks,
)

Scales = dict[str, tuple[torch.Tensor, torch.Tensor]]  # block name -> (row scale, col scale)


def summed_nll(logits: torch.Tensor, ids: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """Sum over examples and positions of -log p(ids[t] | ids[<t]) where loss_mask[t] is 1
    (position 0 has no prediction); the loss of training and of queries."""
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    nll = -logp.gather(-1, ids[:, 1:, None]).squeeze(-1)
    return (nll * loss_mask[:, 1:].to(nll.dtype)).sum()


def pad_batch(
    sequences: Sequence[np.ndarray], masks: Sequence[np.ndarray] | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input ids, attention mask, loss mask), right-padded with token 0. The loss mask is
    the attention mask unless `masks` gives one per sequence (e.g. the response only)."""
    width = max(len(s) for s in sequences)
    ids = torch.zeros(len(sequences), width, dtype=torch.long)
    attention = torch.zeros(len(sequences), width, dtype=torch.long)
    loss = torch.zeros(len(sequences), width, dtype=torch.long)
    for i, seq in enumerate(sequences):
        n = len(seq)
        ids[i, :n] = torch.as_tensor(np.asarray(seq, dtype=np.int64))
        attention[i, :n] = 1
        loss[i, :n] = torch.as_tensor(np.asarray(masks[i], dtype=np.int64)) if masks else 1
    return ids, attention, loss


class Projector:
    """Hook-based features of a causal LM: `features(sequences)` -> float32 [B, d]."""

    def __init__(
        self, model: torch.nn.Module, dim: int, seed: int, scales: Scales | None = None
    ) -> None:
        self.model = model
        self.seed = seed
        self.blocks: list[Block] = find_blocks(model, dim)
        self.dim = sum(b.dim for b in self.blocks)
        self.projections = {b.name: block_projections(b, seed) for b in self.blocks}
        self.scales: Scales = {}
        for b in self.blocks:
            given = (scales or {}).get(b.name)
            self.scales[b.name] = (
                given
                if given is not None
                else (
                    torch.ones(b.rows),
                    torch.ones(b.cols),
                )
            )
        self._acc: dict[str, torch.Tensor] = {}
        self._roots: list[torch.Tensor] = []
        self._batch = 0

    def features(
        self, sequences: Sequence[np.ndarray], masks: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        """Projected corrected gradients of the summed NLL of each sequence (its `masks`
        selecting the predicted tokens; every token after the first by default)."""
        ids, attention, loss_mask = pad_batch(sequences, masks)
        batch = self._batch = len(sequences)
        self._acc = {b.name: torch.zeros(batch, b.k0, b.k1) for b in self.blocks}
        self._roots = []
        handles = self._install()
        try:
            for p in self.model.parameters():
                p.requires_grad_(False)
            with torch.enable_grad():
                logits = self.model(input_ids=ids, attention_mask=attention).logits
                loss = summed_nll(logits, ids, loss_mask)
                if self._roots and loss.requires_grad:
                    torch.autograd.grad(loss, self._roots, allow_unused=True)
        finally:
            for handle in handles:
                handle.remove()
        out = torch.cat([self._acc[b.name].reshape(batch, -1) for b in self.blocks], dim=1)
        self._acc, self._roots = {}, []
        return out.numpy().astype(np.float32)

    def describe(self) -> list[dict[str, Any]]:
        return [b.describe() for b in self.blocks]

    # -- hooks -----------------------------------------------------------------------

    def _install(self) -> list[Any]:
        modules = dict(self.model.named_modules())
        handles = []
        for block in self.blocks:
            for module_name, kind in block.uses:
                hook = self._forward_hook(block, kind)
                handles.append(modules[module_name].register_forward_hook(hook))
        return handles

    def _forward_hook(self, block: Block, kind: str) -> Callable[..., Any]:
        def hook(_: torch.nn.Module, inputs: tuple[Any, ...], output: Any) -> Any:
            if not isinstance(output, torch.Tensor):
                return None
            x = inputs[0].detach()
            replaced = None
            if kind == EMBEDDING and not output.requires_grad:
                if output.shape[0] != self._batch:
                    # Shared across the batch (position embeddings of shape [1, T, h]): one
                    # copy per example, so each example's gradient stays its own.
                    x = x.expand(self._batch, *x.shape[1:])
                    output = output.expand(self._batch, *output.shape[1:]).clone()
                    replaced = output
                output.requires_grad_()
                self._roots.append(output)
            if output.requires_grad:
                tensor: Any = output
                tensor.register_hook(lambda g: self._accumulate(block, kind, x, g))
            return replaced

        return hook

    def _accumulate(self, block: Block, kind: str, x: torch.Tensor, g: torch.Tensor) -> None:
        p0, p1 = self.projections[block.name]
        r, c = self.scales[block.name]
        g = g.float()
        if kind == LINEAR:  # weight (out x in): grad = dy^T x
            a, b = (g * r) @ p0, (x.float() * c) @ p1
        elif kind == CONV1D:  # weight (in x out): grad = x^T dy
            a, b = (x.float() * r) @ p0, (g * c) @ p1
        else:  # embedding (vocab x width): grad row of token t gets dy_t
            a, b = r[x][..., None] * p0[x], (g * c) @ p1
        self._acc[block.name] += torch.einsum("btk,btl->bkl", a, b)
