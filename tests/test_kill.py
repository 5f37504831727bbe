"""Kills: `squeeze train` and `squeeze run --preset smoke` are SIGKILLed at seeded random points, started again
(`--resume`, or a plain re-run for `squeeze run`), and must end exactly where an uninterrupted run ends: the same
metrics.jsonl (wall-clock times aside), summary numbers and weights, bit for bit on CPU. After every kill the run
directory must hold no half-written file: every JSON file parses, a checkpoint that exists loads and passes its
checksum, and only hidden `.NAME.tmp*` files may be partial (the next command's lock removes them).

Kill points are chosen by numpy's default_rng(seed): after the child has logged k metric lines (k random), or
after a random short time (which lands anywhere from interpreter start-up to the final eval).
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from squeeze import config as config_mod
from squeeze.cli import main
from squeeze.train import checkpoint as ckpt
from squeeze.train.trainer import train
from tests.conftest import tiny_config

ROOT = Path(__file__).resolve().parents[1]
TIMING = ("time", "train_seconds", "tokens_per_second", "flops_per_second", "peak_flops", "mfu")  # wall clock


def _one_core() -> set[int]:
    return {min(os.sched_getaffinity(0))}


def _spawn(argv: list[str], log: Path, cores: set[int] | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "squeeze.cli", *argv], env=env, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT,
                            preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None)


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _kill_when(proc: subprocess.Popen, metrics: Path, lines: int | None, seconds: float | None,
               timeout: float = 180.0) -> bool:
    """SIGKILL `proc` once `metrics` has `lines` lines or `seconds` have passed; False if it finished first."""
    t0 = time.monotonic()
    while proc.poll() is None:
        now = time.monotonic() - t0
        if (lines is not None and _lines(metrics) >= lines) or (seconds is not None and now >= seconds):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        assert now < timeout, "child hung"
        time.sleep(0.01)
    return False


def check_not_half_written(run: Path) -> None:
    """Every final-named file of a run directory is whole: JSON parses, checkpoints load and pass checksums."""
    for p in run.glob("*.json"):
        json.loads(p.read_text())
    if (run / "metrics.jsonl").exists():
        for line in (run / "metrics.jsonl").read_text().splitlines():
            json.loads(line)  # whole lines only: the log is appended one flushed line at a time
    if (run / ckpt.STATE).exists():
        assert isinstance(ckpt.load_state(run)["step"], int)
    if (run / ckpt.WEIGHTS).exists():
        ckpt.verify_weights(run / ckpt.WEIGHTS)
    stray = [p.name for p in run.iterdir() if ".tmp" in p.name and not p.name.startswith(".")]
    assert not stray, stray


def _rows(run: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(x).items() if k not in TIMING}
            for x in (run / "metrics.jsonl").read_text().splitlines()]


def assert_same_run(a: Path, b: Path) -> None:
    assert _rows(a) == _rows(b)
    sa, sb = (json.loads((r / "summary.json").read_text()) for r in (a, b))
    assert {k: v for k, v in sa.items() if k not in TIMING} == {k: v for k, v in sb.items() if k not in TIMING}
    wa, wb = load_file(a / ckpt.WEIGHTS), load_file(b / ckpt.WEIGHTS)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not [p.name for p in b.iterdir() if ".tmp" in p.name]  # the last command's lock swept leftovers


@pytest.mark.parametrize("seed", [0])
def test_sigkilled_train_resumes_to_the_same_run(tiny_store, tmp_path, capsys, seed):
    cfg = tiny_config(tiny_store, epochs=2, ckpt_every=3, log_every=1, threads=1)
    cfg.data.budget_tokens = 8000  # 31 steps per epoch: 62 steps, 20 checkpoints, ~70 metric lines
    cfg.model.dropout = 0.1  # the RNG state must survive the kills too
    cfg_path = tmp_path / "cfg.json"
    config_mod.save(cfg, str(cfg_path))
    straight = tmp_path / "straight"
    train(config_mod.load(str(cfg_path)), straight, quiet=True)
    total = _lines(straight / "metrics.jsonl")

    rng = np.random.default_rng(seed)
    run, log = tmp_path / "killed", tmp_path / "child.log"
    plan = [("lines", int(k)) for k in sorted(rng.integers(1, total, size=3))] + [("seconds", rng.uniform(0.2, 4))]
    kills = 0
    for i, (how, at) in enumerate([*plan, ("finish", None)]):
        if (run / "summary.json").exists():
            break
        flag = ["--resume"] if (run / ckpt.STATE).exists() else ["--force"] if run.exists() else []
        proc = _spawn(["train", "--config", str(cfg_path), "--out", str(run), "--quiet", *flag], log)
        if i == 0:  # while it runs, a second writer of the same directory is refused by the lock
            while _lines(run / "metrics.jsonl") < 1 and proc.poll() is None:
                time.sleep(0.01)
            if proc.poll() is None:
                assert main(["train", "--config", str(cfg_path), "--out", str(run), "--resume", "--quiet"]) == 2
                assert f"in use by another squeeze process (pid {proc.pid})" in capsys.readouterr().err
        if how == "finish":
            assert proc.wait(timeout=300) == 0, log.read_text()
            break
        kills += _kill_when(proc, run / "metrics.jsonl", at if how == "lines" else None,
                            at if how == "seconds" else None)
        check_not_half_written(run)
    assert kills >= 3, f"only {kills} kills landed: {log.read_text()[-2000:]}"
    assert_same_run(straight, run)


def _study_state(out: Path) -> dict[Path, str]:
    """Each run directory of a study: 'finished', 'checkpointed' (state.pt, no summary) or 'started'."""
    return {c.parent: "finished" if (c.parent / "summary.json").exists() else
            "checkpointed" if (c.parent / ckpt.STATE).exists() else "started" for c in out.glob("runs/**/config.json")}


def test_sigkilled_squeeze_run_smoke_reruns_to_the_same_result(tiny_store, tmp_path):
    """`squeeze run --preset smoke --workers 1` (a study of ~10 tiny runs) SIGKILLed twice at seeded random points,
    then re-run to the end. Runs finished before a kill are skipped by the re-run; every run a kill interrupted is
    compared, bit for bit, with the same config trained straight through in this process. Every process is pinned
    to one core, so each picks 1 torch thread (the same thread count is what makes runs bit-identical)."""
    rng = np.random.default_rng(1)
    out, log = tmp_path / "killed", tmp_path / "child.log"
    argv = ["run", "--data", str(tiny_store), "--preset", "smoke", "--out", str(out), "--workers", "1"]
    interrupted: set[Path] = set()
    for i in range(2):
        proc = _spawn(argv, log, _one_core())
        target = int(rng.integers(1, 4)) * (i + 1)  # metric lines written in total (every run logs ~10)
        t0 = time.monotonic()
        while proc.poll() is None and sum(_lines(m) for m in out.glob("runs/**/metrics.jsonl")) < target:
            assert time.monotonic() - t0 < 300, "child hung"
            time.sleep(0.01)
        assert proc.poll() is None, log.read_text()[-2000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        interrupted |= {d for d, st in _study_state(out).items() if st != "finished"}
        for d in _study_state(out):
            check_not_half_written(d)
    assert interrupted, "no kill interrupted a run"
    proc = _spawn(argv, log, _one_core())
    assert proc.wait(timeout=600) == 0, log.read_text()[-3000:]
    assert set(_study_state(out).values()) == {"finished"}
    json.loads((out / "summary.json").read_text())
    for run in sorted(interrupted):
        cfg = config_mod.load(str(run / "config.json"))
        assert cfg.train.threads == 1
        straight = tmp_path / "straight" / run.relative_to(out)
        train(cfg, straight, quiet=True)
        assert_same_run(straight, run)


def _children(pid: int) -> list[int]:
    """Pids of the multiprocessing workers whose parent is `pid`."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmd = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and b"spawn_main" in cmd:
            out.append(int(stat.parent.name))
    return out


