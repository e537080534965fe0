import math

import pytest
import torch

from models.seq2seq.losses import token_losses

PAD = 0


def _batch():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 6)  # (B, T, V)
    target = torch.tensor([[3, 4, 2, PAD], [5, 2, PAD, PAD]])  # (B, T), 5 real tokens
    return logits, target


def test_no_smoothing_is_the_token_nll():
    logits, target = _batch()
    objective, nll = token_losses(logits, target, PAD)
    mask = target != PAD
    expected = -logits.log_softmax(-1).gather(-1, target.unsqueeze(-1)).squeeze(-1)[mask].mean()
    assert objective is nll and float(nll) == pytest.approx(float(expected))


def test_smoothed_objective_matches_the_formula_and_nll_is_unsmoothed():
    logits, target = _batch()
    eps = 0.2
    objective, nll = token_losses(logits, target, PAD, label_smoothing=eps)
    logp = logits.log_softmax(-1)  # (B, T, V)
    mask = target != PAD
    gold = -logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)  # (B, T)
    uniform = -logp.mean(-1)  # (B, T): cross-entropy against the uniform distribution
    expected = ((1 - eps) * gold + eps * uniform)[mask].mean()
    assert float(objective) == pytest.approx(float(expected), rel=1e-6)
    assert float(nll) == pytest.approx(float(gold[mask].mean()), rel=1e-6)
    assert float(objective) != pytest.approx(float(nll))
    assert not nll.requires_grad or nll.grad_fn is None


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.5])
def test_pad_positions_are_left_out(eps):
    """Whatever the logits say at pad positions, neither loss nor its gradient changes."""
    logits, target = _batch()
    changed = logits.clone()
    changed[target == PAD] = torch.randn(int((target == PAD).sum()), logits.size(-1)) * 50
    a, b = logits.clone().requires_grad_(), changed.clone().requires_grad_()
    (obj_a, nll_a), (obj_b, nll_b) = token_losses(a, target, PAD, eps), token_losses(b, target, PAD, eps)
    assert obj_a.item() == pytest.approx(obj_b.item()) and nll_a.item() == pytest.approx(nll_b.item())
    obj_a.backward()
    obj_b.backward()
    assert torch.equal(a.grad[target == PAD], torch.zeros_like(a.grad[target == PAD]))
    assert torch.allclose(a.grad, b.grad, atol=1e-7)


def test_uniform_output_costs_log_v_smoothed_or_not():
    logits, target = torch.zeros(1, 3, 8), torch.tensor([[1, 2, PAD]])
    for eps in (0.0, 0.3):
        objective, nll = token_losses(logits, target, PAD, eps)
        assert float(objective) == pytest.approx(math.log(8)) and float(nll) == pytest.approx(math.log(8))


def test_bad_smoothing_is_refused():
    logits, target = _batch()
    for eps in (-0.1, 1.0, float("nan")):
        with pytest.raises(ValueError, match="label_smoothing"):
            token_losses(logits, target, PAD, eps)
