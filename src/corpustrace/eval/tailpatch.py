"""Tail-patch influence (Chang et al. 2024, "Scalable Influence and Fact Tracing for Large
Language Model Pretraining", arXiv 2410.17413, Sec. 4.2): how much one more training step
on a method's proponents raises the model's log-probability of the fact's answer.

For a query (prompt, answer) and a set of proponent chunks: one AdamW step from the
model's final optimizer state, at the final learning rate, on the proponents as one batch
with the training loss (mean next-token NLL, gradient clipped to 1.0, as `corpustrace
train`); the score is log p(answer | prompt) after the step minus before. The model and
the optimizer state are restored after every call, so calls are independent. A method
whose proponents are the fact's sources should score well above random proponents.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from corpustrace.influence.features import pad_batch, summed_nll
from corpustrace.influence.model_io import load_model
from corpustrace.influence.second_moment import OPTIMIZER_FILE


def answer_logprob(model: torch.nn.Module, ids: np.ndarray, mask: np.ndarray) -> float:
    """Sum of log p(token | the tokens before it) over the tokens where `mask` is 1."""
    batch, attention, loss_mask = pad_batch([ids], [mask])
    with torch.no_grad():
        logits = model(input_ids=batch, attention_mask=attention).logits
        return -float(summed_nll(logits, batch, loss_mask))


class TailPatcher:
    """A trained corpus model and its AdamW state, stepped and restored per call."""

    def __init__(self, model_dir: Path) -> None:
        self.model = load_model(model_dir).model
        self.optimizer = torch.optim.AdamW(self.model.parameters())
        self.optimizer.load_state_dict(
            torch.load(model_dir / OPTIMIZER_FILE, map_location="cpu", weights_only=True)
        )
        self._weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self._state = copy.deepcopy(self.optimizer.state_dict())

    def delta(self, chunks: Sequence[np.ndarray], ids: np.ndarray, mask: np.ndarray) -> float:
        """log p(answer) after one step on `chunks` minus before; 0.0 for no chunks."""
        if not chunks:
            return 0.0
        before = answer_logprob(self.model, ids, mask)
        try:
            for p in self.model.parameters():
                p.requires_grad_(True)
            batch, attention, loss_mask = pad_batch(list(chunks))
            with torch.enable_grad():
                logits = self.model(input_ids=batch, attention_mask=attention).logits
                tokens = max(1, int(loss_mask[:, 1:].sum()))
                loss = summed_nll(logits, batch, loss_mask) / tokens
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.optimizer.step()
            return answer_logprob(self.model, ids, mask) - before
        finally:
            self.model.load_state_dict(self._weights)
            self.optimizer.load_state_dict(copy.deepcopy(self._state))
            self.optimizer.zero_grad(set_to_none=True)
