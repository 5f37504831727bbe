"""The local executor: jobs one after another in this process, or in a pool of spawned worker processes.

Worker processes are spawned (not forked) and each runs `threads` torch threads, by default cores / workers,
recorded as train.threads. With G visible GPUs and runs_per_gpu k, G*k workers are each pinned to one GPU via
CUDA_VISIBLE_DEVICES. Inside `keep_workers()` (a study: one pool per certification round) CPU pools of the same
shape reuse one set of processes instead of starting new ones for every call. `stream_pool` keeps a pool busy
with jobs named as others finish (benchmarks/pruning_frontier.py's walk). Exercised by tests/test_execute.py and
tests/test_executors.py.
"""
import ctypes
import multiprocessing
import os
import signal
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

import torch

from squeeze.runs.jobs import Job, Outcome, Report, Trainer, run_group, run_one, schedule, stream, with_threads


def serial(jobs: list[Job], trainer: Trainer, threads: int, quiet: bool, report: Report,
           batch_runs: int = 1) -> list[Outcome]:
    before = torch.get_num_threads()
    submitted: dict[int, list[Job]] = {}

    def submit(unit: list[Job]) -> int:  # only queued: wait_one trains the oldest unit, in this process
        submitted[len(submitted)] = unit
        return len(submitted) - 1

    def wait_one(handles: list[int]) -> tuple[int, list[Outcome]]:
        return min(handles), run_group(submitted[min(handles)], trainer, quiet)
    try:
        return schedule(jobs, submit, wait_one, report, quiet, trainer, batch_runs)
    finally:
        torch.set_num_threads(before)  # the trainer changes it process-wide; leave the caller's setting alone
        # and it flushes denormals to zero (squeeze/train/trainer.py start_device), which numpy and scipy obey
        # too: a study's scaling fit then gave C = 0.0 after training in this process and 5e-324 after a re-run
        # that trained nothing (benchmarks/kill_trials.py). Back to the default, so what follows never depends on
        # whether runs were trained here
        torch.set_flush_denormal(False)


def _die_with_parent(parent: int) -> None:
    """Linux: have the kernel SIGKILL this worker when the `squeeze` process that spawned it dies, even by SIGKILL.
    Otherwise an orphan worker trains on, holding its run directory's lock, and the re-run that follows the kill
    finds that run "in use" (tests/test_kill.py)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def gpu_slots(n_gpus: int, runs_per_gpu: int) -> list[str]:
    """CUDA_VISIBLE_DEVICES of each local worker: runs_per_gpu workers share each GPU (small models)."""
    return [str(g) for g in range(n_gpus) for _ in range(runs_per_gpu)]


def visible_gpus() -> int:
    """GPUs a local executor may pack runs onto (0 without CUDA); asked without initializing CUDA here."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _init_worker(threads: int, slots=None, parent: int | None = None) -> None:
    if parent is not None:
        _die_with_parent(parent)
    if slots is not None:  # before torch touches CUDA in this process: pin it to one GPU
        os.environ["CUDA_VISIBLE_DEVICES"] = slots.get()
    torch.set_num_threads(threads)


def _new_pool(workers: int, threads: int, slots: list[str] | None = None) -> ProcessPoolExecutor:
    # spawn, not fork: forking a process that has started torch's thread pools can deadlock the child
    ctx = multiprocessing.get_context("spawn")
    queue = None
    if slots:
        queue = ctx.Queue()
        for slot in slots:
            queue.put(slot)
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                               initargs=(threads, queue, os.getpid()))


# (workers, threads) -> the pool that `keep_workers()` keeps alive between calls; None outside it
_kept: dict[tuple[int, int], ProcessPoolExecutor] | None = None


