"""Faults: NaN loss, corrupted checkpoints, a full disk, two commands on one directory, paths out of bounds.

Each test breaks one thing on purpose and checks the promise of issue 9: a clear one-line error, nothing that was
written before is lost, nothing corrupted is loaded.
"""
import errno
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from squeeze import io as sio
from squeeze.cli import main
from squeeze.errors import SqueezeError
from squeeze.study import grid as grid_mod
from squeeze.study import sweep
from squeeze.train import checkpoint as ckpt
from squeeze.train import trainer
from tests.conftest import synthetic_documents, tiny_config

ROOT = Path(__file__).resolve().parents[1]
_REAL_FSYNC = os.fsync


def _metrics(run: Path) -> list[dict]:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "time"} for r in rows]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("squeeze: error: "), err
    return err[0]


def _config_file(tmp_path, store, **train_kw) -> Path:
    """The tiny config on its first 6,000 tokens for 1 epoch: 23 steps, checkpoints every 5."""
    cfg = tiny_config(store, epochs=1, **train_kw)
    cfg.data.budget_tokens, cfg.train.threads = 6000, 1
    path = tmp_path / "cfg.json"
    from squeeze import config as config_mod
    config_mod.save(cfg, str(path))
    return path


# ---- NaN / inf loss ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nonfinite_loss_stops_and_keeps_the_last_good_checkpoint(tiny_store, tmp_path, capsys, monkeypatch, bad):
    real, calls = trainer.lm_loss, [0]

    def poisoned(model, x, y):
        calls[0] += 1
        loss = real(model, x, y)
        return loss * bad if calls[0] == 13 else loss  # step index 12: the last checkpoint is at step 10

    monkeypatch.setattr(trainer, "lm_loss", poisoned)
    run = tmp_path / "r"
    assert main(["train", "--config", str(_config_file(tmp_path, tiny_store)), "--out", str(run), "--quiet"]) == 2
    line = _one_error_line(capsys)
    assert f"loss became {bad:g}" in line and "at step 12; stopped, the last good checkpoint is kept" in line
    assert "try a lower train.lr than 0.003" in line
    summary = json.loads((run / "summary.json").read_text())
    assert summary["diverged"] and summary["steps"] == 12 and summary["val_loss"] is None
    state = ckpt.load_state(run)
    assert state["step"] == 10
    weights = load_file(run / "model.safetensors")  # the weights file is the step-10 one, and finite
    assert all(torch.equal(weights[k], state["model"][k]) for k in weights)
    assert all(torch.isfinite(t).all() for t in weights.values())
    assert all(np.isfinite(r.get("train_loss", 0.0)) for r in _metrics(run))
    monkeypatch.undo()
    assert main(["eval", str(run), "--json"]) == 0  # the kept checkpoint is usable
    assert np.isfinite(json.loads(capsys.readouterr().out)["loss"])


def test_nonfinite_loss_before_the_first_checkpoint_says_so(tiny_store, tmp_path, capsys, monkeypatch):
    real = trainer.lm_loss
    monkeypatch.setattr(trainer, "lm_loss", lambda model, x, y: real(model, x, y) * float("nan"))
    run = tmp_path / "r"
    assert main(["train", "--config", str(_config_file(tmp_path, tiny_store)), "--out", str(run), "--quiet"]) == 2
    assert "loss became nan (grad norm nan) at step 0; stopped, no checkpoint had been saved yet" in \
        _one_error_line(capsys)
    assert not (run / "state.pt").exists() and not (run / "model.safetensors").exists()


# ---- corrupted checkpoints: every flipped byte is refused or harmless ----------------------------------------------

