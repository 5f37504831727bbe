import math

import pytest
import torch

from squeeze.config import ModelConfig, TrainConfig
from squeeze.model import GPT
from squeeze.train.optim import build_optimizers, lr_multiplier, split_params


def model():
    return GPT(ModelConfig(vocab_size=40, n_layer=1, d_model=16, n_head=2, seq_len=8))


def test_only_hidden_matrices_decay_by_default():
    m = model()
    groups = split_params(m)
    assert all(p.ndim == 2 for p in groups["hidden"]) and all(p.ndim == 1 for p in groups["gain"])
    assert groups["embed"] == [m.embed.weight]  # tied head counted once
    (opt,) = build_optimizers(m, TrainConfig(weight_decay=0.8))
    decays = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    assert decays[id(m.blocks[0].attn.qkv.weight)] == 0.8
    assert decays[id(m.embed.weight)] == 0.0 and decays[id(m.norm.weight)] == 0.0
    (opt,) = build_optimizers(m, TrainConfig(weight_decay=0.8, decay_embeddings=True))
    assert {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}[id(m.embed.weight)] == 0.8


def test_muon_takes_hidden_matrices_adamw_the_rest():
    m = model()
    muon, adam = build_optimizers(m, TrainConfig(optimizer="muon"))
    assert isinstance(muon, torch.optim.Muon) and isinstance(adam, torch.optim.AdamW)
    in_muon = {id(p) for g in muon.param_groups for p in g["params"]}
    assert id(m.blocks[0].mlp.up.weight) in in_muon and id(m.embed.weight) not in in_muon
    loss = m(torch.randint(0, 40, (2, 8))).logsumexp(-1).mean()
    loss.backward()
    muon.step(), adam.step()  # one real step runs


def test_schedules_by_hand():
    cos = TrainConfig(schedule="cosine", warmup=0.1, min_lr_frac=0.1)
    assert [lr_multiplier(s, 100, cos) for s in (0, 9)] == [0.1, 1.0]  # linear warmup over 10 steps
    assert lr_multiplier(10, 100, cos) == pytest.approx(1.0)
    assert lr_multiplier(99, 100, cos) == pytest.approx(0.1)  # the last step reaches the floor
    mid = 10 + (99 - 10) / 2
    assert lr_multiplier(int(mid), 100, cos) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 44 / 89)))
    wsd = TrainConfig(schedule="wsd", warmup=0.0, decay_frac=0.2, min_lr_frac=0.0)
    assert lr_multiplier(79, 100, wsd) == 1.0
    assert lr_multiplier(80, 100, wsd) == pytest.approx(1 - 1 / 20)
    assert lr_multiplier(99, 100, wsd) == pytest.approx(0.0)
    assert lr_multiplier(50, 100, TrainConfig(schedule="constant", warmup=0.0)) == 1.0
