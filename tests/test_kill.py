"""Kills: `squeeze train` and `squeeze run --preset smoke` are SIGKILLed at seeded points drawn over the phases of
their work, started again (`--resume`, or the same `squeeze run`), and must end exactly where an uninterrupted run
ends: every run's metrics rows (wall-clock times aside), summary and weights, and the study's summary, bit for bit
on CPU. After every kill each final-named file must be whole (JSON parses, weights and checkpoints pass their
checksums). The trials are benchmarks/kill_trials.py's (its 50-trial run is in benchmarks/RESULTS.md): phases are
read from outside the process (inotify events of the output directory) against an uninterrupted reference run,
and a kill that comes too late for its interval is redrawn and counted, so every planned kill lands.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from squeeze import config as config_mod
from squeeze.cli import main
from tests.conftest import tiny_config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import kill_trials as kt  # noqa: E402  (a script folder, not a package)
from same_tree import half_written  # noqa: E402

# the study's own phases in the order a study reaches them: one trial, one kill in each, one final re-run
STUDY_KILLS = ["training in the study", "ensemble evaluation", "distillation", "snapshot ensemble evaluation",
               "selection masks", "report writing"]


def _spawn(argv: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "squeeze.cli", *argv], env=env, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT)


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_a_kill_in_every_phase_of_squeeze_train_resumes_to_the_same_run(tiny_store, tmp_path):
    """Six seeded trials, one per phase of a run (training steps, an epoch-end and the final evaluation, the
    checkpoint, snapshot and summary writes), each killed once, resumed and compared with the reference."""
    said: list[str] = []
    trials = kt.run_trials(6, 0, tmp_path, tiny_store, kt.TRAIN_PHASES, say=said.append)
    assert [len(t.kills) for t in trials] == [1] * 6, said  # kills == planned (a late one redrawn, counted)
    assert {t.kills[0].split(":")[0] for t in trials} == set(kt.TRAIN_PHASES), said
    assert all(t.identical for t in trials), said


def test_a_study_killed_in_each_of_its_phases_reruns_to_the_same_result(tiny_store, tmp_path):
    """One `squeeze run --preset smoke` killed six times, once in each study phase (a run of the standard step,
    ensemble evaluation, distillation, the snapshot ensemble's evaluation, selection masks, the report), each time
    started again, then compared with a study that never stopped: every run, ensemble.json, mask, results.csv,
    summary.json and report."""
    log = (tmp_path / "commands.log").open("ab")
    ref = kt.reference(kt.study_command(tiny_store), tmp_path / "reference", log)
    trial = kt.run_trial(0, STUDY_KILLS, ref, tmp_path / "killed", np.random.default_rng(1), log)
    assert [k.split(":")[0] for k in trial.kills] == STUDY_KILLS, trial
    assert trial.differences == [], trial


def test_a_second_writer_of_a_running_run_is_refused(tiny_store, tmp_path, capsys):
    cfg = tiny_config(tiny_store, epochs=4, log_every=1)
    config_mod.save(cfg, str(tmp_path / "cfg.json"))
    run, log = tmp_path / "run", tmp_path / "child.log"
    proc = _spawn(["train", "--config", str(tmp_path / "cfg.json"), "--out", str(run), "--quiet"], log)
    try:
        t0 = time.monotonic()
        while _lines(run / "metrics.jsonl") < 1:
            assert proc.poll() is None and time.monotonic() - t0 < 120, log.read_text()[-2000:]
            time.sleep(0.01)
        assert main(["train", "--config", str(tmp_path / "cfg.json"), "--out", str(run), "--resume", "--quiet"]) == 2
        assert f"in use by another squeeze process (pid {proc.pid})" in capsys.readouterr().err
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


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
        assert not half_written(m.parent)
    again = _spawn(argv, log)
    assert again.wait(timeout=300) == 0, log.read_text()[-3000:]
    runs = [m.parent for m in root.glob("**/summary.json")]
    assert len(runs) == 2 and all(not json.loads((r / "summary.json").read_text()).get("diverged") for r in runs)
