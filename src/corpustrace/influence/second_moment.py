"""The optimizer correction of TrackStar (arXiv 2410.17413, sec. 3): gradients are divided
elementwise by sqrt(V), V the optimizer's second-moment estimate at the final checkpoint.

Sources, in order of availability (`auto`):
  own       corpustrace's training state (`optimizer.pt` + `corpustrace-train.json` with
            the parameter names), written by `corpustrace train`;
  hf        a Hugging Face Trainer `optimizer.pt` (Adam `exp_avg_sq`), parameters matched
            by the Trainer's grouping order and their shapes;
  estimate  mean of squared per-example gradients over a sample of training examples (an
            approximation: Adam's V is an exponential average over training, not this);
  none      V = 1.

V is floored (`v_floor`, default "mean": V + mean(V) per block). With eps alone the rows
of rare or unseen embedding tokens dominate the feature norm. To keep the hook form of
features.py, the floored V of each matrix is used in its rank-1 (Adafactor, Shazeer & Stern
2018) factorization V_ij ~ R_i C_j / sum(R), so 1/sqrt(V) = r c^T is a row and a column
scale; for a V that is already rank 1 this is exact.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from corpustrace.influence.errors import InfluenceError
from corpustrace.influence.features import Scales, pad_batch, summed_nll
from corpustrace.influence.projection import Block

OPTIMIZER_FILE = "optimizer.pt"
TRAIN_STATE_FILE = "corpustrace-train.json"
SOURCES = ("auto", "own", "hf", "estimate", "none")


def floored(v: torch.Tensor, v_floor: float | str = "mean") -> torch.Tensor:
    """V + floor; floor "mean" is the mean of V (the default), a number is used as is."""
    floor = float(v.double().mean()) if v_floor == "mean" else float(v_floor)
    if floor < 0:
        raise InfluenceError("v_floor must be >= 0")
    return v.double() + floor


def factored_scales(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(r, c) with r_i c_j = 1 / sqrt(R_i C_j / sum R), R/C the row/column sums of V > 0."""
    v = v.double()
    rows, cols = v.sum(dim=1), v.sum(dim=0)
    total = rows.sum()
    if total <= 0 or bool((rows <= 0).any()) or bool((cols <= 0).any()):
        raise InfluenceError("second moment has an all-zero row or column: use a v_floor > 0")
    quarter = total.sqrt().sqrt()
    return (quarter / rows.sqrt()).float(), (quarter / cols.sqrt()).float()


def scales_from(
    second: dict[str, torch.Tensor], blocks: Sequence[Block], v_floor: float | str
) -> Scales:
    out: Scales = {}
    for block in blocks:
        v = second.get(block.name)
        if v is None:
            raise InfluenceError(f"no second moment for {block.name}")
        out[block.name] = factored_scales(floored(v.reshape(block.rows, block.cols), v_floor))
    return out


# -- sources ------------------------------------------------------------------------------


def from_optimizer_state(
    state: dict[str, Any], names_in_order: Sequence[str], shapes: dict[str, torch.Size]
) -> dict[str, torch.Tensor]:
    """exp_avg_sq per parameter name, the state's integer ids taken in `names_in_order`."""
    ids = [i for group in state.get("param_groups", []) for i in group.get("params", [])]
    per_id = state.get("state", {})
    if len(ids) != len(names_in_order):
        raise InfluenceError(f"optimizer state holds {len(ids)} parameters, model has more/less")
    out: dict[str, torch.Tensor] = {}
    for pid, name in zip(ids, names_in_order, strict=True):
        moment = per_id.get(pid, {}).get("exp_avg_sq")
        if moment is None:
            continue
        if moment.shape != shapes[name]:
            raise InfluenceError(f"optimizer state does not fit {name} ({tuple(moment.shape)})")
        out[name] = moment.detach().float().cpu()
    return out


def own_state(model_dir: Path, model: torch.nn.Module) -> dict[str, torch.Tensor] | None:
    meta, opt = model_dir / TRAIN_STATE_FILE, model_dir / OPTIMIZER_FILE
    if not (meta.is_file() and opt.is_file()):
        return None
    names = json.loads(meta.read_text()).get("parameter_names", [])
    shapes = {n: p.shape for n, p in model.named_parameters()}
    return from_optimizer_state(_load(opt), names, shapes)


def hf_state(model_dir: Path, model: torch.nn.Module) -> dict[str, torch.Tensor] | None:
    """A Trainer checkpoint's optimizer.pt: groups are (decayed, not decayed) parameters in
    model order (Trainer.get_decay_parameter_names), or one group in model order."""
    opt = model_dir / OPTIMIZER_FILE
    if not opt.is_file():
        return None
    state = _load(opt)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    shapes = {n: p.shape for n, p in named}
    plain = [n for n, _ in named]
    decay = [n for n in plain if not _no_decay(n)]
    for order in (decay + [n for n in plain if _no_decay(n)], plain):
        try:
            return from_optimizer_state(state, order, shapes)
        except InfluenceError:
            continue
    raise InfluenceError(f"{opt}: cannot match the optimizer state to the model's parameters")


def estimate(
    model: torch.nn.Module, blocks: Sequence[Block], sequences: Sequence[np.ndarray]
) -> dict[str, torch.Tensor]:
    """Mean over `sequences` of the squared per-example gradient of each block's weight
    (full gradients, one example at a time: only for this small sample)."""
    params = dict(model.named_parameters())
    total = {b.name: torch.zeros(b.rows, b.cols) for b in blocks}
    for p in model.parameters():
        p.requires_grad_(False)
    weights = [params[b.name] for b in blocks]
    for w in weights:
        w.requires_grad_(True)
    try:
        for seq in sequences:
            ids, attention, mask = pad_batch([seq])
            with torch.enable_grad():
                loss = summed_nll(model(input_ids=ids, attention_mask=attention).logits, ids, mask)
                grads = torch.autograd.grad(loss, weights, allow_unused=True)
            for b, g in zip(blocks, grads, strict=True):
                if g is not None:
                    total[b.name] += g.float() ** 2
    finally:
        for w in weights:
            w.requires_grad_(False)
    return {name: v / max(1, len(sequences)) for name, v in total.items()}


def _no_decay(name: str) -> bool:
    """The Trainer's rule: biases and normalisation weights are not decayed."""
    parts = name.lower().split(".")
    return parts[-1] == "bias" or any("norm" in p or p.startswith("ln") for p in parts[:-1])


def _load(path: Path) -> dict[str, Any]:
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for an unreadable file
        raise InfluenceError(f"{path}: unreadable optimizer state ({exc})") from exc
    return state
