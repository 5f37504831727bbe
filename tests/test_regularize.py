import pytest
import torch

from squeeze.config import Config, ModelConfig, TrainConfig
from squeeze.errors import SqueezeError
from squeeze.model import GPT
from squeeze.train.optim import WD_MAX_FACTOR, build_optimizers, set_lr, set_weight_decay, wd_factor
from squeeze.train.regularize import augment_tokens, mean_depth, repeats_at, training_flops


def looped_config(loop_from: float, repeats: int = 2) -> Config:
    c = Config()
    c.model = ModelConfig(n_layer=3, d_model=16, n_head=2, loop_start=1, loop_end=3, loop_repeats=repeats)
    c.train.loop_from = loop_from
    return c


def test_repeats_switch_on_at_loop_from():
    c = looped_config(0.3)
    assert [repeats_at(s, 10, c.model, c.train) for s in range(10)] == [0, 0, 0] + [2] * 7
    c0 = looped_config(0.0)
    assert repeats_at(0, 10, c0.model, c0.train) == 2
    c1 = looped_config(1.0)
    assert repeats_at(9, 10, c1.model, c1.train) == 0  # loop_from = 1: never loops while training


def test_training_flops_count_the_active_repeats_by_hand():
    c = looped_config(0.3)
    fpt = lambda r: 10 + r  # noqa: E731
    tokens = lambda step: 100 * step  # noqa: E731
    assert training_flops(fpt, tokens, 10, c) == 10 * 300 + 12 * 700
    assert training_flops(fpt, tokens, 10, looped_config(0.3, repeats=0)) == 10 * 1000
    assert mean_depth(10, c) == pytest.approx(3 + 2 * 2 * 0.7)


def test_wd_factor_by_hand():
    assert wd_factor(0.5, "constant") == 1.0
    assert wd_factor(0.5, "inverse") == 2.0 and wd_factor(1.0, "inverse") == 1.0
    assert wd_factor(0.01, "inverse") == WD_MAX_FACTOR == 10.0 and wd_factor(0.0, "inverse") == 10.0


@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
def test_inverse_wd_keeps_lr_times_wd_at_its_peak(optimizer):
    model = GPT(ModelConfig(vocab_size=40, n_layer=1, d_model=16, n_head=2, seq_len=8))
    opts = build_optimizers(model, TrainConfig(optimizer=optimizer, weight_decay=0.8))
    peak = [(g["lr"] * g["weight_decay"]) for o in opts for g in o.param_groups]
    for mult in (0.5, 0.25, 1.0):
        set_lr(opts, mult)
        set_weight_decay(opts, "inverse")
        assert [g["lr"] * g["weight_decay"] for o in opts for g in o.param_groups] == pytest.approx(peak)
    set_lr(opts, 0.05)  # below 1/10: the factor stops at 10
    set_weight_decay(opts, "inverse")
    assert opts[0].param_groups[0]["weight_decay"] == pytest.approx(8.0)


def test_augmentation_rates_disjointness_and_determinism():
    x = torch.randint(1, 100, (64, 128))
    a = augment_tokens(x, 100, 0.1, 0.2, 0, seed=3, step=7)
    assert torch.equal(a, augment_tokens(x, 100, 0.1, 0.2, 0, seed=3, step=7))  # pure in (seed, step)
    assert not torch.equal(a, augment_tokens(x, 100, 0.1, 0.2, 0, seed=3, step=8))
    masked = (a == 0).float().mean().item()  # x has no 0, so every 0 is a mask (or a replacement drawing 0)
    changed = (a != x).float().mean().item()
    assert masked == pytest.approx(0.1 + 0.2 / 100, abs=0.015)
    assert changed == pytest.approx(0.1 + 0.2 * 99 / 100, abs=0.02)  # a replacement may draw the same id
    m = augment_tokens(x, 100, 0.3, 0.0, 5, seed=0, step=0)
    assert set(m[m != x].tolist()) <= {5}
    assert augment_tokens(x, 100, 0.0, 0.0, 0, 0, 0) is x
    with pytest.raises(SqueezeError, match="aug_mask_id=100"):
        augment_tokens(x, 100, 0.1, 0.0, 100, 0, 0)
