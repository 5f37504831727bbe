"""squeeze.device.perf and the trainer's FLOP/s fields: the arithmetic against hand-computed values, the probe's
cache and its untouched RNG, and the fields a finished run writes (never their timing-dependent values)."""
import json

import pytest
import torch

from squeeze.device import perf
from squeeze.train import trainer
from squeeze.train.setup import make_setup
from tests.conftest import tiny_config


def test_flop_arithmetic_against_hand_computed_values():
    assert perf.matmul_flops(3) == 54  # 9 outputs x (3 multiplies + 3 adds)
    assert perf.matmul_flops(2048) == 17_179_869_184
    assert perf.flops_per_second(6e9, 2.0) == 3e9
    assert perf.flops_per_second(6e9, 0.0) == 0.0
    assert perf.mfu(3e9, 12e9) == 0.25
    assert perf.mfu(3e9, 0.0) == 0.0


def test_summary_divides_the_run_flops_by_seconds_and_by_the_peak(tiny_store):
    """_summary with a hand-set wall time (2 s) and peak (4 GFLOP/s): FLOP/s = flops / 2, MFU = that / 4e9."""
    s = make_setup(tiny_config(tiny_store, epochs=1))
    model = trainer.GPT(s.cfg.model)
    out = trainer._summary(s, model, {"loss": 1.0, "bpb": 1.0, "tokens": 10}, s.total_steps, 2.0,
                           lambda achieved: 4e9)
    assert out["flops"] == model.flops_per_token() * s.loader.tokens_per_epoch  # one epoch, no looping
    assert out["flops_per_second"] == round(out["flops"] / 2, 1)
    assert out["peak_flops"] == 4e9
    assert out["mfu"] == round(out["flops"] / 2 / 4e9, 6)


def test_a_finished_run_writes_flops_per_second_peak_and_mfu(tiny_store, tmp_path):
    s = trainer.train(tiny_config(tiny_store, epochs=1), tmp_path / "r", quiet=True)
    saved = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert {"flops_per_second", "peak_flops", "mfu"} <= saved.keys() and saved == json.loads(json.dumps(s))
    assert saved["peak_flops"] > 0 and saved["mfu"] > 0
    assert saved["mfu"] == pytest.approx(saved["flops_per_second"] / saved["peak_flops"], abs=1e-6)
    # train_seconds is rounded to 0.01 s in the file, flops_per_second is not
    assert saved["flops_per_second"] == pytest.approx(saved["flops"] / saved["train_seconds"],
                                                      rel=0.006 / saved["train_seconds"])


def test_peak_is_probed_once_per_device_dtype_and_threads_and_again_after_a_run_close_to_it(monkeypatch):
    probes = iter([1e9, 2e9, 3e9, 0.5e9])  # what successive probes read
    calls = []
    monkeypatch.setattr(perf, "probe_peak", lambda device, dtype: calls.append((device, dtype)) or next(probes))
    monkeypatch.setattr(perf, "_PEAKS", {})  # later tests measure for real, in the module's own cache
    threads = torch.get_num_threads()
    try:
        assert perf.peak_flops("cpu", "fp32") == perf.peak_flops("cpu", "fp32") == 1e9  # one probe
        assert perf.peak_flops("cpu", "fp32", achieved=0.9e9) == 1e9  # at RECHECK exactly: no new probe
        perf.peak_flops("cpu", "bf16")  # 2e9
        torch.set_num_threads(threads + 1)
        perf.peak_flops("cpu", "fp32")  # 3e9
    finally:
        torch.set_num_threads(threads)
    assert perf.peak_flops("cpu", "fp32", achieved=0.95e9) == 1e9  # probed again: 0.5e9, the best (1e9) kept
    assert calls == [("cpu", "fp32"), ("cpu", "bf16"), ("cpu", "fp32"), ("cpu", "fp32")]


def test_probe_leaves_the_global_rng_alone():
    before = torch.get_rng_state()
    assert perf.probe_peak("cpu", "fp32", max_n=256) > 0  # n stays 256: one tiny product and a few repeats
    assert torch.equal(torch.get_rng_state(), before)


def test_flags_text_by_hand():
    info = {"model": "x", "flags": {"avx2": True, "amx_bf16": False}, "threads": 1}
    assert perf.flags_text(info) == "avx2 yes, amx_bf16 no"


def test_cpu_info_names_the_flags():
    info = perf.cpu_info()
    assert set(info["flags"]) == set(perf.FLAGS) and all(isinstance(v, bool) for v in info["flags"].values())
    assert info["threads"] == torch.get_num_threads() and info["model"]
