"""Executors beyond the serial loop: chain order in the local pool, GPU packing slots, the Ray executor."""
import importlib.util
import json
import signal
import subprocess
import sys
import time

import pytest

from squeeze.errors import SqueezeError
from squeeze.runs.execute import Job, check_order, execute, gpu_slots, run_jobs
from squeeze.train.backend import TRAINER
from tests.test_execute import tiny_job


def test_gpu_slots_pack_runs_per_gpu():
    assert gpu_slots(2, 1) == ["0", "1"]
    assert gpu_slots(2, 3) == ["0", "0", "0", "1", "1", "1"]
    assert gpu_slots(0, 4) == []


def test_a_job_may_only_wait_for_earlier_jobs(tiny_store, tmp_path):
    jobs = [tiny_job(tiny_store, tmp_path / "a"), tiny_job(tiny_store, tmp_path / "b")]
    jobs[0].after = (1,)
    with pytest.raises(SqueezeError, match="may only wait for earlier jobs"):
        check_order(jobs)


def test_chain_stages_run_in_order_in_the_pool(tiny_store, tmp_path):
    a, b, c = (tiny_job(tiny_store, tmp_path / n, lr=lr) for n, lr in (("a", 3e-3), ("b", 1e-3), ("c", 2e-3)))
    b.after = (0,)  # b is a's next stage; c is independent and may run beside a
    run_jobs([a, b, c], TRAINER, workers=2, threads_per_worker=1)
    a_done = (tmp_path / "a" / "summary.json").stat().st_mtime_ns
    assert (tmp_path / "b" / "config.json").stat().st_mtime_ns >= a_done  # b started after a finished


def test_a_failed_stage_stops_its_chain(tiny_store, tmp_path):
    bad = tiny_job(tiny_store, tmp_path / "bad")
    bad.cfg.data.path = str(tmp_path / "no_store")
    nxt = Job(tiny_job(tiny_store, tmp_path / "next").cfg, tmp_path / "next", after=(0,))
    outcomes = execute([bad, nxt, tiny_job(tiny_store, tmp_path / "other")], TRAINER, threads_per_worker=1)
    assert outcomes[0].error and outcomes[1].error == "not run: a job it waits for failed"
    assert not (tmp_path / "next").exists() and outcomes[2].summary["steps"] == 16


@pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                    reason="ray is not installed (pip install 'squeeze[ray]')")
def test_ray_executor_matches_local(tiny_store, tmp_path):
    def jobs(sub):
        return [tiny_job(tiny_store, tmp_path / sub / "a", lr=3e-3),
                Job(tiny_job(tiny_store, tmp_path / sub / "b", lr=1e-3).cfg, tmp_path / sub / "b", after=(0,))]
    local = run_jobs(jobs("local"), TRAINER, threads_per_worker=1)
    on_ray = run_jobs(jobs("ray"), TRAINER, threads_per_worker=1, executor="ray")
    # same trainer, same seeds, one thread: the numbers are bit-identical, so compare exactly
    assert [s["val_loss"] for s in on_ray] == [s["val_loss"] for s in local]
    for name in ("a", "b"):
        files = sorted(p.name for p in (tmp_path / "local" / name).iterdir())
        assert sorted(p.name for p in (tmp_path / "ray" / name).iterdir()) == files
        cfg = json.loads((tmp_path / "ray" / name / "config.json").read_text())
        assert cfg == json.loads((tmp_path / "local" / name / "config.json").read_text())
    again = run_jobs(jobs("ray"), TRAINER, threads_per_worker=1, executor="ray")  # finished: read back, no Ray tasks
    assert again == on_ray


def test_unknown_executor(tiny_store, tmp_path):
    with pytest.raises(SqueezeError, match="--executor dask: must be one of local, ray"):
        execute([tiny_job(tiny_store, tmp_path / "a")], TRAINER, executor="dask")


WAITER = """
import concurrent.futures, signal, sys, threading, time
from squeeze.runs.local import first_done
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
threading.Thread(target=time.sleep, args=(60,), daemon=True).start()  # started before the mask: may take SIGTERM
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # so the kernel must give it to that thread
print("waiting", flush=True)
first_done([concurrent.futures.Future()])  # never finishes
"""


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="needs POSIX per-thread signal masks")
def test_a_sigterm_caught_by_another_thread_still_stops_the_waiting_main_thread():
    """The flagship's bug: SIGTERM landed on a helper thread while the main thread sat in an untimed wait on the
    pool, and the study ran on. first_done wakes every POLL_S, so the main thread's handler runs within seconds."""
    proc = subprocess.Popen([sys.executable, "-c", WAITER], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "waiting"
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=15)
    finally:
        proc.kill()
    assert rc == 143 and time.monotonic() - start < 10
