import pytest
import torch

from models.seq2seq.attention import ATTENTION_TYPES, BahdanauAttention, build_attention

B, S, H_DEC, H_ENC = 3, 6, 5, 7
LENGTHS = torch.tensor([6, 2, 4])


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    query = torch.randn(B, H_DEC, generator=g)
    keys = torch.randn(B, S, H_ENC, generator=g)
    mask = torch.arange(S)[None, :] < LENGTHS[:, None]
    return query, keys, mask


def _build(kind):
    torch.manual_seed(0)
    h_enc = H_DEC if kind == "luong-dot" else H_ENC
    return build_attention(kind, H_DEC, h_enc), h_enc


@pytest.mark.parametrize("kind", ATTENTION_TYPES)
def test_shapes_rows_sum_to_one_and_pads_exactly_zero(kind):
    attn, h_enc = _build(kind)
    query, keys, mask = _inputs()
    keys = keys[..., :h_enc]
    context, weights = attn(query, keys, mask)
    assert context.shape == (B, h_enc)
    assert weights.shape == (B, S)
    torch.testing.assert_close(weights.sum(-1), torch.ones(B))
    assert torch.all(weights[~mask] == 0.0)
    assert torch.all(weights[mask] > 0.0)


@pytest.mark.parametrize("kind", ATTENTION_TYPES)
def test_pad_contents_of_keys_change_nothing(kind):
    attn, h_enc = _build(kind)
    query, keys, mask = _inputs()
    keys = keys[..., :h_enc]
    noisy = keys.clone()
    noisy[~mask] = torch.randn(int((~mask).sum()), h_enc) * 100
    c1, w1 = attn(query, keys, mask)
    c2, w2 = attn(query, noisy, mask)
    assert torch.equal(w1, w2)
    torch.testing.assert_close(c1, c2, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", ATTENTION_TYPES)
def test_precomputed_keys_match_on_the_fly(kind):
    attn, h_enc = _build(kind)
    query, keys, mask = _inputs()
    keys = keys[..., :h_enc]
    proj = attn.project_keys(keys)
    c1, w1 = attn(query, keys, mask, proj)
    c2, w2 = attn(query, keys, mask)
    assert torch.equal(w1, w2) and torch.equal(c1, c2)


def test_bahdanau_precomputes_key_projection():
    attn = BahdanauAttention(H_DEC, H_ENC, attn_dim=9)
    _, keys, _ = _inputs()
    assert attn.project_keys(keys).shape == (B, S, 9)


def test_unknown_type_and_dot_dim_mismatch():
    with pytest.raises(ValueError):
        build_attention("multihead", 4, 4)
    with pytest.raises(ValueError):
        build_attention("luong-dot", 4, 8)


@pytest.mark.parametrize("kind", ATTENTION_TYPES)
def test_a_query_per_step_equals_the_steps_one_by_one(kind):
    attn, h_enc = _build(kind)
    _, keys, mask = _inputs()
    keys = keys[..., :h_enc]
    queries = torch.randn(B, 4, H_DEC, generator=torch.Generator().manual_seed(1))  # (B, T, H_dec)
    proj = attn.project_keys(keys)
    context, weights = attn(queries, keys, mask, proj)
    assert context.shape == (B, 4, h_enc) and weights.shape == (B, 4, S)
    for t in range(4):
        c_t, w_t = attn(queries[:, t], keys, mask, proj)
        torch.testing.assert_close(context[:, t], c_t, rtol=0, atol=1e-6)
        torch.testing.assert_close(weights[:, t], w_t, rtol=0, atol=1e-6)
    assert torch.all(weights.transpose(0, 1)[:, ~mask] == 0.0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(B, 4))
