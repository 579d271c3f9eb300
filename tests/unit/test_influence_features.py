"""Hook-projected features equal projecting the full per-example gradient; the optimizer
correction's floor, factorization and sources on known values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from corpustrace.influence import second_moment as sm  # noqa: E402
from corpustrace.influence.errors import InfluenceError  # noqa: E402
from corpustrace.influence.features import Projector, pad_batch, summed_nll  # noqa: E402
from corpustrace.influence.projection import block_projections  # noqa: E402


def tiny_gpt2(tied: bool, seed: int = 0) -> Any:
    torch.manual_seed(seed)
    config = transformers.GPT2Config(
        vocab_size=50,
        n_positions=16,
        n_embd=12,
        n_layer=2,
        n_head=2,
        tie_word_embeddings=tied,
        bos_token_id=None,
        eos_token_id=None,
    )
    return transformers.GPT2LMHeadModel(config).eval()


def sequences() -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 50, size=n) for n in (9, 4, 16)]
    masks = [np.ones(len(s), dtype=np.int64) for s in seqs]
    masks[2][:6] = 0  # a prompt: its tokens' loss does not count
    return seqs, masks


def full_gradient_features(
    model: Any, projector: Projector, seq: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """The slow twin: autograd's whole gradient of each weight, corrected, projected."""
    params = dict(model.named_parameters())
    for p in model.parameters():
        p.requires_grad_(True)
    ids, attention, loss_mask = pad_batch([seq], [mask])
    loss = summed_nll(model(input_ids=ids, attention_mask=attention).logits, ids, loss_mask)
    weights = [params[b.name] for b in projector.blocks]
    grads = torch.autograd.grad(loss, weights)
    parts = []
    for block, grad in zip(projector.blocks, grads, strict=True):
        p0, p1 = block_projections(block, projector.seed)
        r, c = projector.scales[block.name]
        corrected = grad * r[:, None] * c[None, :]
        parts.append((p0.T @ corrected @ p1).reshape(-1))
    for p in model.parameters():
        p.requires_grad_(False)
    return torch.cat(parts).detach().numpy()


@pytest.mark.parametrize("tied", [True, False])
def test_hook_projection_equals_projecting_the_full_gradient(tied: bool) -> None:
    model = tiny_gpt2(tied)
    projector = Projector(model, dim=400, seed=7)
    rng = np.random.default_rng(1)
    for b in projector.blocks:  # a non-trivial correction, as from a real V
        projector.scales[b.name] = (
            torch.tensor(rng.uniform(0.5, 2, b.rows), dtype=torch.float32),
            torch.tensor(rng.uniform(0.5, 2, b.cols), dtype=torch.float32),
        )
    kinds = {kind for b in projector.blocks for _, kind in b.uses}
    assert kinds == {"linear", "conv1d", "embedding"}
    tied_blocks = [b for b in projector.blocks if len(b.uses) > 1]
    assert len(tied_blocks) == (1 if tied else 0)
    seqs, masks = sequences()
    fast = projector.features(seqs, masks)
    assert fast.shape == (3, projector.dim) and projector.dim <= 400
    for i in range(3):
        slow = full_gradient_features(model, projector, seqs[i], masks[i])
        np.testing.assert_allclose(fast[i], slow, rtol=2e-4, atol=2e-5 * np.abs(slow).max())


def test_same_seed_same_features_other_seed_other_features() -> None:
    model = tiny_gpt2(True)
    seqs, masks = sequences()
    a = Projector(model, 300, seed=1).features(seqs, masks)
    b = Projector(model, 300, seed=1).features(seqs, masks)
    c = Projector(model, 300, seed=2).features(seqs, masks)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert all(not p.requires_grad for p in model.parameters())


def test_v_floor_adds_the_mean_or_a_given_value() -> None:
    v = torch.tensor([[0.0, 2.0], [4.0, 10.0]])
    np.testing.assert_allclose(sm.floored(v).numpy(), [[4.0, 6.0], [8.0, 14.0]])
    np.testing.assert_allclose(sm.floored(v, 1.0).numpy(), [[1.0, 3.0], [5.0, 11.0]])
    np.testing.assert_allclose(sm.floored(v, 0.0).numpy(), v.numpy())
    with pytest.raises(InfluenceError):
        sm.floored(v, -1.0)
    with pytest.raises(InfluenceError):  # an all-zero row without floor: no finite scale
        sm.factored_scales(torch.tensor([[0.0, 0.0], [1.0, 2.0]]))


def test_factored_scales_are_exact_for_a_rank_one_second_moment() -> None:
    a, b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([0.25, 1.0])
    v = torch.outer(a, b)
    r, c = sm.factored_scales(v)
    np.testing.assert_allclose(torch.outer(r, c).numpy(), (1 / v.sqrt()).numpy(), rtol=1e-6)


def one_adam_step(model: Any, groups: list[list[str]]) -> Any:
    params = dict(model.named_parameters())
    opt = torch.optim.AdamW([{"params": [params[n] for n in g]} for g in groups], lr=1e-3)
    ids = torch.randint(0, 50, (2, 8))
    loss = summed_nll(model(input_ids=ids).logits, ids, torch.ones_like(ids))
    loss.backward()
    opt.step()
    return opt


def test_own_and_hf_optimizer_states_give_adams_exp_avg_sq(tmp_path: Path) -> None:
    model = tiny_gpt2(True)
    names = [n for n, _ in model.named_parameters()]
    decay = [n for n in names if not sm._no_decay(n)]
    nodecay = [n for n in names if sm._no_decay(n)]
    assert (
        "transformer.h.0.ln_1.weight" in nodecay and "transformer.h.0.attn.c_attn.bias" in nodecay
    )
    opt = one_adam_step(model, [decay, nodecay])  # the HF Trainer's grouping
    torch.save(opt.state_dict(), tmp_path / sm.OPTIMIZER_FILE)
    got = sm.hf_state(tmp_path, model)
    assert got is not None
    params = dict(model.named_parameters())
    for name in names:
        np.testing.assert_array_equal(
            got[name].numpy(), opt.state[params[name]]["exp_avg_sq"].numpy()
        )
    assert sm.own_state(tmp_path, model) is None  # no corpustrace-train.json
    assert sm.hf_state(tmp_path / "missing", model) is None
    (tmp_path / sm.OPTIMIZER_FILE).write_bytes(b"not a torch file")
    with pytest.raises(InfluenceError):
        sm.hf_state(tmp_path, model)


def test_estimate_is_the_mean_squared_per_example_gradient() -> None:
    model = tiny_gpt2(False)
    projector = Projector(model, 200, seed=0)
    seqs, _ = sequences()
    got = sm.estimate(model, projector.blocks, seqs[:2])
    params = dict(model.named_parameters())
    name = projector.blocks[-1].name
    total = torch.zeros_like(params[name])
    for seq in seqs[:2]:
        model.zero_grad()
        for p in model.parameters():
            p.requires_grad_(True)
        ids = torch.as_tensor(seq)[None]
        summed_nll(model(input_ids=ids).logits, ids, torch.ones_like(ids)).backward()
        total += params[name].grad ** 2
    np.testing.assert_allclose(got[name].numpy(), (total / 2).numpy(), rtol=1e-5, atol=1e-12)