def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize("name", ["state.pt", "model.safetensors"])
def test_no_flipped_byte_is_loaded_silently(tiny_run, tmp_path, name):
    """40 seeded positions across the file: each flip is refused with the file's name, or loads exactly the
    original (a flip in bytes nobody reads, such as a zip CRC torch ignores)."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    good = (run / name).read_bytes()
    load = (lambda: ckpt.load_state(run)) if name == "state.pt" else (lambda: load_file(run / name))
    original = load()
    refused = 0
    for pos in np.random.default_rng(0).choice(len(good), size=40, replace=False):
        data = bytearray(good)
        data[pos] ^= 0x04
        (run / name).write_bytes(bytes(data))
        try:
            if name == "model.safetensors":
                ckpt.verify_weights(run / name)
            got = load()
        except SqueezeError as e:
            assert str(e).startswith(f"{run / name}: "), e
            refused += 1
            continue
        assert _same(got, original), f"flip at byte {pos} of {name} loaded different content"
    assert refused >= 30  # most bytes matter: at most a few land in ignored fields


def test_truncated_checkpoint_at_every_tenth_is_refused(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    good = {n: (run / n).read_bytes() for n in ("state.pt", "model.safetensors")}
    for frac in np.linspace(0, 0.95, 10):
        for n, data in good.items():
            (run / n).write_bytes(data[:int(len(data) * frac)])
        with pytest.raises(SqueezeError, match="state.pt: corrupted checkpoint"):
            ckpt.load_state(run)
        with pytest.raises(SqueezeError, match="model.safetensors: cannot load weights"):
            ckpt.load_run(run)


# ---- a full disk -------------------------------------------------------------------------------------------------

def _fail_fsync_after(monkeypatch, n: int, err: int = errno.ENOSPC):
    """os.fsync succeeds n times, then fails like a full disk (ext4 reports delayed-allocation ENOSPC here)."""
    real, count = os.fsync, [0]

    def fsync(fd):
        count[0] += 1
        if count[0] > n:
            raise OSError(err, os.strerror(err))
        return real(fd)
    monkeypatch.setattr(os, "fsync", fsync)


@pytest.fixture(scope="module")
def straight_run(tiny_store, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("straight")
    assert main(["train", "--config", str(_config_file(tmp, tiny_store)), "--out", str(tmp / "r"), "--quiet"]) == 0
    return tmp / "r"


@pytest.mark.parametrize("ok_fsyncs", [0, 1, 2, 3])
def test_full_disk_during_training_loses_nothing(tiny_store, straight_run, tmp_path, capsys, monkeypatch, ok_fsyncs):
    """A run checkpointed at step 10, then resumed on a disk that fills up after `ok_fsyncs` more durable writes
    (0: the metrics fsync, 1: the weights file, 2: the directory after the weights' rename, 3: state.pt): one error
    line, the older checkpoint intact, and a resume on a good disk ends identical to a straight run."""
    cfg_path = _config_file(tmp_path, tiny_store)
    straight, run = straight_run, tmp_path / "r"
    real_tokens_at = trainer.tokens_at
    monkeypatch.setattr(trainer, "tokens_at", lambda loader, step: real_tokens_at(loader, step) if step <= 11
                        else (_ for _ in ()).throw(KeyboardInterrupt()))  # stop after the step-10 checkpoint
    assert main(["train", "--config", str(cfg_path), "--out", str(run), "--quiet"]) == 130
    capsys.readouterr()
    monkeypatch.setattr(trainer, "tokens_at", real_tokens_at)
    before = {n: (run / n).read_bytes() for n in ("state.pt", "config.json", "run.json")}
    _fail_fsync_after(monkeypatch, ok_fsyncs)
    assert main(["train", "--out", str(run), "--resume", "--quiet"]) == 2
    line = _one_error_line(capsys)
    assert "cannot write (No space left on device)" in line, line
    monkeypatch.setattr(os, "fsync", _REAL_FSYNC)
    assert ckpt.load_state(run)["step"] >= 10  # the old checkpoint, or a newer complete one
    if ok_fsyncs == 0:
        assert {n: (run / n).read_bytes() for n in before} == before
    assert not [p.name for p in run.iterdir() if ".tmp" in p.name]
    assert main(["train", "--out", str(run), "--resume", "--quiet"]) == 0
    assert _metrics(run) == _metrics(straight)
    a, b = load_file(run / "model.safetensors"), load_file(straight / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _limit_file_size(limit: int):
    def pre():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit then fail with EFBIG, not a signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return pre


def test_prepare_on_a_size_limited_disk_fails_in_one_line(tmp_path):
    """A real failing write: `squeeze prepare` in a process whose files may not grow past 20 kB (RLIMIT_FSIZE)."""
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"text": d.text}) + "\n" for d in synthetic_documents(60)))
    out = tmp_path / "store"
    p = subprocess.run([sys.executable, "-m", "squeeze.cli", "prepare", "--data", str(corpus), "--out", str(out),
                        "--vocab-size", "300"], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, preexec_fn=_limit_file_size(20_000))
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert lines[-1].startswith("squeeze: error: ") and "cannot write (File too large)" in lines[-1], p.stderr
    assert "Traceback" not in p.stderr
    assert not (out / "meta.json").exists()  # no store rather than a broken one
    assert not [x.name for x in out.iterdir() if ".tmp" in x.name]


# ---- locks --------------------------------------------------------------------------------------------------------

@pytest.fixture
def foreign_holder():
    """A live process whose pid a lock file can name."""
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield p.pid
    p.kill()
    p.wait()


@pytest.mark.parametrize("command", ["train", "prepare", "sweep", "run"])
def test_second_writer_of_a_directory_is_refused(command, tiny_store, tmp_path, capsys, foreign_holder):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".lock").write_text(str(foreign_holder))
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"text": d.text}) + "\n" for d in synthetic_documents(20)))
    argv = {"train": ["train", "--data", str(tiny_store), "--out", str(out), "--quiet"],
            "prepare": ["prepare", "--data", str(corpus), "--out", str(out), "--vocab-size", "300"],
            "sweep": ["sweep", "--data", str(tiny_store), "--out", str(out), "--lr", "1e-3"],
            "run": ["run", "--data", str(tiny_store), "--preset", "smoke", "--out", str(out)]}[command]
    assert main(argv) == 2
    assert f"in use by another squeeze process (pid {foreign_holder})" in _one_error_line(capsys)
    assert sorted(p.name for p in out.iterdir()) == [".lock"]  # nothing written beside the other's lock


def test_lock_removes_a_killed_writers_temporary_files(tmp_path):
    (tmp_path / ".state.pt.tmp4242").write_bytes(b"half")
    (tmp_path / ".model.safetensors.tmp4242").write_bytes(b"half")
    (tmp_path / "keep.json").write_text("{}")
    with sio.dir_lock(tmp_path):
        assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "keep.json"]


def test_atomic_write_fsyncs_file_and_directory(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real(fd)))
    sio.write_json(tmp_path / "a.json", {"x": 1})
    assert len(synced) == 2 and synced[0].startswith(str(tmp_path / ".a.json.tmp")) and synced[1] == str(tmp_path)


# ---- paths from configs stay inside the output directory ---------------------------------------------------------

@pytest.mark.parametrize("name", ["../x", "a/../../x", "/etc/x", "link/x"])
def test_inside_refuses_escaping_names(tmp_path, name):
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "link").symlink_to(tmp_path)
    with pytest.raises(SqueezeError, match="output path escapes"):
        sio.inside(tmp_path / "root", name)
    assert sio.inside(tmp_path / "root", "b1/L1d32/lr0.001") == tmp_path / "root" / "b1/L1d32/lr0.001"


def test_sweep_point_names_cannot_leave_the_root(tiny_store, tmp_path, monkeypatch):
    monkeypatch.setattr(grid_mod, "point_name", lambda p: "../../outside")  # what GridPoint.name returns
    base = tiny_config(tiny_store)
    grid = grid_mod.Grid(lr=[1e-3], weight_decay=[0.1], epochs=[1], sizes=[(2, 32)], budgets=[0])
    with pytest.raises(SqueezeError, match="../../outside: output path escapes"):
        sweep.run_sweep(base, grid, tmp_path / "root")
    assert not (tmp_path / "outside").exists()


def test_nothing_unpickles_and_nothing_executes():
    """Source audit: torch.load only with weights_only=True, no pickle, no np.load with allow_pickle=True, no
    eval/exec anywhere in the package."""
    import re
    for path in (ROOT / "squeeze").rglob("*.py"):
        text = path.read_text()
        for m in re.finditer(r"torch\.load\(([^)]*)\)", text):
            assert "weights_only=True" in m.group(1), f"{path}: {m.group(0)}"
        assert not re.search(r"^\s*(import pickle|from pickle|import dill|import marshal)", text, re.M), path
        assert "allow_pickle=True" not in text, path
        assert not re.search(r"(?<![\w.])(eval|exec)\(", text), path
