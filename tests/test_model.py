import math
import re

import pytest
import torch

from squeeze.config import ModelConfig
from squeeze.model import GPT, apply_rope, rope_tables


def tiny(**kw) -> GPT:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=50, n_layer=2, d_model=16, n_head=2, seq_len=12, **kw)
    model = GPT(cfg)
    for p in model.parameters():  # zero-initialized projections would hide a causality leak
        torch.nn.init.normal_(p, std=0.3)
    return model.eval()


@pytest.mark.parametrize("kw", [{}, {"mlp": "gelu"}, {"qk_norm": False, "tie_embeddings": False}])
def test_causality(kw):
    model = tiny(**kw)
    idx = torch.randint(0, 50, (2, 12))
    logits = model(idx)
    changed = idx.clone()
    changed[:, 7:] = (changed[:, 7:] + 1) % 50
    logits2 = model(changed)
    assert torch.allclose(logits[:, :7], logits2[:, :7], atol=1e-6)
    assert not torch.allclose(logits[:, 7], logits2[:, 7])


def test_param_counts_by_hand():
    d, V, L, h = 16, 50, 2, 64  # SwiGLU hidden = 2/3 * 4 * 16 = 42.7 -> rounded up to a multiple of 8 = 48
    h = 48
    block = 3 * d * d + d * d + 2 * d * h + h * d + 2 * d + 2 * (d // 2)  # qkv, proj, up, down, 2 norms, qk-norms
    tied = GPT(ModelConfig(vocab_size=V, n_layer=L, d_model=d, n_head=2, seq_len=12))
    assert tied.param_counts() == {"total": V * d + L * block + d, "embedding": V * d, "non_embedding": L * block + d}
    untied = GPT(ModelConfig(vocab_size=V, n_layer=L, d_model=d, n_head=2, seq_len=12, tie_embeddings=False))
    assert untied.param_counts()["total"] == tied.param_counts()["total"] + V * d
    assert untied.param_counts()["non_embedding"] == tied.param_counts()["non_embedding"]


def test_tied_head_is_the_embedding():
    model = tiny()
    assert model.head.weight is model.embed.weight


def test_rope_is_a_rotation_and_relative():
    cos, sin = rope_tables(8, 4, 10000.0)
    x = torch.randn(2, 8, 3, 4)  # [B, T, H, K]
    assert torch.allclose(apply_rope(x, cos, sin).norm(dim=-1), x.norm(dim=-1), atol=1e-5)
    q, k = torch.randn(4), torch.randn(4)  # <rot(q, m), rot(k, n)> depends only on m - n
    def dot(m, n):
        qm = apply_rope(q.expand(1, 8, 1, 4).contiguous(), cos, sin)[0, m, 0]
        kn = apply_rope(k.expand(1, 8, 1, 4).contiguous(), cos, sin)[0, n, 0]
        return (qm * kn).sum()
    assert math.isclose(dot(5, 3), dot(4, 2), rel_tol=1e-4)
    assert not math.isclose(dot(5, 3), dot(5, 5), rel_tol=1e-3)  # and it does depend on it


def _rope_half_split(x_BTHK, seq_len, base):
    """RoPE as the paper's pairs read, on half-width views: (x1·c - x2·s, x1·s + x2·c)."""
    inv_freq = base ** (-torch.arange(0, x_BTHK.shape[-1], 2, dtype=torch.float32) / x_BTHK.shape[-1])
    angle = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)[:x_BTHK.shape[1], None]
    x1, x2 = x_BTHK.chunk(2, dim=-1)
    return torch.cat([x1 * angle.cos() - x2 * angle.sin(), x1 * angle.sin() + x2 * angle.cos()], dim=-1)


def test_rope_equals_the_half_split_form_bit_for_bit():
    torch.manual_seed(0)
    cos, sin = rope_tables(16, 8, 10000.0)
    for x0 in (torch.randn(3, 16, 2, 8), torch.randn(3, 12, 6, 8)[:, :, ::2]):  # contiguous, and a strided view
        g = torch.randn(x0.shape)
        fast, ref = x0.clone().requires_grad_(), x0.clone().requires_grad_()
        y_fast, y_ref = apply_rope(fast, cos, sin), _rope_half_split(ref, 16, 10000.0)
        y_fast.backward(g)
        y_ref.backward(g)
        assert torch.equal(y_fast, y_ref) and torch.equal(fast.grad, ref.grad)


def test_dropout_only_in_training():
    model = tiny(dropout=0.5)
    idx = torch.randint(0, 50, (2, 12))
    assert torch.equal(model(idx), model(idx))
    model.train()
    assert not torch.equal(model(idx), model(idx))


def test_generate_and_context_limit():
    model = tiny()
    out = model.generate(torch.zeros(1, 3, dtype=torch.long), 15, temperature=0)
    assert out.shape == (1, 18)
    with pytest.raises(ValueError, match="exceeds model.seq_len"):
        model(torch.zeros(1, 13, dtype=torch.long))


