"""Multi-token prediction (issue 19): the loss on a hand-made example, the heads in the model (causal, left out of
the parameter count, built after the LM's init), a trained run's summary, and `squeeze eval` / export of it."""
import math

import pytest
import torch
import torch.nn.functional as F

from squeeze.config import ModelConfig
from squeeze.model import GPT
from squeeze.train.mtp import mtp_flops, mtp_loss, objective
from squeeze.train.trainer import train
from tests.conftest import tiny_config


def test_mtp_loss_by_hand():
    """T = 3, V = 3, two heads: head 1 predicts y[1], y[2] from positions 0, 1; head 2 predicts y[2] from 0."""
    y_BT = torch.tensor([[0, 2, 1]])
    head1 = torch.tensor([[[0.0, 0.0, math.log(2)], [math.log(3), 0.0, 0.0]]])  # p = (1/4, 1/4, 1/2), (3/5, 1/5, 1/5)
    head2 = torch.tensor([[[0.0, 0.0, 0.0]]])  # uniform
    # head 1: -log p(2) = log 2 at position 0, -log p(1) = log 5 at position 1; head 2: log 3
    expected = ((math.log(2) + math.log(5)) / 2 + math.log(3)) / 2
    assert mtp_loss([head1, head2], y_BT).item() == pytest.approx(expected)
    gen = torch.Generator().manual_seed(0)  # and against F.cross_entropy on shifted targets, bigger
    y_BT = torch.randint(0, 7, (2, 6), generator=gen)
    heads = [torch.randn(2, 6 - k, 7, generator=gen) for k in (1, 2, 3)]
    ref = sum(F.cross_entropy(h.reshape(-1, 7), y_BT[:, k:].reshape(-1)) for k, h in enumerate(heads, 1)) / 3
    assert mtp_loss(heads, y_BT).item() == pytest.approx(ref.item())


def mtp_model(heads=2, **kw):
    torch.manual_seed(0)
    return GPT(ModelConfig(vocab_size=50, n_layer=2, d_model=16, n_head=2, seq_len=12, mtp_heads=heads, **kw))


def test_heads_are_causal_extra_and_built_after_the_lm():
    m, plain = mtp_model(2), mtp_model(0)
    lm = {n: p for n, p in m.named_parameters() if not n.startswith("mtp.")}
    assert all(torch.equal(p, dict(plain.named_parameters())[n]) for n, p in lm.items())  # same seed, same LM
    D = 16
    assert m.param_counts() == {**plain.param_counts(), "mtp": 2 * (D * D + D)}  # total: the LM alone
    assert m.flops_per_token() == plain.flops_per_token()
    for p in m.parameters():  # random everywhere, so a leak would show
        torch.nn.init.normal_(p, std=0.3)
    m.eval()
    x = torch.randint(0, 50, (2, 12))
    logits, heads = m(x, mtp=True)
    assert torch.equal(logits, m(x)) and [h.shape for h in heads] == [(2, 11, 50), (2, 10, 50)]
    changed = x.clone()
    changed[:, 7:] = (changed[:, 7:] + 1) % 50
    _, heads2 = m(changed, mtp=True)
    for h, h2 in zip(heads, heads2):  # position t of every head sees tokens <= t only
        assert torch.allclose(h[:, :7], h2[:, :7], atol=1e-6) and not torch.allclose(h[:, 7], h2[:, 7])
    y = torch.randint(0, 50, (2, 12))
    expected = F.cross_entropy(logits.flatten(0, 1), y.flatten()) + 0.3 * mtp_loss(heads, y)
    assert objective(m, True, 0.3, 0.0, 1.0, x, y).item() == pytest.approx(expected.item())


def test_mtp_flops_by_hand():
    cfg = ModelConfig(vocab_size=50, n_layer=2, d_model=16, n_head=2, seq_len=12, mtp_heads=2)
    # 240 tokens = 20 sequences; head 1 runs on 11 positions, head 2 on 10; 6 (D² + DV) each
    assert mtp_flops(cfg, 240) == 20 * 21 * 6 * (256 + 16 * 50)


def test_an_mtp_run_counts_heads_apart_and_evaluates_and_exports(tiny_store, tmp_path, capsys):
    from squeeze.cli import main
    cfg = tiny_config(tiny_store, epochs=1, mtp_weight=0.5)
    cfg.model.mtp_heads = 2
    s = train(cfg, tmp_path / "r", quiet=True)
    plain = GPT(ModelConfig(**{**cfg.model.__dict__, "vocab_size": 300, "mtp_heads": 0}))
    assert s["params"] == plain.param_counts()["total"] and s["mtp_params"] == 2 * (32 * 32 + 32)
    assert s["mtp_flops"] == mtp_flops(ModelConfig(**{**cfg.model.__dict__, "vocab_size": 300}), s["tokens_seen"])
    assert s["flops"] == plain.flops_per_token() * s["tokens_seen"] + s["mtp_flops"]
    assert main(["eval", str(tmp_path / "r"), "--json"]) == 0
    assert '"loss": ' in capsys.readouterr().out
    assert main(["export", str(tmp_path / "r"), "--out", str(tmp_path / "hf")]) == 0  # the heads are left out
    from safetensors.torch import load_file
    exported = load_file(tmp_path / "hf" / "model.safetensors")
    assert not any("mtp" in k for k in exported) and len(exported) == len(to_hf_names(plain))


def to_hf_names(model):
    from squeeze.interop.hf import to_hf_state
    return to_hf_state(model.state_dict(), model.cfg)
