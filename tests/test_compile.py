"""train.compile = auto | on | off: the rule by hand, its record in config.json and run.json, batched lanes that
stay eager, and a compiled run that resumes after a kill bit for bit."""
import json

import pytest
import torch
from safetensors.torch import load_file

from squeeze import config as C
from squeeze.device import precision
from squeeze.device.precision import choose_compile, choose_dtype
from squeeze.train import compiling
from squeeze.train.batched import train_group, why_not_batched
from squeeze.train.trainer import train
from tests.conftest import tiny_config, train_until_killed


@pytest.mark.parametrize("flops, native, want", [
    # fp32 (no native bf16): gain 1.3 saves 3/13 of the eager time; the bar is 1 x 16 s, so compiling pays from
    # 16 / (3/13) = 69.3 s eager = 4.16e12 FLOPs at 6e10 FLOP/s (one thread)
    (4.1e12, False, False), (4.2e12, False, True),
    # bf16 where native: gain 1.7 saves 7/17; from 16 / (7/17) = 38.9 s eager = 2.33e12 FLOPs
    (2.3e12, True, False), (2.4e12, True, True),
])
def test_auto_compiles_when_the_saving_clears_the_bar(flops, native, want):
    got, why = choose_compile("auto", "cpu", flops, 1, native_bf16=native)
    assert got is want and why.startswith("auto: ~")


def test_auto_counts_threads_and_asked_values_win():
    assert choose_compile("auto", "cpu", 4.2e12, 1, native_bf16=False)[0]
    assert not choose_compile("auto", "cpu", 4.2e12, 2, native_bf16=False)[0]  # twice the eager rate: half the time
    assert choose_compile("on", "cpu", 0.0, 1) == (True, "asked for")
    assert choose_compile("off", "cpu", 1e20, 1) == (False, "asked for")
    assert choose_compile("auto", "cpu", 1e20, 1, dtype="fp32", native_bf16=True)[1].startswith(
        "auto: ~1,666,666,667 s eager; compiling in fp32 (1.3x)")  # an asked fp32 gets fp32's gain


def test_older_configs_with_a_bool_switch_still_load():
    d = C.to_dict(C.Config())
    d["train"]["compile"] = False
    assert C.from_dict(d).train.compile == "off"
    d["train"]["compile"] = True
    assert C.from_dict(d).train.compile == "on"


def test_a_short_run_resolves_auto_to_eager_and_records_why(tiny_store, tmp_path):
    cfg = tiny_config(tiny_store, epochs=1)
    assert cfg.train.compile == "auto"  # the default
    train(cfg, tmp_path / "r", quiet=True)
    saved = json.loads((tmp_path / "r" / "config.json").read_text())["train"]
    info = json.loads((tmp_path / "r" / "run.json").read_text())
    assert saved["compile"] == info["compile"] == "off"
    assert info["compile_reason"].startswith("auto: ~0 s eager")


def test_auto_compiles_a_long_run_and_it_resumes_bit_identical(tiny_store, tmp_path, monkeypatch):
    """With the eager rate set so low that the tiny run looks long, auto compiles it: recorded as on, and a
    compiled run killed at step 7 and resumed ends with the weights of one that never stopped, bit for bit."""
    monkeypatch.setattr(precision, "EAGER_FLOPS_PER_THREAD", 1.0)
    cfg = tiny_config(tiny_store, epochs=2, ckpt_every=5)
    whole = train(cfg, tmp_path / "whole", quiet=True)
    info = json.loads((tmp_path / "whole" / "run.json").read_text())
    assert info["compile"] == "on" and "would save" in info["compile_reason"]
    train_until_killed(cfg, tmp_path / "killed", monkeypatch, at_step=7)
    resumed = train(cfg, tmp_path / "killed", resume=True, quiet=True)
    assert resumed["val_loss"] == whole["val_loss"]
    a, b = load_file(tmp_path / "whole" / "model.safetensors"), load_file(tmp_path / "killed" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_batched_lanes_stay_eager_and_long_auto_runs_train_alone(tiny_store, tmp_path, monkeypatch):
    cfgs = [tiny_config(tiny_store, epochs=1, seed=s) for s in (0, 1)]
    train_group([(c, tmp_path / f"s{i}", False, False) for i, c in enumerate(cfgs)], quiet=True)
    for i in (0, 1):
        info = json.loads((tmp_path / f"s{i}" / "run.json").read_text())
        assert (info["compile"], info["compile_reason"]) == ("off", compiling.BATCHED)
    long = cfgs[0].copy()
    long.data.budget_tokens = 4096
    assert why_not_batched(long) is None
    monkeypatch.setattr(precision, "EAGER_FLOPS_PER_THREAD", 1.0)
    assert why_not_batched(long) == "train.compile cannot be batched"
    long.train.compile = "off"
    assert why_not_batched(long) is None


def test_compiled_auto_dtype_follows_the_measured_width_rule():
    """bf16 for compiled runs on a native-bf16 CPU only from width 128 up (2 x 64 measured faster in fp32)."""
    assert choose_dtype("auto", "cpu", True, native_bf16=True, width=128)[0] == "bf16"
    assert choose_dtype("auto", "cpu", True, native_bf16=True, width=64) == (
        "fp32", "auto: compiled, width 64 < 128 (there compiled fp32 measured faster)")
    assert choose_dtype("auto", "cpu", True, native_bf16=True)[0] == "bf16"  # width unknown: the wide rule
    assert choose_dtype("bf16", "cpu", True, native_bf16=True, width=64)[0] == "bf16"  # asked for wins
    # the compile rule takes the gain of the dtype it would compile in: fp32's 1.3x at width 64
    assert "compiling in fp32 (1.3x)" in choose_compile("auto", "cpu", 1e13, 1, native_bf16=True, width=64)[1]


def test_a_compiled_run_compiles_only_full_steps_and_runs_the_short_last_batch_eager(tiny_store, tmp_path,
                                                                                      monkeypatch):
    """torch.compile replaced by a recorder: the compiled step only ever sees full batches, while the epochs' short
    last batches (budget chosen so the sequences are not a multiple of the batch) train through the eager step, and
    the run equals an eager run of the same config (the recorder calls the eager function)."""
    from squeeze.data.store import TokenStore
    seen = []

    def fake_compile(fn, **kwargs):
        assert kwargs == {"dynamic": False}
        return lambda x, y, *rest: seen.append(x.shape[0]) or fn(x, y, *rest)
    monkeypatch.setattr(torch, "compile", fake_compile)
    cfg = tiny_config(tiny_store, epochs=2, compile="on")
    cfg.data.budget_tokens = 11 * 33 * 2  # 22 sequences of 33 tokens (seq 32 + 1): 8 + 8 + 6 rows an epoch
    assert TokenStore.open(tiny_store).meta["train_tokens"] > cfg.data.budget_tokens
    compiled = train(cfg, tmp_path / "compiled", quiet=True)
    assert compiled["steps"] > len(seen) > 0 and set(seen) == {8}  # the short steps never reached the compiled fn
    cfg.train.compile = "off"
    eager = train(cfg, tmp_path / "eager", quiet=True)
    assert eager["steps"] == compiled["steps"] and eager["val_loss"] == compiled["val_loss"]
