import pytest

from squeeze import recipes
from squeeze.errors import SqueezeError


def test_recipes_are_copies_with_their_overrides():
    std, reg = recipes.recipe("standard"), recipes.recipe("regularized")
    assert (std.train.weight_decay, std.train.epochs, std.train.optimizer) == (0.1, 4, "adamw")
    assert (reg.train.weight_decay, reg.train.epochs, reg.recipe) == (0.8, 16, "regularized")
    reg.train.lr = 1.0
    assert recipes.recipe("regularized").train.lr != 1.0  # every call builds a fresh config


def test_presets_size_the_model_and_budget():
    c = recipes.preset("default")
    assert (c.model.n_layer, c.model.d_model, c.model.seq_len, c.data.budget_tokens) == (2, 64, 128, 20_000)
    assert c.train.eval_tokens == 4 * 128 * 16 and c.recipe == "regularized" and c.train.final_eval_tokens == 65_536
    assert recipes.preset("gpu").train.final_eval_tokens == 0  # every validation token
    assert recipes.preset("smoke").train.final_eval_tokens > 0
    assert recipes.preset("smoke", "standard").train.epochs == 4  # presets size; recipes decide epochs


@pytest.mark.parametrize("call", [lambda: recipes.recipe("magic"), lambda: recipes.preset("huge")])
def test_unknown_names_fail_clearly(call):
    with pytest.raises(SqueezeError, match="unknown"):
        call()


def test_best_is_regularized_plus_the_options_that_helped():
    b, reg = recipes.recipe("best"), recipes.recipe("regularized")
    assert (b.train.weight_decay, b.train.epochs, b.recipe) == (reg.train.weight_decay, reg.train.epochs, "best")
    assert b.data.doc_shuffle and b.train.aug_replace_rate == 0.05 and b.model.loop_inject
    assert (b.model.loop_start, b.model.loop_end, b.model.loop_repeats) == (2, 4, 2)  # second half of 4 layers
    from squeeze.config import apply_overrides
    for name in recipes.PRESETS:  # placed for the preset's depth, and valid there
        c = apply_overrides(recipes.preset(name, "best"), [])
        assert (c.model.loop_start, c.model.loop_end) == (c.model.n_layer // 2, c.model.n_layer)


def test_snapshot_recipe_is_regularized_plus_lr_cycles_only_and_trains(tiny_store, tmp_path):
    """The snapshot recipe is the cycles alone: the record's other techniques did not help at our scale
    (benchmarks/snapshots.py), so they stay off, and the run costs the FLOPs of a plain one."""
    from squeeze.config import Config, apply_overrides
    from squeeze.train.trainer import train
    s, reg, off = recipes.recipe("snapshot"), recipes.recipe("regularized"), Config()
    assert (s.train.weight_decay, s.train.epochs, s.recipe) == (reg.train.weight_decay, reg.train.epochs, "snapshot")
    assert s.train.lr_cycles == 4
    assert (s.train.wd_cycle_min, s.train.snapshot_noise, s.distill.snapshot_alpha, s.model.mtp_heads) == \
        (off.train.wd_cycle_min, off.train.snapshot_noise, off.distill.snapshot_alpha, off.model.mtp_heads)
    for name in recipes.PRESETS:  # valid at every preset's size
        apply_overrides(recipes.preset(name, "snapshot"), [])
    c = recipes.preset("smoke", "snapshot")  # 2 epochs of 4 steps: 4 cycles of 2
    c.data.path, c.train.dtype = str(tiny_store), "fp32"
    out = train(c, tmp_path / "r", quiet=True)
    assert out["snapshots"] == [f"snapshot{i:03d}.safetensors" for i in (1, 2, 3, 4)]
    plain = recipes.preset("smoke", "regularized")
    plain.data.path, plain.train.dtype = str(tiny_store), "fp32"
    assert out["flops"] == train(plain, tmp_path / "p", quiet=True)["flops"]
