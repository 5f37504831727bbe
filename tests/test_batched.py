"""Batched training (squeeze/train/batched.py): K same-shape runs as one vmapped model match K separate runs.

Tolerance, stated: fp32 train losses within 1e-5 relative of the separate runs at every step, and final weights
within 1e-4 relative (the float sums of one batched matmul are not in the order of K separate ones, so equality is
not bit for bit; measured ~2e-7 on the losses). A batched run resumes by itself, unbatched.
"""
import json

import pytest
import torch
from conftest import tiny_config
from safetensors.torch import load_file

from squeeze.errors import SqueezeError
from squeeze.runs.execute import Job, execute
from squeeze.train import trainer
from squeeze.train.backend import TRAINER
from squeeze.train.batched import group_key, train_group, why_not_batched

STEPS = 50
LOSS_RTOL, WEIGHT_RTOL = 1e-5, 1e-4


def configs(store, n=3):
    """Three runs that may share a group: other init and data seeds, and one with another learning rate."""
    out = []
    for k in range(n):
        c = tiny_config(store, seed=k, epochs=1, log_every=1, ckpt_every=10)
        c.data.seed, c.data.budget_tokens = k, STEPS * 8 * 32
        out.append(c)
    out[-1].train.lr = 1e-3
    return out


def losses(run_dir):
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [x["train_loss"] for x in lines if "train_loss" in x]


def assert_same_run(a, b):
    la, lb = losses(a), losses(b)
    assert len(la) == len(lb) == STEPS
    assert max(abs(x - y) / abs(x) for x, y in zip(la, lb)) < LOSS_RTOL
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    for name in wa:
        scale = wa[name].abs().max().clamp_min(1e-6)
        assert float((wa[name] - wb[name]).abs().max() / scale) < WEIGHT_RTOL, name


def test_three_batched_runs_match_three_separate_runs(tiny_store, tmp_path):
    cfgs = configs(tiny_store)
    separate = [trainer.train(c, tmp_path / f"sep{k}", quiet=True) for k, c in enumerate(cfgs)]
    batched = train_group([(c, tmp_path / f"bat{k}", False, False) for k, c in enumerate(cfgs)], quiet=True)
    for k in range(3):
        assert_same_run(tmp_path / f"sep{k}", tmp_path / f"bat{k}")
        assert batched[k]["val_loss"] == pytest.approx(separate[k]["val_loss"], rel=LOSS_RTOL)
        assert batched[k]["batched_with"] == 3 and batched[k]["steps"] == separate[k]["steps"] == STEPS
    assert separate[0]["val_loss"] != separate[1]["val_loss"]  # the seeds did make different runs


def test_a_killed_batched_run_resumes_by_itself(tiny_store, tmp_path, monkeypatch):
    cfgs = configs(tiny_store)
    real = trainer.lr_multiplier

    def crash(step, total, tc):
        if step == 23:
            raise RuntimeError("simulated kill")
        return real(step, total, tc)
    monkeypatch.setattr(trainer, "lr_multiplier", crash)
    with pytest.raises(RuntimeError, match="simulated kill"):
        train_group([(c, tmp_path / f"bat{k}", False, False) for k, c in enumerate(cfgs)], quiet=True)
    monkeypatch.setattr(trainer, "lr_multiplier", real)
    # each lane wrote an ordinary checkpoint at step 20: one resumes alone, the other two resume as a group
    trainer.train(cfgs[1], tmp_path / "bat1", resume=True, quiet=True)
    train_group([(cfgs[k], tmp_path / f"bat{k}", True, False) for k in (0, 2)], quiet=True)
    for k in range(3):
        trainer.train(cfgs[k], tmp_path / f"sep{k}", quiet=True)
        assert_same_run(tmp_path / f"sep{k}", tmp_path / f"bat{k}")


def test_which_runs_may_share_a_group(tiny_store):
    a, b, c = configs(tiny_store)
    assert group_key(a) == group_key(b) == group_key(c)  # seeds and lr may differ
    wider = configs(tiny_store)[0]
    wider.model.d_model = 64
    assert group_key(wider) != group_key(a)
    dropout = configs(tiny_store)[0]
    dropout.model.dropout = 0.1
    assert group_key(dropout) is None and "model.dropout" in why_not_batched(dropout)
    with pytest.raises(SqueezeError, match="model.dropout"):
        train_group([(dropout, "x", False, False), (a, "y", False, False)], quiet=True)


def test_executor_batches_same_shape_runs(tiny_store, tmp_path):
    cfgs = configs(tiny_store)
    odd = configs(tiny_store)[0]
    odd.model.n_layer = 1  # another shape: trains on its own
    jobs = [Job(c, tmp_path / f"r{k}") for k, c in enumerate([*cfgs, odd])]
    outcomes = execute(jobs, TRAINER, batch_runs=4)
    assert all(out.error is None for out in outcomes), [out.error for out in outcomes]
    assert [out.summary.get("batched_with") for out in outcomes] == [3, 3, 3, None]
    again = execute(jobs, TRAINER, batch_runs=4)  # finished runs are read back, not retrained
    assert all(out.skipped for out in again)


def test_batched_bf16_autocast_runs(tiny_store, tmp_path):
    cfgs = configs(tiny_store, 2)
    for c in cfgs:
        c.train.dtype = "bf16"
    out = train_group([(c, tmp_path / f"b{k}", False, False) for k, c in enumerate(cfgs)], quiet=True)
    assert all(torch.isfinite(torch.tensor(o["val_loss"])) for o in out)
