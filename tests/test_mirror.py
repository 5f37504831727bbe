"""train.log: TensorBoard event files that hold metrics.jsonl's numbers, W&B offline by default (a stand-in
module records the calls), and a missing package is a warning, not a failure."""
import json
import sys
import types

import pytest

from squeeze.train.mirror import WandbMirror, scalars
from squeeze.train.trainer import train
from tests.conftest import tiny_config


def test_scalars_keep_numbers_but_the_step():
    assert scalars({"step": 3, "epoch": 1, "train_loss": 2.5, "diverged": True, "name": "x"}) == \
        {"epoch": 1.0, "train_loss": 2.5}


def test_tensorboard_event_files_match_metrics(tiny_store, tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard mirror needs tensorboard (pip install "
                                              "'squeeze[tensorboard]')")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    run = tmp_path / "r"
    train(tiny_config(tiny_store, epochs=1, log="tensorboard"), run, quiet=True)
    assert list((run / "tb").glob("events.out.tfevents.*"))
    acc = EventAccumulator(str(run / "tb"))
    acc.Reload()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_rows = [(r["step"], r["train_loss"]) for r in rows if "train_loss" in r]
    got = [(e.step, e.value) for e in acc.Scalars("train_loss")]
    assert [s for s, _ in got] == [s for s, _ in train_rows]
    assert [v for _, v in got] == pytest.approx([v for _, v in train_rows], rel=1e-6)  # stored as float32
    assert acc.Scalars("val_loss")[-1].value == pytest.approx(rows[-1]["val_loss"], rel=1e-6)


def test_wandb_missing_is_a_warning(tiny_store, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError
    summary = train(tiny_config(tiny_store, epochs=1, log="wandb"), tmp_path / "r", quiet=True)
    assert summary["val_loss"] > 0
    err = capsys.readouterr().err
    assert "warning: train.log=wandb but wandb is not installed" in err and err.count("\n") == 1


def test_wandb_runs_offline_unless_told(tmp_path, monkeypatch):
    calls = []
    fake = types.ModuleType("wandb")
    class Run:
        def log(self, data, step):
            calls.append(("log", data, step))
        def finish(self):
            calls.append(("finish",))
    fake.init = lambda **kw: calls.append(("init", kw)) or Run()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    m = WandbMirror(tmp_path, {"train": {"lr": 1}})
    m({"step": 2, "train_loss": 1.5})
    m.close()
    init = calls[0][1]
    assert init["mode"] == "offline" and init["dir"] == str(tmp_path) and init["config"] == {"train": {"lr": 1}}
    assert calls[1:] == [("log", {"train_loss": 1.5}, 2), ("finish",)]
    monkeypatch.setenv("WANDB_MODE", "online")
    WandbMirror(tmp_path, {})
    assert calls[-1][1]["mode"] == "online" and calls[-1][1]["id"] == init["id"]  # same run dir, same run
