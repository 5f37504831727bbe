import math

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
    x = torch.randn(1, 1, 8, 4)
    assert torch.allclose(apply_rope(x, cos, sin).norm(dim=-1), x.norm(dim=-1), atol=1e-5)
    q, k = torch.randn(4), torch.randn(4)  # <rot(q, m), rot(k, n)> depends only on m - n
    def dot(m, n):
        qm = apply_rope(q.expand(1, 1, 8, 4).contiguous(), cos, sin)[0, 0, m]
        kn = apply_rope(k.expand(1, 1, 8, 4).contiguous(), cos, sin)[0, 0, n]
        return (qm * kn).sum()
    assert math.isclose(dot(5, 3), dot(4, 2), rel_tol=1e-4)


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
