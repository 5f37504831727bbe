import math

import pytest
import torch

from squeeze.config import ModelConfig, TrainConfig
from squeeze.errors import SqueezeError
from squeeze.model import GPT
from squeeze.train.optim import (
    build_optimizers,
    cycle_bounds,
    cycle_of,
    cycle_wd_factor,
    lr_multiplier,
    set_lr,
    set_weight_decay,
    split_params,
)


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


def test_cyclic_schedule_and_cycle_weight_decay_by_hand():
    """40 steps in 4 cycles of 10, warmup 5% = 2 steps in the first cycle only, floor 0.1, wd 0.7x at the peak."""
    c = TrainConfig(lr_cycles=4, warmup=0.05, min_lr_frac=0.1, wd_cycle_min=0.7)
    assert cycle_bounds(40, 4) == [0, 10, 20, 30, 40] and cycle_bounds(10, 4) == [0, 2, 5, 7, 10]
    assert [cycle_of(s, cycle_bounds(40, 4)) for s in (0, 9, 10, 39)] == [0, 0, 1, 3]
    lr = [lr_multiplier(s, 40, c) for s in range(40)]
    assert lr[0] == 0.5 and lr[1] == 1.0 and lr[2] == pytest.approx(1.0)  # warmup, then the cosine from the peak
    assert lr[5] == pytest.approx(0.1 + 0.45 * (1 + 0.2225209340))  # (5-2)/(10-1-2) = 3/7 of cycle 1: cos(3pi/7)
    assert lr[9] == pytest.approx(0.1) and lr[19] == pytest.approx(0.1) and lr[39] == pytest.approx(0.1)
    assert lr[10] == lr[20] == lr[30] == 1.0  # later cycles restart at the peak, no second warmup
    assert lr[14] == pytest.approx(0.628141680)  # 4/9 of cycle 2: 0.1 + 0.45 (1 + cos(4pi/9))
    assert lr[10:20] == lr[20:30] == lr[30:40]  # the cycles after the first are the same curve
    wd = [cycle_wd_factor(m, 0.1, 0.7) for m in lr]
    assert wd[10] == pytest.approx(0.7) and wd[19] == pytest.approx(1.0)  # 0.7 at the peak lr, 1.0 at the floor
    assert wd[14] == pytest.approx(1 - 0.3 * (0.628141680 - 0.1) / 0.9)  # 0.82395: linear in the lr
    assert wd[0] == pytest.approx(1 - 0.3 * 0.4 / 0.9)  # warmup's 0.5 lies 4/9 of the way from floor to peak
    assert cycle_wd_factor(0.05, 0.1, 0.7) == 1.0 and cycle_wd_factor(0.3, 0.1, 1.0) == 1.0  # below floor; off
    assert all(0.7 - 1e-12 <= w <= 1.0 for w in wd)
    one, plain = TrainConfig(lr_cycles=1), TrainConfig()  # one cycle is the plain cosine, bit for bit
    assert [lr_multiplier(s, 37, one) for s in range(37)] == [lr_multiplier(s, 37, plain) for s in range(37)]


def test_cycle_weight_decay_sets_the_groups():
    model = GPT(ModelConfig(vocab_size=40, n_layer=1, d_model=16, n_head=2, seq_len=8))
    opts = build_optimizers(model, TrainConfig(weight_decay=0.8))
    for mult, expected in ((1.0, 0.56), (0.1, 0.8), (0.55, 0.68)):
        set_lr(opts, mult)
        set_weight_decay(opts, "constant", floor=0.1, wd_min=0.7)
        assert [g["weight_decay"] for g in opts[0].param_groups] == pytest.approx([expected, 0.0, 0.0])


@pytest.mark.parametrize("kw,message", [
    (dict(lr_cycles=4, schedule="wsd"), "needs train.schedule=cosine"),
    (dict(lr_cycles=4, warmup=0.25), "shorter than the first"),
    (dict(wd_cycle_min=0.0), r"must be in \(0, 1\]"),
    (dict(wd_cycle_min=0.7, wd_schedule="inverse"), "choose one"),
    (dict(snapshot_noise=0.1), "needs train.lr_cycles > 1"),
])
def test_bad_cycle_configs(kw, message):
    with pytest.raises(SqueezeError, match=message):
        TrainConfig(**kw)