@contextmanager
def keep_workers():
    """Inside, every CPU `pool` call with the same workers and threads reuses one set of worker processes. A fresh
    pool costs each worker a spawn, torch's import and a first run ~3 s slower than the next (lazy imports, the
    MFU probe, kernel warm-up): 4.1 s of the 2-core machine's wall per call in benchmarks/study_overheads.py, and a
    study makes ~23 calls (one per certification round). Runs do not depend on what ran before them in a process
    (the serial executor has always trained many in one). Nested uses share the outermost's pools; they shut down
    when it ends."""
    global _kept
    if _kept is not None:
        yield
        return
    _kept = {}
    try:
        yield
    finally:
        kept, _kept = _kept, None
        for executor in kept.values():
            executor.shutdown(wait=True, cancel_futures=True)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now, its runs in flight too (they resume from their checkpoints): a plain shutdown would wait
    for them, and a SIGTERM reaches only this process (Python 3.14 has pool.terminate_workers() for this)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


POLL_S = 1.0  # how often a waiting main thread wakes to run the signal handlers that other threads caught


def first_done(futures):
    """The first of `futures` to finish, waking every POLL_S. A process-directed SIGTERM or SIGINT may land on any
    thread (the pool's manager, a caller's heartbeat); Python runs its handler in the main thread only when that
    thread next executes bytecode, and a main thread blocked in an untimed wait stayed blocked until a run ended
    (benchmarks/flagship.py ran on through two more runs after a `kill -TERM`)."""
    while True:
        done, _ = wait(futures, timeout=POLL_S, return_when=FIRST_COMPLETED)
        if done:
            return next(iter(done))


def wait_result(futures):
    """(the first of `futures` to finish, its result), or an Outcome naming the worker process that died."""
    fut = first_done(futures)
    try:
        return fut, fut.result()
    except Exception as e:  # the worker process itself died (killed, out of memory)
        return fut, Outcome(error=f"worker process died ({type(e).__name__}: {e})")


def pool(jobs: list[Job], trainer: Trainer, workers: int, threads: int, quiet: bool, report: Report,
         slots: list[str] | None = None, batch_runs: int = 1) -> list[Outcome]:
    key = (workers, threads)
    kept = _kept is not None and not slots  # GPU pools pin each process to a device at its start: never kept
    if kept and key not in _kept:
        _kept[key] = _new_pool(workers, threads)
    executor = _kept[key] if kept else _new_pool(len(slots) if slots else max(1, min(workers, len(jobs))), threads,
                                                  slots)

    def submit(unit: list[Job]):
        nonlocal executor
        try:
            return executor.submit(run_group, unit, trainer, quiet)
        except BrokenProcessPool:  # a kept pool's worker died in an earlier call (its runs failed then): renew it
            if not kept:
                raise
            executor = _kept[key] = _new_pool(workers, threads)
            return executor.submit(run_group, unit, trainer, quiet)

    try:
        return schedule(jobs, submit, wait_result, report, quiet, trainer, batch_runs, longest_first=True)
    except (KeyboardInterrupt, SystemExit):  # Ctrl-C, or a SIGTERM handler's exit: stop now, not after the queue
        _stop(executor)
        if kept:
            del _kept[key]
        raise
    finally:
        if not kept:
            executor.shutdown(wait=True)


def stream_pool(more, trainer: Trainer, workers: int, threads: int, report: Report, quiet: bool = True,
                limit: int = 0) -> int:
    """`jobs.stream` on a pool of `workers` processes of `threads` torch threads each (recorded as train.threads):
    every worker stays busy while `more()` has jobs, with no barrier between rounds of a walk. A SIGTERM or Ctrl-C
    stops the runs in flight at once (they resume from their checkpoints)."""
    executor = _new_pool(workers, threads)
    try:
        return stream(more, lambda job: executor.submit(run_one, with_threads(job, threads), trainer, quiet),
                      wait_result, workers, report, limit)
    except (KeyboardInterrupt, SystemExit):
        _stop(executor)
        raise
    finally:
        executor.shutdown(wait=True)
