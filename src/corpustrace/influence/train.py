"""`corpustrace train`: a small GPT-2 (transformers) trained with AdamW on the chunks of an
index's own token stream (examples.py), so the model's training data is exactly the
indexed corpus and influence examples are the chunks it saw. The optimizer state is kept
(`optimizer.pt` + `corpustrace-train.json` naming its parameters) for the correction V.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from corpustrace.index.reader import Index
from corpustrace.influence import require_torch
from corpustrace.influence.errors import InfluenceError
from corpustrace.influence.examples import chunk_table, chunk_tokens_of
from corpustrace.influence.features import pad_batch, summed_nll
from corpustrace.influence.model_io import index_fingerprint
from corpustrace.influence.second_moment import OPTIMIZER_FILE, TRAIN_STATE_FILE
from corpustrace.tokenizer_files import TOKENIZER_FILE, index_tokenizer_json


@dataclass
class TrainOptions:
    index: Path
    out: Path
    layers: int = 2
    width: int = 128
    heads: int = 4
    context: int = 128  # tokens per training chunk (and the model's positions)
    epochs: float = 1.0
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 0.01
    max_documents: int | None = None
    max_seconds: float | None = None
    seed: int = 0
    threads: int | None = None
    quiet: bool = False


@dataclass
class TrainResult:
    out: Path
    parameters: int
    examples: int
    steps: int
    seconds: float
    first_loss: float
    last_loss: float


def train(opts: TrainOptions) -> TrainResult:
    _, transformers = require_torch()
    started = time.monotonic()
    torch.manual_seed(opts.seed)
    torch.set_num_threads(opts.threads or os.cpu_count() or 1)
    index = Index.open(opts.index)
    table = chunk_table(index, opts.context, opts.max_documents)
    if len(table) == 0:
        raise InfluenceError(f"{opts.index}: no document of two or more tokens to train on")
    config = transformers.GPT2Config(
        vocab_size=index.tokenizer.vocab_size,
        n_positions=opts.context,
        n_embd=opts.width,
        n_layer=opts.layers,
        n_head=opts.heads,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=None,
        eos_token_id=None,
    )
    model = transformers.GPT2LMHeadModel(config)
    names = [n for n, _ in model.named_parameters()]
    optimizer = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    steps_total = max(1, math.ceil(len(table) * opts.epochs / opts.batch_size))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / 20) * max(0.1, 1 - s / steps_total)
    )
    rng = np.random.default_rng(opts.seed)
    order = np.concatenate([rng.permutation(len(table)) for _ in range(math.ceil(opts.epochs))])[
        : steps_total * opts.batch_size
    ]
    losses: list[float] = []
    model.train()
    from tqdm import tqdm

    bar = tqdm(total=steps_total, unit="step", desc="train", disable=opts.quiet)
    step = 0
    for step in range(steps_total):
        rows = table[order[step * opts.batch_size : (step + 1) * opts.batch_size]]
        ids, attention, mask = pad_batch([chunk_tokens_of(index, r) for r in rows])
        logits = model(input_ids=ids, attention_mask=attention).logits
        tokens = max(1, int(mask[:, 1:].sum()))
        loss = summed_nll(logits, ids, mask) / tokens
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
        bar.update(1)
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        if opts.max_seconds is not None and time.monotonic() - started > opts.max_seconds:
            break
    bar.close()
    model.eval()
    state = {
        "parameter_names": names,
        "index": str(Path(opts.index).resolve()),
        "index_fingerprint": index_fingerprint(opts.index),
        "steps": step + 1,
        "examples": len(table),
        "losses_first_last": [losses[0], losses[-1]],
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(opts).items()},
    }
    _save(Path(opts.out), model, optimizer, index, state)
    return TrainResult(
        Path(opts.out),
        sum(p.numel() for p in model.parameters()),
        len(table),
        step + 1,
        time.monotonic() - started,
        losses[0],
        losses[-1],
    )


def _save(out: Path, model: Any, optimizer: Any, index: Index, state: dict[str, Any]) -> None:
    """Model, tokenizer (the index's own), optimizer state; atomically (rename at the end)."""
    partial = out.with_name(out.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    model.save_pretrained(str(partial))
    (partial / TOKENIZER_FILE).write_text(index_tokenizer_json(index.path), encoding="utf-8")
    torch.save(optimizer.state_dict(), partial / OPTIMIZER_FILE)
    (partial / TRAIN_STATE_FILE).write_text(json.dumps(state, indent=2))
    if out.exists():
        shutil.rmtree(out)
    partial.replace(out)
