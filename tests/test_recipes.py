import warnings

import pytest

from squeeze import presets, recipes
from squeeze.errors import SqueezeError


def test_recipes_are_copies_with_their_overrides():
    std, reg = recipes.recipe("standard"), recipes.recipe("regularized")
    assert (std.train.weight_decay, std.train.epochs, std.train.optimizer) == (0.1, 4, "adamw")
    assert (reg.train.weight_decay, reg.train.epochs, reg.recipe) == (0.8, 16, "regularized")
    reg.train.lr = 1.0
    assert recipes.recipe("regularized").train.lr != 1.0  # every call builds a fresh config


def test_presets_size_the_model_and_budget():
    c = presets.preset_config("default")
    assert (c.model.n_layer, c.model.d_model, c.model.seq_len, c.data.budget_tokens) == (2, 64, 128, 10_000)
    for p in presets.PRESETS.values():  # one budget per preset: a run's D0 is the study's
        assert presets.preset_config(p.name).data.budget_tokens == p.study.d0 == p.d0
    assert c.train.eval_tokens == 4 * 128 * 16 and c.recipe == "regularized" and c.train.final_eval_tokens == 65_536
    assert presets.preset_config("gpu").train.final_eval_tokens == 0  # every validation token
    assert presets.preset_config("smoke").train.final_eval_tokens > 0
    assert presets.preset_config("smoke", "standard").train.epochs == 4  # presets size; recipes decide epochs


def test_old_names_of_the_preset_table_still_work_and_warn():
    with pytest.warns(DeprecationWarning, match="squeeze.recipes.preset moved to squeeze.presets.preset_config"):
        old = recipes.preset("smoke", "standard")
    assert old == presets.preset_config("smoke", "standard")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert recipes.PRESETS is presets.PRESETS and recipes.PERPLEXITY_REFERENCE == "perplexity-reference"
    with pytest.raises(AttributeError, match="has no attribute 'nonesuch'"):
        recipes.nonesuch  # noqa: B018


@pytest.mark.parametrize("call", [lambda: recipes.recipe("magic"), lambda: presets.preset_config("huge")])
def test_unknown_names_fail_clearly(call):
    with pytest.raises(SqueezeError, match="unknown"):
        call()


def test_best_is_regularized_plus_the_options_that_helped():
    b, reg = recipes.recipe("best"), recipes.recipe("regularized")
    assert (b.train.weight_decay, b.train.epochs, b.recipe) == (reg.train.weight_decay, reg.train.epochs, "best")
    assert b.data.doc_shuffle and b.train.aug_replace_rate == 0.05 and b.model.loop_inject
    assert (b.model.loop_start, b.model.loop_end, b.model.loop_repeats) == (2, 4, 2)  # second half of 4 layers
    from squeeze.config import apply_overrides
    for name in presets.PRESETS:  # placed for the preset's depth, and valid there
        c = apply_overrides(presets.preset_config(name, "best"), [])
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
    for name in presets.PRESETS:  # valid at every preset's size
        apply_overrides(presets.preset_config(name, "snapshot"), [])
    c = presets.preset_config("smoke", "snapshot")  # 2 epochs of 4 steps: 4 cycles of 2
    c.data.path, c.train.dtype = str(tiny_store), "fp32"
    out = train(c, tmp_path / "r", quiet=True)
    assert out["snapshots"] == [f"snapshot{i:03d}.safetensors" for i in (1, 2, 3, 4)]
    plain = presets.preset_config("smoke", "regularized")
    plain.data.path, plain.train.dtype = str(tiny_store), "fp32"
    assert out["flops"] == train(plain, tmp_path / "p", quiet=True)["flops"]