def test_sigkilled_sweep_leaves_no_orphan_worker(tiny_store, tmp_path):
    """SIGKILL of a `squeeze sweep --workers 2` parent takes its training workers with it (PR_SET_PDEATHSIG), so
    the re-run finds no run directory locked by an orphan and finishes every point."""
    root, log = tmp_path / "root", tmp_path / "child.log"
    argv = ["sweep", "--data", str(tiny_store), "--out", str(root), "--lr", "1e-3,2e-3", "--epochs", "2",
            "--budgets", "8000",
            "--workers", "2", "--model.n_layer=1", "--model.d_model=32", "--model.n_head=2", "--model.seq_len=32",
            "--train.batch_size=8", "--train.dtype=fp32", "--train.log_every=1"]
    proc = _spawn(argv, log)
    t0 = time.monotonic()
    while not any(_lines(m) >= 2 for m in root.glob("**/metrics.jsonl")):
        assert proc.poll() is None and time.monotonic() - t0 < 180, log.read_text()[-2000:]
        time.sleep(0.02)
    workers = _children(proc.pid)
    assert workers, "no worker processes found"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    t0 = time.monotonic()
    while [w for w in workers if Path(f"/proc/{w}").exists() and "Z" not in Path(f"/proc/{w}/stat").read_text()
           .rsplit(")", 1)[1].split()[0]]:
        assert time.monotonic() - t0 < 10, f"orphan workers still running: {workers}"
        time.sleep(0.05)
    for m in root.glob("**/metrics.jsonl"):
        check_not_half_written(m.parent)
    again = _spawn(argv, log)
    assert again.wait(timeout=300) == 0, log.read_text()[-3000:]
    runs = [m.parent for m in root.glob("**/summary.json")]
    assert len(runs) == 2 and all(not json.loads((r / "summary.json").read_text()).get("diverged") for r in runs)