# --- issue 5: looped block, input injection, stochastic depth, split dropout ---------------------------------

from squeeze.errors import SqueezeError  # noqa: E402
from squeeze.model import block_order, drop_path_probs  # noqa: E402


def plain_and(**kw) -> tuple[GPT, GPT]:
    """A plain model and one with options `kw`, the second holding the first's weights (extra params kept)."""
    plain = tiny()
    other = GPT(ModelConfig(vocab_size=50, n_layer=2, d_model=16, n_head=2, seq_len=12, **kw))
    missing, unexpected = other.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all(k.endswith(("l_res", "l_x0")) for k in missing)
    return plain, other.eval()


def test_block_order_and_drop_path_probs_by_hand():
    assert block_order(4, 1, 3, 0) == [0, 1, 2, 3]
    assert block_order(4, 1, 3, 2) == [0, 1, 2, 1, 2, 1, 2, 3]
    assert block_order(2, 0, 2, 1) == [0, 1, 0, 1]
    assert drop_path_probs(4, 0.2) == pytest.approx([0.05, 0.1, 0.15, 0.2])


def test_loop_repeats_zero_is_the_plain_model():
    plain, looped = plain_and(loop_start=0, loop_end=1, loop_repeats=0)
    assert plain.state_dict().keys() == looped.state_dict().keys()
    idx = torch.randint(0, 50, (2, 12))
    assert torch.equal(plain(idx), looped(idx))
    _, switchable = plain_and(loop_start=1, loop_end=2, loop_repeats=3)
    switchable.repeats = 0  # what the trainer sets before train.loop_from
    assert torch.equal(plain(idx), switchable(idx))


def test_looped_forward_reuses_the_shared_blocks():
    plain, looped = plain_and(loop_start=1, loop_end=2, loop_repeats=2)
    idx = torch.randint(0, 50, (2, 12))
    x = plain.embed(idx)
    for i in (0, 1, 1, 1):
        x = plain.blocks[i](x, plain.rope_cos, plain.rope_sin)
    assert torch.allclose(looped(idx), plain.head(plain.norm(x)), atol=1e-6)
    assert not torch.allclose(looped(idx), plain(idx))


def test_looping_keeps_unique_params_and_counts_depth_and_flops():
    plain, looped = plain_and(loop_start=1, loop_end=2, loop_repeats=2)
    assert looped.param_counts() == plain.param_counts()
    assert (plain.effective_depth(), looped.effective_depth(), looped.effective_depth(0)) == (2, 4, 2)
    d, T = 16, 12
    block = sum(p.numel() for p in plain.blocks[1].parameters())
    assert looped.flops_per_token(0) == plain.flops_per_token()
    assert looped.flops_per_token() == plain.flops_per_token() + 2 * (6 * block + 12 * d * T)


def test_input_injection_starts_as_the_plain_model():
    plain, injected = plain_and(loop_inject=True)
    assert injected.param_counts()["total"] == plain.param_counts()["total"] + 2 * 2  # l_res, l_x0 per block
    idx = torch.randint(0, 50, (2, 12))
    assert torch.equal(plain(idx), injected(idx))
    with torch.no_grad():
        injected.blocks[1].l_x0.fill_(0.5)
    assert not torch.allclose(plain(idx), injected(idx))


def test_drop_path_and_split_dropout_are_off_in_eval():
    idx = torch.randint(0, 50, (2, 12))
    for kw in ({"drop_path": 0.5}, {"attn_dropout": 0.5}, {"resid_dropout": 0.5}):
        plain, dropped = plain_and(**kw)
        assert torch.equal(dropped(idx), plain(idx)), kw  # eval: deterministic and equal to the no-drop model
        dropped.train()
        assert not torch.equal(dropped(idx), dropped(idx)), kw
    _, overridden = plain_and(dropout=0.5, attn_dropout=0.0, resid_dropout=0.0)
    overridden.train()  # both overrides at 0 switch model.dropout off
    assert torch.equal(overridden(idx), overridden(idx))


@pytest.mark.parametrize("kw, message", [
    ({"loop_start": 1, "loop_end": 1, "loop_repeats": 1}, "need 0 <= loop_start < loop_end"),
    ({"loop_start": 0, "loop_end": 3, "loop_repeats": 1}, "loop_end <= model.n_layer=2"),
    ({"loop_repeats": -1}, "loop_repeats=-1 must be >= 0"),
    ({"drop_path": 1.0}, "drop_path=1.0 must be in [0, 1)"),
    ({"attn_dropout": 1.5}, "attn_dropout=1.5 must be -1"),
])
def test_bad_loop_and_regularizer_configs(kw, message):
    with pytest.raises(SqueezeError, match=re.escape(message)):
        ModelConfig(vocab_size=50, n_layer=2, d_model=16, n_head=2, seq_len=12, **kw)
