"""The fact-tracing benchmark's gradient methods and tail-patch score."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest

from corpustrace.eval.influence_methods import doc_ranking, unit
from influencetools import World, world


@pytest.fixture(scope="module")
def influence_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return world(tmp_path_factory)


def test_doc_ranking_takes_each_documents_best_chunk() -> None:
    docs = np.array([3, 1, 3, 2, 1])
    scores = np.array([0.1, 0.5, 0.9, 0.5, -1.0])
    # doc 3: best 0.9; docs 1 and 2 tie at 0.5 (lower index first)
    assert doc_ranking(docs, scores) == [3, 1, 2]
    assert doc_ranking(docs, scores, depth=2) == [3, 1]
    assert doc_ranking(np.array([], dtype=int), np.array([])) == []


def test_unit_rows_leave_zero_rows_alone() -> None:
    rows = np.array([[3.0, 4.0], [0.0, 0.0]])
    assert np.allclose(unit(rows), [[0.6, 0.8], [0.0, 0.0]])


def _adamw_by_hand(model, state, grads, lr, wd, betas, eps):  # type: ignore[no-untyped-def]
    """One decoupled-weight-decay Adam step (Loshchilov & Hutter 2019, Algorithm 2),
    written out per parameter, from the optimizer's saved moments."""
    out = {}
    for i, (name, p) in enumerate(model.named_parameters()):
        s = state["state"][i]
        t = float(s["step"]) + 1
        g = grads[name]
        m = betas[0] * s["exp_avg"] + (1 - betas[0]) * g
        v = betas[1] * s["exp_avg_sq"] + (1 - betas[1]) * g * g
        m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
        out[name] = p.detach() * (1 - lr * wd) - lr * m_hat / (v_hat.sqrt() + eps)
    return out


def test_tail_patch_is_one_adamw_step_and_restores_the_model(influence_world: World) -> None:
    torch = pytest.importorskip("torch")
    from corpustrace.eval.tailpatch import TailPatcher, answer_logprob
    from corpustrace.index.reader import Index
    from corpustrace.influence.examples import chunk_table, chunk_tokens_of
    from corpustrace.influence.features import pad_batch, summed_nll

    index = Index.open(influence_world.index)
    rows = chunk_table(index, 32)[:3]
    chunks = [chunk_tokens_of(index, r) for r in rows]
    ids = np.asarray(chunks[0][:12], dtype=np.int64)
    mask = np.array([0] * 6 + [1] * 6)

    patcher = TailPatcher(influence_world.model)
    before = {k: v.clone() for k, v in patcher.model.state_dict().items()}
    delta = patcher.delta(chunks, ids, mask)
    assert math.isfinite(delta)
    for k, v in patcher.model.state_dict().items():
        assert torch.equal(v, before[k]), f"{k} not restored"
    assert patcher.delta(chunks, ids, mask) == pytest.approx(delta, abs=1e-9)
    assert patcher.delta([], ids, mask) == 0.0

    # The twin: the same step computed by hand on a copy of the model.
    model = copy.deepcopy(patcher.model)
    state = copy.deepcopy(patcher.optimizer.state_dict())
    group = state["param_groups"][0]
    batch, attention, loss_mask = pad_batch(chunks)
    for p in model.parameters():
        p.requires_grad_(True)
    logits = model(input_ids=batch, attention_mask=attention).logits
    loss = summed_nll(logits, batch, loss_mask) / int(loss_mask[:, 1:].sum())
    named = dict(model.named_parameters())
    grads = dict(zip(named, torch.autograd.grad(loss, list(named.values())), strict=True))
    norm = torch.sqrt(sum((g * g).sum() for g in grads.values()))
    clip = min(1.0, 1.0 / (float(norm) + 1e-6))
    grads = {k: g * clip for k, g in grads.items()}
    new = _adamw_by_hand(
        model, state, grads, group["lr"], group["weight_decay"], group["betas"], group["eps"]
    )
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(new[name])
    expected = answer_logprob(model, ids, mask) - answer_logprob(patcher.model, ids, mask)
    assert delta == pytest.approx(expected, rel=1e-4, abs=1e-6)


def test_influence_methods_run_in_the_benchmark(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    import json

    from corpustrace.cli import main
    from corpustrace.eval.methods import METHODS, TAIL_PATCH

    out = tmp_path / "q.json"
    args = ["eval", "--cases", "5", "--seeds", "1", "--per-frequency", "1", "--fillers", "10"]
    args += [
        "--corpus-docs",
        "30",
        "--influence",
        "--influence-epochs",
        "2",
        "--influence-dim",
        "256",
        "-o",
        str(out),
    ]
    try:
        assert main([*args, "--workdir", str(tmp_path)]) == 0
    finally:
        for name in ("grad_dot", "grad_cosine", "trackstar"):
            METHODS.pop(name, None)
        TAIL_PATCH.clear()
    facts = json.loads(out.read_text())["facts"]["methods"]
    for name in ("grad_dot", "grad_cosine", "trackstar", "verbatim", "random"):
        mrr, _ = facts[name]["all"]["mrr"]
        assert 0 < mrr <= 1
        assert math.isfinite(facts[name]["all"]["tail_patch"][0])
