"""The fused model (squeeze/model.py's rms_norm and rope) against the definitions it replaces: the same logits and
gradients within float rounding, on seeded batches, and the hand-written RMSNorm backward against autograd."""
import pytest
import torch
import torch.nn.functional as F

from squeeze.config import ModelConfig
from squeeze.model import GPT, apply_rope, fused_rope_tables, rms_norm, rope, rope_tables


def reference_forward(model: GPT, idx_BT: torch.Tensor) -> torch.Tensor:
    """The plain model written from its definitions: torch's rms_norm, q and k normed and rotated one by one with
    `apply_rope` (the half-split form), SDPA; the model's own weights."""
    c = model.cfg
    H, K = c.n_head, c.d_model // c.n_head
    cos, sin = rope_tables(c.seq_len, K, c.rope_base)
    B, T = idx_BT.shape
    x = model.embed(idx_BT)
    for blk in model.blocks:
        a = blk.attn
        h = F.rms_norm(x, (c.d_model,), blk.norm1.weight, c.norm_eps)
        q, k, v = a.qkv(h).view(B, T, 3, H, K).unbind(2)
        if c.qk_norm:
            q = F.rms_norm(q, (K,), a.q_norm.weight, c.norm_eps)
            k = F.rms_norm(k, (K,), a.k_norm.weight, c.norm_eps)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True)
        x = x + a.proj(y.transpose(1, 2).reshape(B, T, c.d_model))
        h = F.rms_norm(x, (c.d_model,), blk.norm2.weight, c.norm_eps)
        u = blk.mlp.up(h)
        gate, up = u.chunk(2, dim=-1) if blk.mlp.swiglu else (u, None)
        x = x + blk.mlp.down(F.silu(gate) * up if blk.mlp.swiglu else F.gelu(u))
    return model.head(F.rms_norm(x, (c.d_model,), model.norm.weight, c.norm_eps)).float()


@pytest.mark.parametrize("kw", [{}, {"mlp": "gelu"}, {"qk_norm": False, "tie_embeddings": False}])
def test_fused_model_equals_the_reference_on_a_seeded_batch(kw):
    torch.manual_seed(0)
    model = GPT(ModelConfig(vocab_size=64, n_layer=2, d_model=32, n_head=4, seq_len=16, **kw))
    for p in model.parameters():  # random norms and projections: the zero-initialized outputs would hide errors
        torch.nn.init.normal_(p, mean=1.0 if p.dim() == 1 else 0.0, std=0.3)
    idx, tgt = torch.randint(0, 64, (3, 16)), torch.randint(0, 64, (3, 16))
    losses, grads = [], []
    for forward in (model, lambda i: reference_forward(model, i)):
        model.zero_grad()
        loss = F.cross_entropy(forward(idx).flatten(0, 1), tgt.flatten())
        loss.backward()
        losses.append(loss.item())
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    for name, g in grads[1].items():
        assert (grads[0][name] - g).abs().max() <= 1e-5 * g.abs().max(), name  # float rounding at g's scale


def test_rope_equals_the_half_split_definition_bit_for_bit():
    x = torch.randn(2, 7, 3, 8)
    cos, sin = fused_rope_tables(9, 8, 10000.0)
    assert torch.equal(rope(x, cos, sin), apply_rope(x, *rope_tables(9, 8, 10000.0)))


@pytest.mark.parametrize("w_shape", [(6,), (4, 6)])
def test_rms_norm_backward_matches_autograd_in_double(w_shape):
    x = torch.randn(2, 3, 4, 6, dtype=torch.double, requires_grad=True)
    w = torch.randn(*w_shape, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w: rms_norm(x, w, 1e-6), (x, w))
    by_hand = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w  # the formula, hand-written
    assert torch.allclose(rms_norm(x, w, 1e-6), by_hand, atol=1e-12)


def test_rms_norm_keeps_bf16_and_computes_its_statistics_wider():
    x = torch.randn(4, 64).to(torch.bfloat16) * 100
    w = torch.ones(64)
    y = rms_norm(x, w, 1e-6)
    assert y.dtype == torch.bfloat16
    assert torch.allclose(y.float(), F.rms_norm(x.float(), (64,), w, 1e-6), atol=2e-2)


def test_rms_norm_under_vmap_equals_one_call_per_lane():
    w, x = torch.randn(3, 16), torch.randn(3, 5, 16)
    def loss(w, x):
        return rms_norm(x, w, 1e-6).pow(2).sum()
    batched = torch.func.vmap(torch.func.grad(loss))(w, x)
    assert torch.allclose(batched, torch.stack([torch.func.grad(loss)(w[i], x[i]) for i in range(3)]), atol=1e-5)
